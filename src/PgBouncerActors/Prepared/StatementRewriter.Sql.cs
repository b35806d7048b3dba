using System.Buffers;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Prepared;

/// <summary>
/// The SQL side: a simple query that is one PREPARE, EXECUTE or DEALLOCATE statement
/// (<see cref="SqlPreparedCommand"/>) works as on a direct connection. The pooler's statements go
/// in the same query string before the client's, their CommandCompletes hidden
/// (<see cref="QueryRewrite"/>): PostgreSQL stops a query string at its first error, so a
/// statement that cannot be prepared again gives the client that error and nothing else.
/// These statements inside a longer query string pass unchanged; EXECUTE or DEALLOCATE of a name
/// the client does not have is refused as PostgreSQL would, without the server seeing the name.
/// </summary>
internal sealed partial class StatementRewriter
{
    /// <summary>Separates the pooler's statements from the client's text, which may end in a line comment.</summary>
    private const string Then = "\n;\n";

    /// <summary>Quoted, as every server name in SQL: unquoted, PostgreSQL would fold it to lower case.</summary>
    private const string SqlNoSuchName = $"\"{NoSuchName}\"";

    /// <summary>A simple query, seen whole (short ones only: these statements are short).</summary>
    public bool RewriteQuery(ReadOnlySequence<byte> payload, ClientLink link)
    {
        if (SqlPreparedCommand.Recognize(payload) is not { } command)
        {
            return false;
        }

        switch (command.Verb)
        {
            case SqlPreparedVerb.ForgetAll:
                // It goes to the server as it is, and empties the server connection of every statement, the pooler's included.
                Client.Clear();
                link.Server!.Statements?.Clear();
                return false;
            case SqlPreparedVerb.Deallocate:
                if (!Client.Remove(command.Name))
                {
                    RefuseInQuery(Unknown(command.Name), link);
                    return true;
                }

                // The server's copy stays for others; the client gets DEALLOCATE's own answer, from a statement made for it.
                SendQuery($"PREPARE {SqlNoSuchName} AS SELECT{Then}DEALLOCATE {SqlNoSuchName}", new QueryRewrite(1, null, preparedByHidden: false), link);
                return true;
            case SqlPreparedVerb.Prepare:
                return RewritePrepare(command, link);
            default:
                return RewriteExecute(command, link);
        }
    }

    private bool RewritePrepare(SqlPreparedCommand command, ClientLink link)
    {
        var definition = StatementDefinition.FromSql(command.Rest);
        definition.DefinedAt = invalidation.Step;
        if (!Client.TryDefine(command.Name, definition))
        {
            RefuseInQuery(Duplicate(command.Name), link);
            return true;
        }

        var statements = StatementsOf(link);
        if (statements.Use(definition, forNewStatement: true) is not null)
        {
            // Already on this connection: PREPARE's answer comes from a statement made and dropped at once.
            Out.Clear();
            Out.Query($"PREPARE {SqlNoSuchName} AS SELECT");
            link.Tracker.ClientSentRewritten(new QueryRewrite(0, new ClientParse(Client, command.Name, definition, null), preparedByHidden: false));
            Out.Query($"DEALLOCATE {SqlNoSuchName}");
            link.Tracker.PoolerSent((byte)FrontendMessageCode.Query);
            return true;
        }

        var statement = statements.Add(definition);
        var (deallocate, hidden) = Deallocation(statements);
        SendQuery($"{deallocate}PREPARE {statement.SqlName}{command.Rest}",
            new QueryRewrite(hidden, new ClientParse(Client, command.Name, definition, statement), preparedByHidden: false), link);
        return true;
    }

    private bool RewriteExecute(SqlPreparedCommand command, ClientLink link)
    {
        if (!Client.TryGet(command.Name, out var definition) || !definition.IsSql)
        {
            RefuseInQuery(Unknown(command.Name), link); // never prepared with SQL by this client: no other client's statement runs
            return true;
        }

        var statements = StatementsOf(link);
        if (statements.Use(definition, forNewStatement: false) is { } prepared)
        {
            SendQuery($"EXECUTE {prepared.SqlName}{command.Rest}", null, link);
            return true;
        }

        var statement = statements.Add(definition);
        var (deallocate, hidden) = Deallocation(statements);
        SendQuery($"{deallocate}PREPARE {statement.SqlName}{definition.SqlText}{Then}EXECUTE {statement.SqlName}{command.Rest}",
            new QueryRewrite(hidden + 1, statement, preparedByHidden: true), link);
        return true;
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


    /// <summary>The statements that make room on a full connection or are stale, to put first in the query string, and how many completions they add.</summary>
    private static (string Text, int Completions) Deallocation(ServerStatements statements)
    {
        var text = "";
        var completions = 0;
        while (statements.TakeRetired(out var retired))
        {
            text += $"DEALLOCATE {retired.SqlName}{Then}";
            completions++;
        }

        return (text, completions);
    }

    private void SendQuery(string sql, QueryRewrite? rewrite, ClientLink link)
    {
        Out.Clear();
        Out.Query(sql);
        if (rewrite is null)
        {
            link.Tracker.ClientSent((byte)FrontendMessageCode.Query);
        }
        else
        {
            link.Tracker.ClientSentRewritten(rewrite);
        }
    }
}
