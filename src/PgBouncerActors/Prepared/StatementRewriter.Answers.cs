using System.Buffers;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Prepared;

/// <summary>
/// The server's side: what its answers say about the statements it holds. They are the final
/// word, however the client's request came (a simple Query, a Parse/Bind/Execute, inside a longer
/// query string): a CommandComplete of <c>DEALLOCATE ALL</c> or <c>DISCARD ALL</c> means the
/// connection holds no statement any more, and the client none of its own; one of a DDL (ALTER,
/// DROP, DISCARD PLANS) may have changed what any statement reads; an error that says a statement
/// is out of date retires it on every connection (see <see cref="StatementInvalidation"/>).
/// Called by the reader of the server connection the client holds.
/// </summary>
internal sealed partial class StatementRewriter
{
    private SqlEffects? _unnamedEffects; // what an Execute of the unnamed statement the server holds does (reader side)

    /// <summary>A ParseComplete from the server: an unnamed Parse replaced the unnamed statement, and with it what executing it does.</summary>
    public void OnParseComplete(ClientLink link)
    {
        switch (link.Tracker.AnsweredTag)
        {
            case null:
                _unnamedEffects = null; // unnamed (a named Parse always carries its statement)
                break;
            case SqlEffects effects:
                _unnamedEffects = effects;
                break;
        }
    }

    /// <summary>A CommandComplete from the server; <paramref name="clients"/>: it answers the client's own statement.</summary>
    public void OnCommandComplete(ReadOnlySequence<byte> payload, ClientLink link, bool clients)
    {
        var first = payload.FirstSpan;
        if (first.IsEmpty || first[0] is not ((byte)'A' or (byte)'D' or (byte)'P'))
        {
            return; // the hot path: SELECT, INSERT, UPDATE, COMMIT...
        }

        var tag = payload.IsSingleSegment ? first : payload.ToArray();
        var end = tag.IndexOf((byte)0);
        tag = end < 0 ? tag : tag[..end];
        if (tag.SequenceEqual("PREPARE"u8) && clients)
        {
            OnSqlCompletion(SqlPreparedVerb.Prepare, link);
        }
        else if (tag.SequenceEqual("DEALLOCATE"u8) && clients)
        {
            OnSqlCompletion(SqlPreparedVerb.Deallocate, link);
        }
        else if (tag.SequenceEqual("DEALLOCATE ALL"u8) || tag.SequenceEqual("DISCARD ALL"u8))
        {
            link.Server?.Statements?.Clear(); // the server dropped the pooler's statements with the client's
            if (clients)
            {
                OnSqlCompletion(SqlPreparedVerb.ForgetAll, link); // keeps the query's other statements matched to their answers
                Client.Clear();
            }
        }
        else if (tag.StartsWith("ALTER "u8) || tag.StartsWith("DROP "u8) || tag.SequenceEqual("DISCARD PLANS"u8))
        {
            invalidation.InvalidateAll();
        }
    }

    /// <summary>An error answered a Bind or Describe that named <paramref name="statement"/>: if it says the statement is out of date, no Parse gets it again.</summary>
    public void OnStatementError(ServerStatement statement, PgError error)
    {
        if (SaysOutOfDate(error))
        {
            invalidation.Invalidate(statement.Definition);
        }
    }

    /// <summary>
    /// PostgreSQL's ways of refusing a prepared statement that what it reads has changed under:
    /// "cached plan must not change result type" (a column's type or name changed), a parameter
    /// or column type that no longer matches, a type that is gone.
    /// </summary>
    private static bool SaysOutOfDate(PgError error) =>
        error.SqlState is SqlStates.FeatureNotSupported or SqlStates.DatatypeMismatch ||
        (error.SqlState == SqlStates.InternalError && error.Message.StartsWith("cache lookup failed", StringComparison.Ordinal));
}
