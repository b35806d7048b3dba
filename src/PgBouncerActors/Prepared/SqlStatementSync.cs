using PgBouncerActors.Backend;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Prepared;

/// <summary>
/// Statements a client makes with SQL (<c>PREPARE p AS ...</c>) live on the server under the
/// client's own name: whatever the client then writes with that name (<c>EXECUTE p(1)</c>,
/// <c>EXPLAIN EXECUTE p(1)</c>, <c>CREATE TABLE t AS EXECUTE p</c>, psql's <c>\gdesc</c> of
/// <c>EXECUTE p</c>) goes to the server as written and gets PostgreSQL's own answer, errors, error
/// positions and <c>pg_prepared_statements</c> included. Renaming in the client's text could never
/// cover all of that.
/// <para>
/// So a server connection is brought in line with the client before its transaction: the
/// client's PREPARE statements it lacks are sent again (as the client wrote them), and statements
/// another client left under names this client has not prepared, or prepared differently, are
/// deallocated. Nothing is sent when the connection already holds exactly the client's (both have
/// none, the common case; or the client's last transaction ran here). A statement the server
/// refuses to prepare again (its table was dropped) is left out, and the client's
/// <c>EXECUTE</c> of it gets that error, as it would on a direct connection.
/// </para>
/// </summary>
internal static class SqlStatementSync
{
    /// <summary>Brings <paramref name="server"/>'s statements made with SQL in line with <paramref name="client"/>'s (a round trip, only when they differ).</summary>
    /// <exception cref="IOException">The connection broke.</exception>
    public static async ValueTask BringInLineAsync(ClientStatements client, ServerStatements statements, ServerConnection server,
        CancellationToken cancellationToken)
    {
        var plan = Plan(client, statements);
        var errors = plan.Queries.Count == 0 ? []
            : await server.RunEachSilentlyAsync(plan.Queries, "the client's prepared statements", cancellationToken).ConfigureAwait(false);
        plan.Done(errors);
    }

    /// <summary>What to send: DEALLOCATE of what the connection holds that the client has not (or has otherwise), then the client's PREPAREs it lacks.</summary>
    public static SyncPlan Plan(ClientStatements client, ServerStatements statements)
    {
        var version = client.SqlVersion;
        var wanted = client.SqlStatements();
        var held = statements.SqlStatements();
        var queries = new List<string>();
        var deallocated = new List<string>();
        foreach (var (name, definition) in held)
        {
            if (!wanted.TryGetValue(name, out var mine) || !mine.Equals(definition))
            {
                deallocated.Add(name);
                queries.Add($"DEALLOCATE {QuotedName(name)}");
            }
        }

        var prepared = new List<(string Name, StatementDefinition Definition)>();
        foreach (var (name, definition) in wanted)
        {
            if (!held.TryGetValue(name, out var there) || !there.Equals(definition))
            {
                prepared.Add((name, definition));
                queries.Add(definition.SqlText);
            }
        }

        return new SyncPlan(queries, errors => statements.SqlBroughtInLine(client, version, deallocated,
            prepared.Select((statement, i) => (statement.Name, statement.Definition, errors[deallocated.Count + i]))));
    }

    /// <summary>A name as SQL writes it exactly (names read from SQL are already folded as PostgreSQL folds them).</summary>
    public static string QuotedName(string name) => $"\"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
}

/// <summary>The queries that bring a connection in line, each sent on its own; <see cref="Done"/> is told each one's error (null: it ran).</summary>
internal sealed record SyncPlan(IReadOnlyList<string> Queries, Action<PgError?[]> Done);
