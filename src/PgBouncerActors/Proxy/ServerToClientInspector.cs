using System.Buffers;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Server to client: reads ReadyForQuery, COPY starts, FATAL errors and parameter changes as they
/// pass. In transaction and statement modes it stops right after a ReadyForQuery that may end the
/// lease, so the server loop can try to give the connection back; in statement mode it stops
/// before a ReadyForQuery that reports an open transaction block.
/// </summary>
internal sealed class ServerToClientInspector(ServerLinkState state, IDictionary<string, string> serverParameters,
    Configuration.PoolMode mode = Configuration.PoolMode.Session, IDictionary<string, string>? clientParameters = null) : IFrameInspector
{
    /// <summary>Statement mode: the server reported a transaction block, which that mode does not allow.</summary>
    public bool RefusedTransactionBlock { get; private set; }

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

    public FrameDecision OnFrame(byte code, ReadOnlySequence<byte> payload)
    {
        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery:
                var status = payload.FirstSpan[0];
                state.ReadyForQueryReceived(status);
                return DecideAtReadyForQuery(status);
            case BackendMessageCode.ParameterStatus:
                if (ParameterStatusReader.Read(payload) is var (name, value))
                {
                    serverParameters[name] = value;
                    if (clientParameters is not null && TrackedParameters.IsTracked(name))
                    {
                        clientParameters[name] = value; // the client's own value from now on, re-applied on its next lease
                    }
                }

                break;
            case BackendMessageCode.ErrorResponse:
                var error = PgError.Parse(payload);
                if (error.IsFatal)
                {
                    state.ServerFatal = error;
                }

                break;
        }

        return FrameDecision.Pass;
    }

    private FrameDecision DecideAtReadyForQuery(byte status)
    {
        if (mode == Configuration.PoolMode.Session || state.PendingReadyForQuery > 0)
        {
            return FrameDecision.Pass;
        }

        if (status == TransactionStatus.Idle)
        {
            return FrameDecision.StopAfter; // the lease may end here; the server loop checks under the gate
        }

        if (mode == Configuration.PoolMode.Statement)
        {
            RefusedTransactionBlock = true;
            return FrameDecision.Stop;
        }

        return FrameDecision.Pass;
    }
}
