using System.Buffers;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Server to client: feeds every message to the link's <see cref="ProtocolTracker"/>, drops the
/// answers to the pooler's own requests, and reads FATAL errors and parameter changes as they
/// pass. In transaction and statement modes it asks to stop after a read that ended with the
/// server settled (a ReadyForQuery with nothing else owed), so the server loop can try to give
/// the connection back; in statement mode it stops before a ReadyForQuery that reports an open
/// transaction block. With prepared statements kept across connections, its CommandCompletes and
/// errors tell the link's <see cref="Prepared.StatementRewriter"/> what the server dropped or refused.
/// </summary>
/// <param name="serverParameters">Where the server's parameter changes are kept: by default those of the connection the link holds.</param>
internal sealed class ServerToClientInspector(ClientLink state, IDictionary<string, string>? serverParameters,
    Configuration.PoolMode mode = Configuration.PoolMode.Session, IDictionary<string, string>? clientParameters = null) : IFrameInspector
{
    private bool _stopRequested;
    private bool _replacing;
    private ReadOnlyMemory<byte> _injection;

    /// <summary>Statement mode: the server reported a transaction block, which that mode does not allow.</summary>
    public bool RefusedTransactionBlock { get; private set; }

    public FrameDecision OnHeader(byte code, int length)
    {
        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery:
            case BackendMessageCode.ParameterStatus:
            case BackendMessageCode.ErrorResponse:
            case BackendMessageCode.CommandComplete when state.Statements is not null:
                return FrameDecision.Inspect;
            default:
                _stopRequested = false; // something after the ReadyForQuery: the server is not settled after all
                var fate = state.Tracker.OnServerMessage(code);
                if (code == (byte)BackendMessageCode.ParseComplete)
                {
                    state.Statements?.OnParseComplete(state);
                }

                _replacing = fate == AnswerFate.Replace; // seen whole (it is small), then left out for the replacement
                return fate switch { AnswerFate.Drop => FrameDecision.Drop, AnswerFate.Replace => FrameDecision.Inspect, _ => FrameDecision.Pass };
        }
    }

    public FrameDecision OnFrame(byte code, ReadOnlySequence<byte> payload)
    {
        if (_replacing)
        {
            _replacing = false;
            return Replace();
        }

        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery:
                if (payload.Length != 1 || payload.FirstSpan[0] is not (TransactionStatus.Idle or TransactionStatus.InBlock or TransactionStatus.Failed))
                {
                    throw new MalformedMessageException(code, $"a ReadyForQuery carries one status byte (I, T or E), this one {payload.Length} bytes");
                }

                var status = payload.FirstSpan[0];
                var owned = state.Tracker.OnReadyForQuery(status);
                return DecideAtReadyForQuery(status, owned);
            case BackendMessageCode.ParameterStatus:
                if (ParameterStatusReader.Read(payload) is var (name, value))
                {
                    if ((serverParameters ?? state.Server?.Parameters) is { } parameters)
                    {
                        parameters[name] = value;
                    }

                    if (clientParameters is not null && TrackedParameters.IsTracked(name))
                    {
                        clientParameters[name] = value; // the client's own value from now on, re-applied on its next lease
                        state.ClientSettingChanged();
                    }
                }

                state.Tracker.OnServerMessage(code);
                return FrameDecision.Pass;
            case BackendMessageCode.CommandComplete:
                _stopRequested = false;
                var fate = state.Tracker.OnServerMessage(code);
                state.Statements!.OnCommandComplete(payload, state, clients: fate == AnswerFate.Pass);
                return Decide(fate);
            default: // ErrorResponse
                var error = PgError.Parse(payload);
                if (error.IsFatal && mode != Configuration.PoolMode.Session && state.Tracker.IsSettled)
                {
                    // The client's transaction is over: the connection is as good as back in the pool, where
                    // PgBouncer would see this (an idle server's error) and close it; the client never hears of it.
                    state.FatalAfterTransaction = error;
                    _stopRequested = true; // the reader gives the connection up now, to be closed
                    return FrameDecision.Drop;
                }

                if (error.IsFatal)
                {
                    state.ServerFatal = error; // the server closes next; nothing it owed will come
                    return FrameDecision.Pass;
                }

                _stopRequested = false;
                var errorFate = state.Tracker.OnServerMessage(code);
                if (state.Tracker.TakeErroredStatement() is { } statement)
                {
                    state.Statements?.OnStatementError(statement, error);
                }

                if (errorFate == AnswerFate.Replace && error.SqlState == SqlStates.InFailedSqlTransaction)
                {
                    // The pooler answers for the server only where the server would look the name up: inside an aborted
                    // transaction block PostgreSQL refuses every statement first, and so does the client's here.
                    state.Tracker.TakeReplacement();
                    return FrameDecision.Pass;
                }

                return Decide(errorFate);
        }
    }

    private FrameDecision Decide(AnswerFate fate) => fate switch
    {
        AnswerFate.Drop => FrameDecision.Drop,
        AnswerFate.Replace => Replace(),
        _ => FrameDecision.Pass,
    };

    public ReadOnlyMemory<byte> TakeInjection()
    {
        var injection = _injection;
        _injection = default;
        return injection;
    }

    /// <summary>The answer to a message the pooler sent in the client's stead: the client sees what it would have got for its own.</summary>
    private FrameDecision Replace()
    {
        _injection = state.Tracker.TakeReplacement();
        return FrameDecision.Drop;
    }

    public bool TakeStopRequest()
    {
        var requested = _stopRequested;
        _stopRequested = false;
        return requested;
    }

    private FrameDecision DecideAtReadyForQuery(byte status, bool owned)
    {
        var decision = owned ? FrameDecision.Drop : FrameDecision.Pass;
        if (mode == Configuration.PoolMode.Session)
        {
            return decision;
        }

        if (status != TransactionStatus.Idle && mode == Configuration.PoolMode.Statement && !owned)
        {
            RefusedTransactionBlock = true;
            return FrameDecision.Stop;
        }

        // The lease may end once this read is out; the server loop checks under the gate.
        _stopRequested = state.Tracker.IsSettled;
        return decision;
    }
}
