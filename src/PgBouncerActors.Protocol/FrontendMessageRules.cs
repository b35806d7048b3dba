namespace PgBouncerActors.Protocol;

/// <summary>
/// Which messages PostgreSQL accepts from a logged-in client, and how long each may be. A pooler
/// must check these before forwarding: what PostgreSQL rejects it rejects when it reads it, and
/// by then the connection may serve another client, who would receive the FATAL.
/// </summary>
public static class FrontendMessageRules
{
    /// <summary>PostgreSQL's PQ_SMALL_MESSAGE_LIMIT: Sync, Flush, Terminate, Close, Describe, Execute and the ends of a COPY.</summary>
    public const int SmallMessageLimit = 10000;

    /// <summary>PostgreSQL's PQ_LARGE_MESSAGE_LIMIT (MaxAllocSize - 1): Query, Parse, Bind, FunctionCall, CopyData.</summary>
    public const int LargeMessageLimit = 0x3FFFFFFE;

    /// <summary>Why PostgreSQL would not read this message as it stands (its length field counts itself), or null when it would.</summary>
    /// <param name="refuseSimpleQuery">disable_pqexec: a Query message is refused too, as PgBouncer refuses it.</param>
    public static string? Refusal(byte code, int length, bool refuseSimpleQuery = false)
    {
        if (refuseSimpleQuery && code == (byte)FrontendMessageCode.Query)
        {
            return "PQexec disallowed";
        }

        int limit;
        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Query or FrontendMessageCode.Parse or FrontendMessageCode.Bind or FrontendMessageCode.FunctionCall
                or FrontendMessageCode.CopyData:
                limit = LargeMessageLimit;
                break;
            case FrontendMessageCode.Sync or FrontendMessageCode.Flush:
                // With data in it, a Flush is an error that makes the server skip to the next Sync: never pass one on.
                return length == 4 ? null : $"invalid message format: a '{(char)code}' message carries no data, this one declares {length - 4} bytes";
            case FrontendMessageCode.Terminate or FrontendMessageCode.Close or FrontendMessageCode.Describe or FrontendMessageCode.Execute
                or FrontendMessageCode.CopyDone or FrontendMessageCode.CopyFail:
                limit = SmallMessageLimit;
                break;
            default:
                return $"invalid frontend message type {code}";
        }

        return length <= limit ? null : $"invalid message length: message '{(char)code}' declares {length} bytes, PostgreSQL accepts at most {limit}";
    }
}
