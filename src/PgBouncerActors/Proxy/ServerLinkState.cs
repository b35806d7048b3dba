using System.Buffers;
using System.Text;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// What the pooler knows about a server connection's protocol state while a client uses it: the
/// requests that still owe a ReadyForQuery, the last transaction status, COPY, an extended-protocol
/// batch not yet closed by Sync. It decides whether the connection may go to another client
/// (ARCHITECTURE invariant 3). Both proxy directions update it, one writer per field.
/// </summary>
internal sealed class ServerLinkState
{
    private int _pendingReadyForQuery;
    private volatile bool _inCopy;
    private volatile bool _unsyncedExtended;
    private volatile byte _transactionStatus = TransactionStatus.Idle;

    public ForwardPosition ToServer { get; } = new();

    public ForwardPosition ToClient { get; } = new();

    public byte TransactionStatusByte => _transactionStatus;

    public int PendingReadyForQuery => Volatile.Read(ref _pendingReadyForQuery);

    /// <summary>A FATAL error the server sent and the client already received.</summary>
    public PgError? ServerFatal { get; set; }

    /// <summary>Clean: nothing owed, idle, not copying, no half batch, no half frame in either direction.</summary>
    public bool IsClean =>
        PendingReadyForQuery == 0 && _transactionStatus == TransactionStatus.Idle && !_inCopy && !_unsyncedExtended &&
        ToServer.AtFrameBoundary && ToClient.AtFrameBoundary && ServerFatal is null;

    public string DescribeState() =>
        IsClean ? "idle" :
        _inCopy ? "in COPY" :
        PendingReadyForQuery > 0 ? $"{PendingReadyForQuery} request(s) awaiting results" :
        _transactionStatus != TransactionStatus.Idle ? "inside a transaction" :
        _unsyncedExtended ? "extended-protocol batch without Sync" : "mid-message";

    public void RequestSent() => Interlocked.Increment(ref _pendingReadyForQuery);

    public void ExtendedMessageSent() => _unsyncedExtended = true;

    public void SyncSent()
    {
        _unsyncedExtended = false;
        RequestSent();
    }

    public void CopyStarted() => _inCopy = true;

    public void ReadyForQueryReceived(byte status)
    {
        _transactionStatus = status;
        _inCopy = false;
        Interlocked.Decrement(ref _pendingReadyForQuery);
    }
}

/// <summary>Client to server: counts the requests that will each be answered by one ReadyForQuery; stops at Terminate.</summary>
internal sealed class ClientToServerInspector(ServerLinkState state) : IFrameInspector
{
    public FrameDecision OnHeader(byte code, int length)
    {
        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Terminate:
                return FrameDecision.Stop; // the session ends; the server connection stays open for reuse
            case FrontendMessageCode.Query:
            case FrontendMessageCode.FunctionCall:
                state.RequestSent();
                break;
            case FrontendMessageCode.Sync:
                state.SyncSent();
                break;
            case FrontendMessageCode.Parse:
            case FrontendMessageCode.Bind:
            case FrontendMessageCode.Describe:
            case FrontendMessageCode.Execute:
            case FrontendMessageCode.Close:
                state.ExtendedMessageSent();
                break;
        }

        return FrameDecision.Pass;
    }

    public void OnFrame(byte code, ReadOnlySequence<byte> payload)
    {
    }
}

/// <summary>Server to client: reads ReadyForQuery, COPY starts, FATAL errors and parameter changes as they pass.</summary>
internal sealed class ServerToClientInspector(ServerLinkState state, IDictionary<string, string> serverParameters) : IFrameInspector
{
    public FrameDecision OnHeader(byte code, int length)
    {
        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery:
            case BackendMessageCode.ParameterStatus:
            case BackendMessageCode.ErrorResponse:
                return FrameDecision.Inspect;
            case BackendMessageCode.CopyInResponse:
            case BackendMessageCode.CopyOutResponse:
            case BackendMessageCode.CopyBothResponse:
                state.CopyStarted();
                break;
        }

        return FrameDecision.Pass;
    }

    public void OnFrame(byte code, ReadOnlySequence<byte> payload)
    {
        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery:
                state.ReadyForQueryReceived(payload.FirstSpan[0]);
                break;
            case BackendMessageCode.ParameterStatus:
                ParameterStatusReader.Apply(payload, serverParameters);
                break;
            case BackendMessageCode.ErrorResponse:
                var error = PgError.Parse(payload);
                if (error.IsFatal)
                {
                    state.ServerFatal = error;
                }

                break;
        }
    }
}

internal static class ParameterStatusReader
{
    /// <summary>Records a ParameterStatus (name, value as C strings) in the connection's parameter set.</summary>
    public static void Apply(ReadOnlySequence<byte> payload, IDictionary<string, string> parameters)
    {
        var span = payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray();
        var nameEnd = span.IndexOf((byte)0);
        if (nameEnd <= 0)
        {
            return;
        }

        var rest = span[(nameEnd + 1)..];
        var valueEnd = rest.IndexOf((byte)0);
        parameters[Encoding.UTF8.GetString(span[..nameEnd])] = Encoding.UTF8.GetString(valueEnd < 0 ? rest : rest[..valueEnd]);
    }
}
