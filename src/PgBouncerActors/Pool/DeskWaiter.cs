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
/// <para>
/// A client loop's wait may also be woken while it stays queued (<see cref="LendingDesk.TellQueued"/>,
/// query_wait_notify): its await ends with null, the client is told, and
/// <see cref="LendingDesk.ContinueWaiting"/> arms it again. An answer decided while it is not armed
/// is kept for that call instead of delivered. So query_wait_notify costs a wait no timer of its own.
/// </para>
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

    /// <summary>This wait may be woken to tell its client it is queued (a client loop's, not a login's nor the pooler's own).</summary>
    internal bool TellsWhenQueued;

    /// <summary>This wait was woken to tell its client so (once per wait).</summary>
    internal bool Told;

    /// <summary>Someone awaits this wait's completion: false between a wake to tell the client and <see cref="Rearm"/>.</summary>
    private bool _armed;

    private ServerConnection? _granted;
    private Exception? _failure;

    /// <summary>Starts a wait (before it is queued).</summary>
    internal ValueTask<ServerConnection> Begin(bool tellsWhenQueued = false)
    {
        _core.Reset();
        _granted = null;
        _failure = null;
        _armed = true;
        TellsWhenQueued = tellsWhenQueued;
        Told = false;
        return new ValueTask<ServerConnection>(this, _core.Version);
    }

    /// <summary>The answer, decided under the desk's lock.</summary>
    /// <returns>Whether to <see cref="Deliver"/> it (outside the lock); false: it waits for <see cref="LendingDesk.ContinueWaiting"/>.</returns>
    internal bool Answer(ServerConnection? granted, Exception? failure)
    {
        State = WaiterState.Answered;
        _granted = granted;
        _failure = failure;
        var deliver = _armed;
        _armed = false;
        return deliver;
    }

    /// <summary>Queued and armed, told nothing yet in this wait: it is to be woken with null (under the desk's lock).</summary>
    internal bool TryMarkToTell()
    {
        if (State != WaiterState.Queued || !TellsWhenQueued || Told || !_armed)
        {
            return false;
        }

        Told = true;
        _armed = false;
        return true;
    }

    /// <summary>Wakes the wait marked by <see cref="TryMarkToTell"/>, outside the lock: its await ends with null.</summary>
    internal void WakeToTell() => _core.SetResult(null!);

    /// <summary>The client was told: the same wait goes on (under the desk's lock), or ends at once with the answer kept meanwhile.</summary>
    internal ValueTask<ServerConnection> Rearm()
    {
        if (State == WaiterState.Answered)
        {
            return _failure is { } failure ? ValueTask.FromException<ServerConnection>(failure) : new ValueTask<ServerConnection>(_granted!);
        }

        _core.Reset();
        _armed = true;
        return new ValueTask<ServerConnection>(this, _core.Version);
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
