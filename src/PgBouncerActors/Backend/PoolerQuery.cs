using System.Buffers;
using System.Threading.Tasks.Sources;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Backend;

/// <summary>
/// One request of the pooler's own on a server connection (server_check_query, the SET that brings
/// it in line with a client, server_reset_query, auth_query). Its owner sends it when the server
/// owes nothing else; the connection's reader, the only one that reads the socket, hands each
/// answer here until the ReadyForQuery, and the owner's wait ends with the outcome. Reused for each
/// request of the connection (a reusable value-task source).
/// </summary>
internal sealed class PoolerQuery : IValueTaskSource<PgError?>
{
    // Where the request stands; moved with Interlocked, so that the reader (an answer, the close it
    // read) and the owner (a send that failed) never both end it.
    private const int Idle = 0;
    private const int Waiting = 1; // sent, its answer not complete
    private const int Decided = 2; // its outcome is known; the wait has ended or is about to

    private ManualResetValueTaskSourceCore<PgError?> _core;
    private int _phase;
    private Action<byte[]>? _onRow;
    private PgError? _error;
    private string _what = "";
    private PgError?[]? _each; // several queries sent at once: each one's error, by its place
    private int _answered; // how many of them ended (a ReadyForQuery each)
    private bool _decidedByReader; // the reader delivers it once it has let go of its buffer
    private PgError? _outcome;
    private Exception? _failure;

    /// <summary>A request is out and its answer not complete: the reader brings what it reads here.</summary>
    public bool Active => Volatile.Read(ref _phase) == Waiting;

    /// <summary>Starts a request (before it is sent, so no answer can come first).</summary>
    /// <param name="each">Several queries go at once, one ReadyForQuery each: their errors by place (the outcome is the first).</param>
    public ValueTask<PgError?> Begin(string what, Action<byte[]>? onRow, PgError?[]? each = null)
    {
        _core.Reset();
        _onRow = onRow;
        _error = null;
        _each = each;
        _answered = 0;
        _what = what;
        _decidedByReader = false;
        Volatile.Write(ref _phase, Waiting);
        return new ValueTask<PgError?>(this, _core.Version);
    }

    /// <summary>
    /// The reader's side: takes the answers in <paramref name="buffer"/> up to the request's
    /// ReadyForQuery. Rows go to the owner's callback, ParameterStatus into <paramref name="parameters"/>,
    /// an error is the outcome; a FATAL, a COPY or a close fail the request (the connection is done).
    /// </summary>
    /// <returns>Where the answer's messages end in the buffer (what follows is not this request's).</returns>
    /// <remarks>The outcome is delivered by <see cref="DeliverAnswer"/>, once the reader has advanced past what it read.</remarks>
    public SequencePosition Consume(ReadOnlySequence<byte> buffer, bool completed, long maxFrameLength, IDictionary<string, string> parameters)
    {
        try
        {
            while (Active && FrameReader.TryReadMessage(ref buffer, maxFrameLength, out var frame))
            {
                switch ((BackendMessageCode)frame.Code)
                {
                    case BackendMessageCode.DataRow:
                        _onRow?.Invoke(frame.Payload.ToArray());
                        break;
                    case BackendMessageCode.ErrorResponse:
                        var error = PgError.Parse(frame.Payload);
                        if (error.IsFatal)
                        {
                            throw new IOException($"the server ended the connection: {error}");
                        }

                        _error ??= error;
                        if (_each is not null)
                        {
                            _each[_answered] ??= error;
                        }

                        break;
                    case BackendMessageCode.ParameterStatus:
                        Proxy.ParameterStatusReader.Apply(frame.Payload, parameters);
                        break;
                    case BackendMessageCode.CopyInResponse or BackendMessageCode.CopyOutResponse or BackendMessageCode.CopyBothResponse:
                        throw new IOException($"{_what} started COPY");
                    case BackendMessageCode.ReadyForQuery when _each is not null && ++_answered < _each.Length:
                        if (frame.Payload.FirstSpan is not [TransactionStatus.Idle])
                        {
                            _error ??= PgError.Error(SqlStates.InternalError, $"{_what} left the server connection inside a transaction");
                        }

                        break;
                    case BackendMessageCode.ReadyForQuery:
                        DecideByReader(_error ?? (frame.Payload.FirstSpan is [TransactionStatus.Idle] ? null
                            : PgError.Error(SqlStates.InternalError, $"{_what} left the server connection inside a transaction")), null);
                        break;
                }
            }

            if (Active && completed)
            {
                throw new IOException("the server closed the connection");
            }
        }
        catch (Exception e) when (e is IOException or FramingException)
        {
            DecideByReader(null, e);
        }

        return buffer.Start;
    }

    /// <summary>The reader's side, after it advanced its buffer: the owner's wait ends with what <see cref="Consume"/> found.</summary>
    public void DeliverAnswer()
    {
        if (!_decidedByReader)
        {
            return;
        }

        _decidedByReader = false;
        Deliver(_outcome, _failure);
    }

    /// <summary>The request cannot be answered (the connection broke): the owner's wait ends with <paramref name="failure"/>.</summary>
    public void Fail(Exception failure)
    {
        if (Interlocked.CompareExchange(ref _phase, Decided, Waiting) == Waiting)
        {
            _onRow = null;
            Deliver(null, failure);
        }
    }

    private void DecideByReader(PgError? outcome, Exception? failure)
    {
        if (Interlocked.CompareExchange(ref _phase, Decided, Waiting) == Waiting)
        {
            _onRow = null;
            (_outcome, _failure, _decidedByReader) = (outcome, failure, true);
        }
    }

    /// <summary>
    /// The owner goes on on this thread (the reader's, mostly, as a connection handed over at the
    /// desk does): the client's request follows its SET at once instead of after a trip through a
    /// busy thread pool.
    /// </summary>
    private void Deliver(PgError? outcome, Exception? failure)
    {
        if (failure is not null)
        {
            _core.SetException(failure);
        }
        else
        {
            _core.SetResult(outcome);
        }
    }

    public PgError? GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
