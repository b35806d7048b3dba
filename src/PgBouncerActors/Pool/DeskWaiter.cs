using System.Threading.Tasks.Sources;
using PgBouncerActors.Backend;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>Where a <see cref="DeskWaiter"/> stands; changed under its desk's lock only.</summary>
internal enum WaiterState : byte
{
    /// <summary>Not waiting (between waits, or its last wait was answered).</summary>
    Idle,

    /// <summary>In the desk's queue.</summary>
    Queued,

    /// <summary>Out of the queue with its answer decided (a connection, or an error); the answer is delivered outside the lock.</summary>
    Answered,
}

/// <summary>The desk could not lend a connection: the error the client sees (query_wait_timeout, a removed database, the server's own).</summary>
internal sealed class LendingRefusedException(PgError error) : Exception(error.Message)
{
    public PgError Error { get; } = error;
}

/// <summary>
/// One party's place in a desk's queue, used again for each of its waits: a reusable
/// <see cref="IValueTaskSource{TResult}"/>, so a wait allocates nothing. A waiter is always either
/// queued or answered (ARCHITECTURE invariant 8): the desk moves it from one to the other under its
/// lock, and only then, outside the lock, completes the wait.
/// </summary>
internal sealed class DeskWaiter : DeskListNode<DeskWaiter>, IValueTaskSource<ServerConnection>
{
    private ManualResetValueTaskSourceCore<ServerConnection> _core;

    /// <param name="lessee">The link whose server loop forwards the answers of a connection granted to it; null for the pooler's own use (auth_query).</param>
    public DeskWaiter(Proxy.ClientLink? lessee = null) => Lessee = lessee;

    public Proxy.ClientLink? Lessee { get; }

    // The desk's bookkeeping, under its lock.
    internal WaiterState State;

    /// <summary>When it joined the queue (the desk's monotonic clock).</summary>
    internal TimeSpan Since;

    private ServerConnection? _granted;
    private Exception? _failure;

    /// <summary>Starts a wait (before it is queued).</summary>
    internal ValueTask<ServerConnection> Begin()
    {
        _core.Reset();
        _granted = null;
        _failure = null;
        return new ValueTask<ServerConnection>(this, _core.Version);
    }

    /// <summary>The answer, decided under the desk's lock.</summary>
    internal void Answer(ServerConnection? granted, Exception? failure)
    {
        State = WaiterState.Answered;
        _granted = granted;
        _failure = failure;
    }

    /// <summary>
    /// Delivers the answer decided by <see cref="Answer"/>, outside the desk's lock, on the thread
    /// that decided it (the reader that just gave a connection back, mostly): the waiting client's
    /// request goes out at once instead of after a trip through a busy thread pool, which under load
    /// took seconds while the connection sat lent and unused (or the client, answered, sat unserved).
    /// Its client loop runs only until its next wait for bytes, then this thread goes on.
    /// </summary>
    internal void Deliver()
    {
        if (_failure is { } failure)
        {
            _core.SetException(failure);
        }
        else
        {
            _core.SetResult(_granted!);
        }
    }

    public ServerConnection GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
