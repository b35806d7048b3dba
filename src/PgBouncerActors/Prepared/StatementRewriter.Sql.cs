using System.Buffers;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Prepared;

/// <summary>
/// The SQL side: PREPARE, EXECUTE and DEALLOCATE go to the server as the client wrote them, under
/// the client's names (<see cref="SqlStatementSync"/> keeps the server connection holding exactly the
/// client's statements); their answers tell what ran (<see cref="SqlEffects"/>). A query that is
/// one such statement is answered by the pooler only where the server cannot know the answer: a
/// name the client never prepared (refused as PostgreSQL refuses it, without the server seeing the
/// name, so no client reaches a statement of the pooler's by its name), a name taken by one of the
/// client's protocol-level statements, and DEALLOCATE of such a statement.
/// </summary>
internal sealed partial class StatementRewriter
{
    /// <summary>Quoted, as every server name in SQL: unquoted, PostgreSQL would fold it to lower case.</summary>
    private const string SqlNoSuchName = $"\"{NoSuchName}\"";

    /// <summary>A simple query, seen whole (short ones only: these statements are short).</summary>
    /// <param name="effects">When the query goes on as it is (false): what it does to the client's statements made with SQL, should it run.</param>
    public bool RewriteQuery(ReadOnlySequence<byte> payload, ClientLink link, out SqlEffects? effects)
    {
        effects = null;
        NoticeRoleChange(payload);
        if (SqlPreparedCommand.Recognize(payload, out var whole) is not { } commands)
        {
            return false;
        }

        if (whole && Answered(commands[0], link))
        {
            return true;
        }

        effects = SqlEffects.Of(commands);
        return false;
    }

    /// <summary>
    /// A role change the client sends (a simple query, or an unnamed Parse): statements prepared before it
    /// may resolve their names for another role, so a Parse from now on gets a copy of its own
    /// (<see cref="RoleChange"/>). Noticed as it is sent: should it fail, a statement is prepared once more, no harm.
    /// </summary>
    private void NoticeRoleChange(ReadOnlySequence<byte> queryText)
    {
        if (RoleChange.In(queryText))
        {
            invalidation.InvalidateAll();
        }
    }

    /// <summary>A query that is one statement about prepared statements, answered here when the server cannot answer it as PostgreSQL would.</summary>
    private bool Answered(SqlPreparedCommand command, ClientLink link)
    {
        var known = Client.TryGet(command.Name, out var definition);
        switch (command.Verb)
        {
            case SqlPreparedVerb.Prepare when known:
                RefuseInQuery(Duplicate(command.Name), link);
                return true;
            case SqlPreparedVerb.Execute or SqlPreparedVerb.Deallocate when !known:
                RefuseInQuery(Unknown(command.Name), link);
                return true;
            case SqlPreparedVerb.Execute when !definition.IsSql:
                // Made with Parse, so it has another name on the server: EXECUTE of it is not carried over.
                RefuseInQuery(Unknown(command.Name), link);
                return true;
            case SqlPreparedVerb.Execute when link.Server!.Statements?.SqlNotPrepared(command.Name) is { } refused:
                RefuseInQuery(refused, link); // what its EXECUTE says on a direct connection once its table is gone
                return true;
            case SqlPreparedVerb.Deallocate when !definition.IsSql || link.Server!.Statements?.SqlNotPrepared(command.Name) is not null:
                // Made with Parse (or with SQL, and the server refused to prepare it again here): the name is freed at once,
                // the server's copy (if any) stays, and the client gets DEALLOCATE's own answer from a statement made for it.
                if (definition.IsSql)
                {
                    StatementsOf(link).SqlChanged(Client, command.Name, definition: null);
                }

                Client.Remove(command.Name);
                Out.Clear();
                Out.Query($"PREPARE {SqlNoSuchName} AS SELECT\n;\nDEALLOCATE {SqlNoSuchName}");
                link.Tracker.ClientSentRewritten(new QueryRewrite(hidden: 1));
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// A statement that fails on the server as the client's would (a transaction block is aborted
    /// the same way), whose error the client sees in PostgreSQL's words for its own statement.
    /// </summary>
    private void RefuseInQuery(PgError error, ClientLink link)
    {
        Out.Clear();
        Out.Query($"DEALLOCATE {SqlNoSuchName}");
        link.Tracker.PoolerSentForAnswer((byte)FrontendMessageCode.Query, new MessageBuilder().Error(error).ToArray());
    }

    /// <summary>Whether the server connection holds exactly the client's statements made with SQL (the hot path: neither has any).</summary>
    public bool SqlInLine(Backend.ServerConnection server) =>
        server.Statements is { } statements ? statements.SqlInLineWith(Client) : Client.SqlCount == 0;

    /// <summary>Before the client's transaction: the server connection holds exactly the client's statements made with SQL.</summary>
    public ValueTask BringInLineAsync(Backend.ServerConnection server, CancellationToken cancellationToken)
    {
        if (SqlInLine(server))
        {
            return ValueTask.CompletedTask;
        }

        return SqlStatementSync.BringInLineAsync(Client, server.Statements ??= new ServerStatements(maxPerServer, invalidation), server, cancellationToken);
    }

    /// <summary>The server answered PREPARE or DEALLOCATE to the client's query or to an Execute of its unnamed statement: the client's statements made with SQL change with the server connection's.</summary>
    private void OnSqlCompletion(SqlPreparedVerb verb, ClientLink link)
    {
        var command = link.Tracker.AnsweredCode == (byte)FrontendMessageCode.Query
            ? (link.Tracker.AnsweredTag as SqlEffects)?.Next(verb)
            : _unnamedEffects?.Only(verb);
        if (command is not { } ran || verb == SqlPreparedVerb.ForgetAll)
        {
            return;
        }

        StatementsOf(link).SqlChanged(Client, ran.Name, verb == SqlPreparedVerb.Prepare ? StatementDefinition.FromSql(ran.Text) : null);
    }
}
