using PgBouncerActors.Backend;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>Who owns a server connection now (ARCHITECTURE invariant 9).</summary>
internal enum ConnectionOwner : byte
{
    /// <summary>Its pool: opening, resetting, being examined or closing.</summary>
    Pool,

    /// <summary>Idle at its pool's desk.</summary>
    Desk,

    /// <summary>Lent: to a client's link (its <see cref="ServerConnection.Lessee"/>), or to the pooler's own use.</summary>
    Lent,
}

/// <summary>What a pool's desk counts, read together (SHOW POOLS, the supervisor's decisions, specs).</summary>
internal readonly record struct DeskCounts(int Idle, int Waiting, int Live, int Opening, TimeSpan OldestWait, bool Paused);

/// <summary>
/// A pool's lending desk: its idle server connections and the parties waiting for one, first come
/// first served, behind one lock. The client and server loops call it directly, so a transaction's
/// checkout and check-in cost a short critical section, not a message to the pool:
/// <list type="bullet">
/// <item>checkout returns at once with an idle connection (the one the client used last when it is
/// idle, warm ones before cold), or queues the waiter;</item>
/// <item>check-in hands the connection to the oldest waiter inside the same critical section, or
/// makes it idle, or, when the pool wants it closed (paused, RECONNECT, lifetime, over size), gives
/// it to the pool;</item>
/// <item>every way a wait can end (a connection, query_wait_timeout, the client leaving or
/// cancelling, a removed database, the server's error) answers or removes the waiter under the
/// same lock, so a waiter is always either queued or answered (invariant 8).</item>
/// </list>
/// The <see cref="PoolSupervisorActor"/> owns the desk: it opens connections when the desk signals
/// that waiters outnumber what is idle or opening, and closes what the desk hands back. The signal
/// is one message while the demand is unmet, not one per transaction.
/// </summary>
internal sealed class LendingDesk
{
    private readonly Lock _lock = new();
    private readonly Func<TimeSpan> _clock;
    private readonly IDeskOwner _owner;

    private DeskList<ServerConnection> _idle; // longest idle first: the most recently checked in is last
    private DeskList<DeskWaiter> _waiting; // first come, first served

    private int _live; // logged in and not on its way to close: idle, lent, or the pool's for a reset
    private int _opening;
    private bool _demandSignalled; // the supervisor knows of unmet demand; no new signal until it says it has done what it can
    private bool _paused;
    private PgError? _closed;
    private PgError? _failingFast;
    private bool _probeWanted; // a request was refused fast: the pool tries a login when the backoff allows (PgBouncer's check_fast_fail)
    private long _nextGeneration;
    private long _retireBelowGeneration;
    private string _retireReason = "";
    private DeskPolicy _policy;

    /// <param name="clock">A monotonic clock (the pool's, so specs move it in virtual time).</param>
    /// <param name="owner">The pool's supervisor: hears of unmet demand and takes the connections to close or reset (always outside the lock).</param>
    public LendingDesk(DeskPolicy policy, Func<TimeSpan> clock, IDeskOwner owner)
    {
        _policy = policy;
        _clock = clock;
        _owner = owner;
    }

    private volatile IReadOnlyDictionary<string, string>? _serverParameters;

    /// <summary>
    /// The parameters the pool's last new server connection reported at its login (after its
    /// connect_query), or null before the first: what a client of a pooled mode is welcomed with,
    /// as PgBouncer does, without borrowing a server connection for its login.
    /// </summary>
    public IReadOnlyDictionary<string, string>? ServerParameters => _serverParameters;

    /// <summary>The pool's current rules for what a check-in keeps (the supervisor changes them on reloads and while the reserve pool is open).</summary>
    public DeskPolicy Policy
    {
        get
        {
            lock (_lock)
            {
                return _policy;
            }
        }

        set
        {
            lock (_lock)
            {
                _policy = value;
            }
        }
    }

    /// <summary>How many connections the pool may hold now (pool_size, plus reserve_pool_size while the reserve is open).</summary>
    public int SizeNow
    {
        get
        {
            lock (_lock)
            {
                return SizeNowLocked();
            }
        }
    }

    public DeskCounts Counts
    {
        get
        {
            lock (_lock)
            {
                return new DeskCounts(_idle.Count, _waiting.Count, _live, _opening, _waiting.First is { } oldest ? _clock() - oldest.Since : TimeSpan.Zero,
                    _paused);
            }
        }
    }

    /// <summary>Who waits, oldest first, and what is idle, longest idle first: one consistent look (specs, and reports of a stuck client).</summary>
    internal (DeskWaiter[] Waiting, ServerConnection[] Idle) Snapshot()
    {
        lock (_lock)
        {
            return ([.. _waiting.Items()], [.. _idle.Items()]);
        }
    }

    // --- lending -------------------------------------------------------------------------------------

    /// <summary>
    /// A connection for <paramref name="waiter"/>: at once when one is idle (<paramref name="preferred"/>
    /// if it is, the warmest otherwise), else when one comes back or opens. Fails with
    /// <see cref="LendingRefusedException"/> (the database was removed, query_wait_timeout, the server is
    /// down) or <see cref="OperationCanceledException"/> (withdrawn).
    /// </summary>
    /// <param name="keepTurn">A retry after the connection granted turned out unusable: the waiter goes to the front, with its first wait's time.</param>
    /// <param name="tellWhenQueued">A client loop's wait: <see cref="TellQueued"/> may wake it with null to tell its client (query_wait_notify).</param>
    public ValueTask<ServerConnection> CheckoutAsync(DeskWaiter waiter, ServerConnection? preferred = null, bool keepTurn = false,
        bool tellWhenQueued = false)
    {
        bool signal;
        ValueTask<ServerConnection> wait;
        lock (_lock)
        {
            if (_closed is { } closed)
            {
                return ValueTask.FromException<ServerConnection>(new LendingRefusedException(closed));
            }

            if (!_paused && TakeIdle(preferred) is { } idle)
            {
                Lend(idle, waiter.Lessee);
                return new ValueTask<ServerConnection>(idle);
            }

            if (!_paused && !keepTurn && _failingFast is { } failing && _live == 0)
            {
                _probeWanted = true;
                signal = !_demandSignalled;
                _demandSignalled = true;
                wait = ValueTask.FromException<ServerConnection>(new LendingRefusedException(failing));
            }
            else
            {
                wait = waiter.Begin(tellWhenQueued);
                Enqueue(waiter, keepTurn);
                signal = WantsDemandSignal();
            }
        }

        if (signal)
        {
            _owner.DemandUnmet();
        }

        return wait;
    }

    /// <summary>
    /// A clean connection comes back from its lessee: to the oldest waiter, else idle; or to the
    /// pool to be closed when the pool wants fewer or other connections.
    /// </summary>
    public void CheckIn(ServerConnection connection)
    {
        DeskWaiter? served;
        string? retire;
        lock (_lock)
        {
            if (connection.Retired)
            {
                return; // the pool closes it already (KILL, shutdown): whatever its lessee thought of it
            }

            retire = RetireReason(connection);
            served = retire is null ? Place(connection) : null;
            if (retire is not null)
            {
                connection.Owner = ConnectionOwner.Pool; // given back by its lessee, to be closed
                connection.Lessee = null;
                MarkRetired(connection);
            }
        }

        Deliver(served);
        if (retire is not null)
        {
            Retired(connection, retire, cancelFirst: false);
        }
    }

    /// <summary>A connection that cannot be lent again (dirty, dead, failed its check): the pool closes it. Idempotent.</summary>
    /// <param name="cancelFirst">The server may still be working for its last client: a cancel goes before the close.</param>
    public void Retire(ServerConnection connection, string reason, bool cancelFirst = false)
    {
        lock (_lock)
        {
            if (connection.Retired)
            {
                return;
            }

            MarkRetired(connection);
        }

        Retired(connection, reason, cancelFirst);
    }

    /// <summary>A session-mode connection comes back clean: the pool runs server_reset_query on it, then checks it in.</summary>
    public void ReturnForReset(ServerConnection connection)
    {
        lock (_lock)
        {
            connection.Owner = ConnectionOwner.Pool;
            connection.Lessee = null;
        }

        _owner.Reset(connection);
        connection.ResumeReading();
    }

    /// <summary>
    /// Withdraws a queued waiter (its client left, or cancelled the request): its wait ends with
    /// <paramref name="failure"/>. False when it was not queued (answered already: then its answer,
    /// a connection perhaps, is on its way to the waiting party).
    /// </summary>
    public bool Withdraw(DeskWaiter waiter, Exception? failure = null)
    {
        lock (_lock)
        {
            if (waiter.State != WaiterState.Queued)
            {
                return false;
            }

            Dequeue(waiter);
            if (!waiter.Answer(null, failure ?? new OperationCanceledException("the wait for a server connection was withdrawn")))
            {
                return true; // woken to tell its client: ContinueWaiting finds the failure
            }
        }

        waiter.Deliver();
        return true;
    }

    /// <summary>
    /// query_wait_notify, from the supervisor's janitor: every client loop's wait queued at least
    /// <paramref name="queuedAtLeast"/> and not told yet is woken with null, keeping its place; its
    /// client loop tells the client and goes on with <see cref="ContinueWaiting"/>.
    /// </summary>
    public int TellQueued(TimeSpan queuedAtLeast)
    {
        List<DeskWaiter>? told = null;
        lock (_lock)
        {
            foreach (var waiter in _waiting.Items())
            {
                if (_clock() - waiter.Since >= queuedAtLeast && waiter.TryMarkToTell())
                {
                    (told ??= []).Add(waiter);
                }
            }
        }

        foreach (var waiter in told ?? [])
        {
            // On the thread pool: the client loop runs on from its wake (the notice, perhaps its request), not inside the supervisor's turn.
            ThreadPool.UnsafeQueueUserWorkItem(static waiter => waiter.WakeToTell(), waiter, preferLocal: false);
        }

        return told?.Count ?? 0;
    }

    /// <summary>A wait woken by <see cref="TellQueued"/> goes on in its place, or ends at once with the answer it got meanwhile.</summary>
    public ValueTask<ServerConnection> ContinueWaiting(DeskWaiter waiter)
    {
        lock (_lock)
        {
            return waiter.Rearm();
        }
    }

    // --- what the supervisor does --------------------------------------------------------------------

    /// <summary>The supervisor starts opening a connection.</summary>
    public void OpeningStarted()
    {
        lock (_lock)
        {
            _opening++;
        }
    }

    /// <summary>A login that was counted as opening failed, or its backend stopped first.</summary>
    public void OpeningEnded()
    {
        lock (_lock)
        {
            _opening--;
        }
    }

    /// <summary>A new connection logged in: the oldest waiter gets it, or it is idle.</summary>
    public void Opened(ServerConnection connection)
    {
        lock (_lock)
        {
            CountOpened(connection);
        }

        _serverParameters = connection.LoginParameters;
        CheckIn(connection);
    }

    /// <summary>
    /// A replication connection logged in for the client it was opened for: counted in the pool,
    /// lent to that client alone (never idle at the desk), closed when it comes back.
    /// </summary>
    public void OpenedForReplication(ServerConnection connection)
    {
        lock (_lock)
        {
            CountOpened(connection);
            Lend(connection, lessee: null); // its client's link names itself when it attaches
        }
    }

    private void CountOpened(ServerConnection connection)
    {
        _opening--;
        _live++;
        connection.Desk = this;
        connection.Generation = ++_nextGeneration;
        connection.OpenedAt = _clock();
    }

    /// <summary>A replication connection's client attaches it (see <see cref="OpenedForReplication"/>).</summary>
    public void LendForReplication(ServerConnection connection, Proxy.ClientLink lessee)
    {
        lock (_lock)
        {
            if (!connection.Retired)
            {
                Lend(connection, lessee);
            }
        }
    }

    /// <summary>
    /// What the supervisor can do for the waiters is done (connections are opening, or none may
    /// open now): a new signal comes only once the demand is unmet again. Answers how many wait
    /// beyond what is opening while the pool could still grow (the supervisor tries again later then).
    /// </summary>
    public DeskCounts DemandHandled()
    {
        lock (_lock)
        {
            _demandSignalled = DemandUnmet; // still unmet (a budget, the backoff): no new signal, the supervisor retries on its own
            return new DeskCounts(_idle.Count, _waiting.Count, _live, _opening, _waiting.First is { } oldest ? _clock() - oldest.Since : TimeSpan.Zero, _paused);
        }
    }

    /// <summary>PAUSE: nothing is lent until <see cref="Resume"/>; idle connections close now, lent ones as they come back.</summary>
    public void Pause(string reason)
    {
        lock (_lock)
        {
            _paused = true;
        }

        RetireIdle(_ => reason);
    }

    /// <summary>RESUME: lending goes on; the supervisor opens connections for those who waited.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            _paused = false;
        }
    }

    /// <summary>
    /// RECONNECT (or a moved database): every connection open now closes as soon as it is free:
    /// idle ones at once, lent ones when they come back.
    /// </summary>
    public void RetireOpenConnections(string reason)
    {
        lock (_lock)
        {
            _retireBelowGeneration = _nextGeneration + 1;
            _retireReason = reason;
        }

        RetireIdle(connection => connection.Generation < _retireBelowGeneration ? reason : null);
    }

    /// <summary>Whether the connection was open at the last RECONNECT (it closes once free).</summary>
    public bool MustReconnect(ServerConnection connection)
    {
        lock (_lock)
        {
            return connection.Generation < _retireBelowGeneration;
        }
    }

    /// <summary>Whether connections opened before the last RECONNECT are still alive (WAIT_CLOSE, SHOW SERVERS' close_needed).</summary>
    public bool ReconnectPending => Volatile.Read(ref _retireBelowGeneration) > 0;

    /// <summary>Every connection open at the last RECONNECT has closed.</summary>
    public void ReconnectDone()
    {
        lock (_lock)
        {
            _retireBelowGeneration = 0;
        }
    }

    /// <summary>
    /// The pool lends no more (a database removed by a reload, shutdown): every waiter and every
    /// later checkout gets <paramref name="error"/>; connections that come back close.
    /// </summary>
    public void Close(PgError error)
    {
        lock (_lock)
        {
            _closed = error;
        }

        EndWaits(_ => true, () => new LendingRefusedException(error));
    }

    /// <summary>
    /// PgBouncer's fast fail: while the server's logins fail (<paramref name="error"/>, the cached
    /// error) and the pool has no connection at all, a new request is refused at once instead of
    /// queueing behind a server that is down; requests already queued keep their turn (the pool
    /// tries again every server_login_retry, query_wait_timeout bounds them). Null: logins work again.
    /// </summary>
    public void FailFast(PgError? error)
    {
        lock (_lock)
        {
            _failingFast = error;
        }
    }

    /// <summary>Whether a request was refused fast since the last call: the pool then tries one login, when its backoff allows.</summary>
    public bool TakeProbeRequest()
    {
        lock (_lock)
        {
            var wanted = _probeWanted;
            _probeWanted = false;
            return wanted;
        }
    }

    /// <summary>The database is back in the configuration: lending goes on.</summary>
    public void Reopen()
    {
        lock (_lock)
        {
            _closed = null;
        }
    }

    /// <summary>Every waiter that has waited longer than <paramref name="longest"/> (all with TimeSpan.Zero) gets <paramref name="error"/>.</summary>
    public int FailWaiters(TimeSpan longest, PgError error) =>
        EndWaits(waiter => longest == TimeSpan.Zero || _clock() - waiter.Since > longest, () => new LendingRefusedException(error));

    /// <summary>
    /// Withdraws every waiter queued at least <paramref name="queuedAtLeast"/> whose client has left
    /// (<see cref="Proxy.ClientLink.LeftWhileQueued"/>): cl_waiting counts only clients still there, and
    /// a crowd that gave up (a driver's timeout, an application gone, a flood of hostile clients)
    /// holds up nobody behind it, each otherwise taking a turn, and a connection, for a request nobody
    /// waits for. Asked under the lock, so no wait ends (and no reader takes the socket) meanwhile;
    /// only waits of some length are looked at, so a busy pool's short waits cost nothing.
    /// </summary>
    public int WithdrawDeparted(TimeSpan queuedAtLeast) =>
        EndWaits(waiter => _clock() - waiter.Since >= queuedAtLeast && waiter.Lessee?.LeftWhileQueued() == true,
            () => new Proxy.ClientLeftWhileQueuedException());

    /// <summary>
    /// Idle connections the pool closes now (server_idle_timeout, server_lifetime, room for another
    /// pool, a smaller pool_size): taken out of the desk as one step, so none is lent meanwhile.
    /// </summary>
    /// <param name="why">Why a connection must close (given how long it has been idle), or null to keep it; asked longest idle first.</param>
    /// <param name="limit">At most this many.</param>
    public List<(ServerConnection Connection, string Reason)> TakeIdleToClose(Func<ServerConnection, TimeSpan, string?> why, int limit = int.MaxValue)
    {
        var taken = new List<(ServerConnection, string)>();
        lock (_lock)
        {
            var now = _clock();
            foreach (var connection in _idle.Items())
            {
                if (taken.Count == limit)
                {
                    break;
                }

                if (why(connection, now - connection.IdleSince) is { } reason)
                {
                    UnlinkIdle(connection);
                    MarkRetired(connection);
                    taken.Add((connection, reason));
                }
            }
        }

        return taken;
    }

    /// <summary>The reader of an idle connection saw it speak or close: it leaves the desk (false when it was lent meanwhile).</summary>
    public bool TryTakeIdleForExamination(ServerConnection connection)
    {
        lock (_lock)
        {
            if (connection.Owner != ConnectionOwner.Desk)
            {
                return false;
            }

            UnlinkIdle(connection);
            connection.Owner = ConnectionOwner.Pool;
            return true;
        }
    }

    /// <summary>An idle connection's reader found only harmless messages (a notice, a parameter change): back to the desk.</summary>
    public void ExaminedHarmless(ServerConnection connection) => CheckIn(connection);

    // --- inside the lock -----------------------------------------------------------------------------

    /// <summary>More wait than is opening for them, and the pool could still grow.</summary>
    private bool DemandUnmet => !_paused && _closed is null && _waiting.Count > _opening && _live + _opening < SizeNowLocked();

    /// <summary>How many connections the pool may hold now: pool_size, plus the reserve while the oldest waiter has waited reserve_pool_timeout.</summary>
    private int SizeNowLocked() =>
        _policy.ReserveSize > 0 && _waiting.First is { } oldest && _clock() - oldest.Since >= _policy.ReserveTimeout
            ? _policy.PoolSize + _policy.ReserveSize
            : _policy.PoolSize;

    /// <summary>Unmet demand the supervisor has not heard of yet: it is told once, not at every checkout that queues.</summary>
    private bool WantsDemandSignal()
    {
        if (_demandSignalled || !DemandUnmet)
        {
            return false;
        }

        _demandSignalled = true;
        return true;
    }

    /// <summary>Why a connection coming back must close instead of being lent again, or null.</summary>
    private string? RetireReason(ServerConnection connection)
    {
        if (connection.Replication is not null)
        {
            return "replication client disconnected"; // PgBouncer's words: it was its client's alone
        }

        if (_paused)
        {
            return "the pool is paused (PAUSE)";
        }

        if (_closed is not null)
        {
            return "the database was removed from the configuration";
        }

        if (connection.Generation < _retireBelowGeneration)
        {
            return _retireReason;
        }

        if (_live > SizeNowLocked())
        {
            return "over pool_size (a reserve_pool connection, or pool_size was lowered)";
        }

        // 0, as PgBouncer: a connection is used once, and one no client has used yet (fresh from its login) is kept for its use.
        if (_policy.Lifetime is { } lifetime && (lifetime > TimeSpan.Zero ? _clock() - connection.OpenedAt > lifetime : connection.Used))
        {
            return lifetime == TimeSpan.Zero ? "server_lifetime is 0: a server connection is used once" : "server_lifetime reached";
        }

        return _policy.OverCap?.Invoke() == true
            ? "max_db_connections/max_user_connections: another instance of the cluster waits, this one gives back its share"
            : null;
    }

    /// <summary>To the oldest waiter (returned, to be told outside the lock), else idle.</summary>
    private DeskWaiter? Place(ServerConnection connection)
    {
        if (_waiting.First is { } oldest)
        {
            Dequeue(oldest);
            connection.IdledFor = TimeSpan.Zero; // straight from one lessee to the next
            Lend(connection, oldest.Lessee);
            return oldest.Answer(connection, null) ? oldest : null; // not armed: ContinueWaiting takes it
        }

        connection.Owner = ConnectionOwner.Desk;
        connection.Lessee = null;
        connection.IdleSince = _clock();
        _idle.AddLast(connection);
        return null;
    }

    private ServerConnection? TakeIdle(ServerConnection? preferred)
    {
        if (_idle.Count == 0)
        {
            return null;
        }

        // server_round_robin spreads the load over every connection (oldest idle first); otherwise
        // the client's own last connection if it is idle, else the warmest (most recently used).
        var connection = _policy.RoundRobin ? _idle.First!
            : preferred is { Owner: ConnectionOwner.Desk } && preferred.Desk == this ? preferred
            : _idle.Last!;
        UnlinkIdle(connection);
        connection.IdledFor = _clock() - connection.IdleSince;
        return connection;
    }

    private static void Lend(ServerConnection connection, Proxy.ClientLink? lessee)
    {
        connection.Lessee = lessee;
        connection.Owner = ConnectionOwner.Lent;
    }

    private void UnlinkIdle(ServerConnection connection)
    {
        _idle.Remove(connection);
        connection.Owner = ConnectionOwner.Pool;
    }

    /// <summary>
    /// Counted out of the pool: it closes. An idle one leaves the desk; a lent one stays with its
    /// lessee, which learns of the close from its reader (KILL, shutdown).
    /// </summary>
    private void MarkRetired(ServerConnection connection)
    {
        if (connection.Owner == ConnectionOwner.Desk)
        {
            UnlinkIdle(connection);
        }

        if (!connection.Retired)
        {
            connection.Retired = true;
            _live--;
        }
    }

    private void Enqueue(DeskWaiter waiter, bool atFront)
    {
        waiter.State = WaiterState.Queued;
        if (atFront)
        {
            _waiting.AddFirst(waiter); // a retry keeps its first wait's time
        }
        else
        {
            waiter.Since = _clock();
            _waiting.AddLast(waiter);
        }
    }

    private void Dequeue(DeskWaiter waiter) => _waiting.Remove(waiter);

    // --- outside the lock ----------------------------------------------------------------------------

    private static void Deliver(DeskWaiter? served) => served?.Deliver();

    private void Retired(ServerConnection connection, string reason, bool cancelFirst)
    {
        _owner.Close(connection, reason, cancelFirst);
        connection.ResumeReading(); // a reader waiting for the session's decision goes on, to see the close
    }

    private int EndWaits(Func<DeskWaiter, bool> which, Func<Exception> failure)
    {
        List<DeskWaiter>? failed = null;
        var ended = 0;
        lock (_lock)
        {
            foreach (var waiter in _waiting.Items())
            {
                if (which(waiter))
                {
                    Dequeue(waiter);
                    ended++;
                    if (waiter.Answer(null, failure()))
                    {
                        (failed ??= []).Add(waiter);
                    }
                }
            }
        }

        foreach (var waiter in failed ?? [])
        {
            waiter.Deliver();
        }

        return ended;
    }

    private void RetireIdle(Func<ServerConnection, string?> why)
    {
        foreach (var (connection, reason) in TakeIdleToClose((connection, _) => why(connection)))
        {
            Retired(connection, reason, cancelFirst: false);
        }
    }
}

/// <summary>What a desk tells its pool's supervisor; called outside the desk's lock.</summary>
internal interface IDeskOwner
{
    /// <summary>More wait than is idle or opening, and the pool could grow: open connections (told once until <see cref="LendingDesk.DemandHandled"/>).</summary>
    void DemandUnmet();

    /// <summary>The connection leaves the desk for good: close it (<paramref name="cancelFirst"/>: it may still be busy, cancel first).</summary>
    void Close(ServerConnection connection, string reason, bool cancelFirst);

    /// <summary>A session-mode connection came back clean: run server_reset_query, then check it in.</summary>
    void Reset(ServerConnection connection);
}

/// <summary>
/// What a pool's desk needs to know to decide on a check-in: its pool_size, reserve_pool_size and
/// reserve_pool_timeout (the reserve is open while the oldest waiter has waited that long),
/// server_lifetime (none when null; 0, as PgBouncer's, closes every connection when it comes back),
/// server_round_robin, and whether the cluster asks this instance to hold fewer.
/// </summary>
internal sealed record DeskPolicy(int PoolSize, TimeSpan? Lifetime = null, bool RoundRobin = false, Func<bool>? OverCap = null,
    int ReserveSize = 0, TimeSpan ReserveTimeout = default);
