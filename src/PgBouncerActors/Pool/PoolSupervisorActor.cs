using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>
/// One (database, user) pool. Owns its BackendConnection children, lends idle ones, queues
/// waiting sessions first come first served, retires connections past their idle timeout or
/// lifetime, and keeps min_pool_size open. A child that fails is stopped and replaced; when
/// logins fail, the pool backs off exponentially (its memory of failures lives here, not in the
/// children) and hands the server's error to the clients it cannot serve instead of letting them
/// hang. Watches every session it lends to: a session that dies holding a connection gets that
/// connection closed, never lent on (invariant 5).
/// </summary>
internal sealed partial class PoolSupervisorActor : ReceiveActor, IWithTimers
{
    /// <summary>Keyed timers that deliver to this actor; set by Akka once the instance is made (so used from PreStart on), cancelled when it stops.</summary>
    public ITimerScheduler Timers { get; set; } = null!;
    private static readonly TimeSpan JanitorInterval = TimeSpan.FromSeconds(1);
    private readonly PoolerServices _services;
    private PoolDefinition _definition; // its sizes change on RELOAD and SET
    private readonly PoolBudget _budget;
    private readonly ConnectBackoff _backoff;
    private readonly PoolDemand _demand;
    private readonly Dictionary<IActorRef, BackendSlot> _backends = [];
    private readonly List<IActorRef> _idle = []; // most recently used last: reuse warm connections first
    private readonly LinkedList<Waiter> _waiters = [];
    private readonly Dictionary<IActorRef, IActorRef> _leases = []; // session -> backend
    private int _nextBackendId;
    private int _connecting;
    private long _loginErrors; // every failed server login, for the dashboard and /metrics
    private PgError? _removed; // the database left the configuration on a reload: every lease is refused with this

    // The admin console's commands (see PoolSupervisorActor.Admin.cs).
    private bool _paused;
    private DateTime? _reconnectBefore; // connections opened before this close once free (RECONNECT, or a reload that moved or removed the database)
    private string _reconnectReason = "RECONNECT asked for new server connections"; // what their close says in the log
    private readonly List<IActorRef> _pauseReplies = [];
    private readonly List<IActorRef> _waitCloseReplies = [];

    /// <param name="paused">The pool is made while its database is paused (PAUSE on the console): it lends nothing until RESUME.</param>
    public PoolSupervisorActor(PoolerServices services, PoolDefinition definition, PoolBudget budget, PoolDemand demand,
        bool paused = false)
    {
        _paused = paused;
        _services = services;
        _demand = demand;
        _definition = definition;
        _budget = budget;
        _backoff = new ConnectBackoff(services.Settings.ServerBackoff, Random.Shared.NextDouble);
        Receive<LeaseRequest>(OnLeaseRequest);
        Receive<LeaseReturned>(OnLeaseReturned);
        Receive<LeaseWithdrawn>(_ => Withdraw(Sender));
        Receive<BackendIdle>(OnBackendIdle);
        Receive<BackendConnectFailed>(OnConnectFailed);
        Receive<Terminated>(OnTerminated);
        Receive<JanitorTick>(_ => RunJanitor());
        Receive<Cluster.BudgetGrew>(_ => ProvideForWaiters());
        Receive<RetryLogin>(_ => ProvideForWaiters());
        Receive<DescribePools>(_ => Sender.Tell(Describe(), Self));
        Receive<CommandPools>(OnCommand);
        Receive<SettingsChanged>(changed => OnSettingsChanged(changed.Settings));
    }

    public static Props Props(PoolerServices services, PoolDefinition definition, PoolBudget budget, PoolDemand demand,
        bool paused = false) =>
        ActorProps.Of(() => new PoolSupervisorActor(services, definition, budget, demand, paused));

    /// <summary>A failing server connection is stopped, never restarted in place: the pool opens a fresh one.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("janitor", JanitorTick.Instance, JanitorInterval);
        ProvideForWaiters();
    }

    private TimeSpan Now => _services.Monotonic();

    /// <summary>
    /// The pool's size, plus reserve_pool_size while its oldest waiter has waited reserve_pool_timeout
    /// (the janitor looks every second, so the reserve opens within a second of that).
    /// </summary>
    private int SizeNow()
    {
        var settings = _services.Settings;
        return settings.ReservePoolSize > 0 && _waiters.First is { } oldest && DateTime.UtcNow - oldest.Value.Since >= settings.ReservePoolTimeout
            ? _definition.PoolSize + settings.ReservePoolSize
            : _definition.PoolSize;
    }

    private void OnLeaseRequest(LeaseRequest request)
    {
        var session = Sender;
        Context.Watch(session);
        var waiter = new Waiter(session, DateTime.UtcNow);
        if (request.Retry)
        {
            _waiters.AddFirst(waiter); // its connection died between grant and use: it keeps its turn
        }
        else
        {
            _waiters.AddLast(waiter);
        }

        ProvideForWaiters();
    }

    /// <summary>
    /// Lends idle connections to the first waiters, then opens connections for the rest as far as
    /// the pool size, the database's budget and the backoff allow; while the server is down and no
    /// attempt may be made, a pool with no connection at all gives its waiters the server's error now.
    /// </summary>
    private void ProvideForWaiters()
    {
        if (_removed is { } removed)
        {
            FailAllWaiters(removed);
            return;
        }

        if (_paused)
        {
            PublishWaiting(); // sessions give their connections back at the end of each transaction
            AnswerCommandsDone();
            return;
        }

        ServeWaiters();
        if (!_backoff.MayConnect(Now))
        {
            if (_backoff.IsFailing)
            {
                FailWaitersIfNothingCanServe(_backoff.LastError!);
            }

            PublishWaiting();
            return;
        }

        // While logins fail, one attempt at a time probes the server.
        var wanted = Math.Max(_waiters.Count, Math.Min(_definition.MinPoolSize, _definition.PoolSize) - _backends.Count + _connecting);
        var size = SizeNow();
        while (_connecting < wanted && _backends.Count < size && !(_backoff.IsFailing && _connecting > 0) && _budget.TryTake())
        {
            if (_backends.Count >= _definition.PoolSize)
            {
                _services.Log.Information("taking connection from reserve_pool: pool={Pool} waited={Waited:0.0}s", _definition.Key,
                    (DateTime.UtcNow - _waiters.First!.Value.Since).TotalSeconds);
            }

            OpenConnection();
        }

        PublishWaiting();
        if (_waiters.Count > _connecting)
        {
            AskParkedSessionsBack();
        }
    }

    /// <summary>Tells the sessions how many wait, so that none parks a connection while someone waits (see <see cref="PoolDemand"/>).</summary>
    /// <remarks>
    /// While paused, or while connections opened before a RECONNECT are still out, at least one
    /// counts as waiting: no session keeps its connection parked between transactions, so each comes back.
    /// </remarks>
    private void PublishWaiting() => _demand.PublishWaiting(_paused || _reconnectBefore is not null || _removed is not null
        ? Math.Max(1, _waiters.Count) : _waiters.Count);

    /// <summary>Sessions keeping a connection between transactions give it back; one in a transaction releases at its end anyway.</summary>
    private void AskParkedSessionsBack()
    {
        foreach (var session in _demand.DrainParked())
        {
            session.Tell(ReleaseIfParked.Instance, Self);
        }
    }

    private void OnBackendIdle(BackendIdle idle)
    {
        if (!_backends.TryGetValue(idle.Backend, out var slot))
        {
            return;
        }

        if (slot.State == SlotState.Connecting)
        {
            _connecting--;
            if (_backoff.IsFailing)
            {
                _services.Log.Information("server login works again: pool={Pool} server={Server} after {Failures} failed attempt(s)",
                    _definition.Key, _definition.Endpoint, _backoff.Failures);
                _backoff.Succeeded();
            }
        }

        slot.Connection = idle.Connection;
        if (_paused || MustReconnect(slot))
        {
            Retire(idle.Backend, slot, _paused ? "the pool is paused (PAUSE)" : _reconnectReason);
            return;
        }

        slot.State = SlotState.Idle;
        slot.IdleSince = DateTime.UtcNow;
        _idle.Add(idle.Backend);
        ProvideForWaiters();
    }

    private void ServeWaiters()
    {
        while (_waiters.First is not null && _idle.Count > 0)
        {
            // Warm connections first (LIFO), unless server_round_robin spreads the load over all of them (FIFO).
            var index = _services.Settings.ServerRoundRobin ? 0 : _idle.Count - 1;
            var backend = _idle[index];
            _idle.RemoveAt(index);
            LendToFirstWaiter(backend, _backends[backend], check: true);
        }
    }

    /// <param name="check">It comes from the idle list: checked first if it idled longer than server_check_delay.</param>
    private void LendToFirstWaiter(IActorRef backend, BackendSlot slot, bool check)
    {
        var session = _waiters.First!.Value.Session;
        _waiters.RemoveFirst();
        slot.State = SlotState.Lent;
        slot.Session = session;
        slot.UsedAt = DateTime.UtcNow;
        _leases[session] = backend;
        var needsCheck = check && slot.UsedAt - slot.IdleSince >= _services.Settings.ServerCheckDelay;
        session.Tell(new LeaseGranted(backend, slot.Connection!, needsCheck), Self);
    }

    private void OnLeaseReturned(LeaseReturned returned)
    {
        var session = Sender;
        if (_leases.Remove(session))
        {
            Context.Unwatch(session);
        }

        if (!_backends.TryGetValue(returned.Backend, out var slot) || slot.State != SlotState.Lent)
        {
            return; // already gone (its idle watch or the server saw it die)
        }

        slot.Session = null;
        if (returned.Clean && (_paused || _removed is not null || MustReconnect(slot) || _backends.Count > SizeNow() || _budget.OverCap))
        {
            Retire(returned.Backend, slot, _paused ? "the pool is paused (PAUSE)"
                : _removed is not null ? "the database was removed from the configuration"
                : MustReconnect(slot) ? _reconnectReason
                : _backends.Count > SizeNow() ? "over pool_size (a reserve_pool connection, or pool_size was lowered)"
                : "max_db_connections/max_user_connections: another instance of the cluster waits, this one gives back its share");
            AnswerCommandsDone();
        }
        else if (returned.Clean && !PastLifetime(slot) && _definition.Mode != PoolMode.Session && _waiters.First is not null)
        {
            // Pooled modes run no reset query: a clean connection goes straight to the next waiter,
            // without the round trip through its backend and an idle watch started only to be stopped.
            LendToFirstWaiter(returned.Backend, slot, check: false);
            PublishWaiting();
        }
        else if (returned.Clean && !PastLifetime(slot))
        {
            slot.State = SlotState.Resetting;
            returned.Backend.Tell(_definition.Mode == PoolMode.Session ? ResetBackend.WithQuery : ResetBackend.WithoutQuery, Self);
        }
        else
        {
            Retire(returned.Backend, slot, returned.Clean ? "server_lifetime reached" : returned.Reason, returned.CancelFirst);
        }
    }

    private void OnConnectFailed(BackendConnectFailed failed)
    {
        if (_backends.TryGetValue(failed.Backend, out var slot) && slot.State == SlotState.Connecting)
        {
            slot.State = SlotState.Closing; // it stops itself; Terminated removes it
            _connecting--;
        }

        _loginErrors++;
        var delay = _backoff.Failed(failed.Error, Now, slot?.Wave ?? _backoff.Wave);
        if (ConnectBackoff.IsOutage(failed.Error))
        {
            _services.Log.Warning("server login failed: pool={Pool} server={Server} error={Error}; next attempt in {Delay:0}ms (failure {Failures})",
                _definition.Key, _definition.Endpoint, failed.Error, delay.TotalMilliseconds, _backoff.Failures);
        }
        else
        {
            _services.Log.Warning("server login refused: pool={Pool} server={Server} error={Error}; not an outage, the next client tries again",
                _definition.Key, _definition.Endpoint, failed.Error);
        }

        Timers.StartSingleTimer("retry-login", RetryLogin.Instance, delay);
        FailWaitersIfNothingCanServe(failed.Error);
    }

    /// <summary>
    /// As PgBouncer's fast fail: with no server connection open or opening, nobody will serve the
    /// waiters before the next attempt, so they get the server's error now. While some connection
    /// is lent or logging in, they keep their turn (query_wait_timeout still bounds the wait).
    /// </summary>
    private void FailWaitersIfNothingCanServe(PgError error)
    {
        if (_backends.Values.Any(slot => slot.State != SlotState.Closing))
        {
            return;
        }

        FailAllWaiters(error);
    }

    private void FailAllWaiters(PgError error)
    {
        while (_waiters.First is { } first)
        {
            _waiters.RemoveFirst();
            Context.Unwatch(first.Value.Session);
            first.Value.Session.Tell(new LeaseFailed(error), Self);
        }

        PublishWaiting();
    }

    private void OnTerminated(Terminated terminated)
    {
        var actor = terminated.ActorRef;
        if (_backends.Remove(actor, out var slot))
        {
            _budget.Give();
            _idle.Remove(actor);
            if (slot.State == SlotState.Connecting)
            {
                _connecting--; // stopped before it could report (pool shutting down)
            }

            if (slot.Session is { } session)
            {
                _leases.Remove(session);
            }

            ProvideForWaiters();
            AnswerCommandsDone();
            return;
        }

        // A session died: a connection it held cannot be proven clean, so it is closed (after a cancel: it may be busy).
        if (_leases.Remove(actor, out var backend) && _backends.TryGetValue(backend, out var lent))
        {
            Retire(backend, lent, "its client session stopped while holding it", cancelFirst: true);
        }

        Withdraw(actor);
    }

    private void Withdraw(IActorRef session)
    {
        for (var node = _waiters.First; node is not null; node = node.Next)
        {
            if (node.Value.Session.Equals(session))
            {
                _waiters.Remove(node);
                break;
            }
        }

        PublishWaiting();
    }

    private void RunJanitor()
    {
        var now = DateTime.UtcNow;
        var settings = _services.Settings;
        foreach (var backend in _idle.ToArray())
        {
            var slot = _backends[backend];
            var idleTooLong = settings.ServerIdleTimeout > TimeSpan.Zero && now - slot.IdleSince > settings.ServerIdleTimeout
                && _backends.Count > _definition.MinPoolSize;
            if (idleTooLong || PastLifetime(slot))
            {
                _idle.Remove(backend);
                Retire(backend, slot, idleTooLong ? "server_idle_timeout reached" : "server_lifetime reached");
            }
        }

        // Another pool of this database (or user) waits for room under max_db_connections (max_user_connections): give up one idle connection
        // (and have parked ones come back, so that there is one to give up next time).
        if (_budget.Starved && _waiters.Count == 0)
        {
            AskParkedSessionsBack();
        }

        if (_budget.Starved && _waiters.Count == 0 && _idle.Count > 0)
        {
            var backend = _idle[0];
            _idle.RemoveAt(0);
            Retire(backend, _backends[backend], "max_db_connections/max_user_connections: room for another pool");
        }

        if (settings.QueryWaitTimeout > TimeSpan.Zero)
        {
            while (_waiters.First is { } first && now - first.Value.Since > settings.QueryWaitTimeout)
            {
                _waiters.RemoveFirst();
                Context.Unwatch(first.Value.Session);
                first.Value.Session.Tell(new LeaseFailed(PgError.FatalError(SqlStates.QueryCanceled,
                    $"query_wait_timeout: no server connection of pool {_definition.Key} became free within {settings.QueryWaitTimeout.TotalSeconds:0.#}s")), Self);
            }
        }

        ProvideForWaiters();
    }

    private bool PastLifetime(BackendSlot slot) =>
        _services.Settings.ServerLifetime > TimeSpan.Zero && DateTime.UtcNow - slot.Created > _services.Settings.ServerLifetime;

    private void Retire(IActorRef backend, BackendSlot slot, string reason, bool cancelFirst = false)
    {
        slot.State = SlotState.Closing;
        backend.Tell(new CloseBackend(reason, cancelFirst), Self);
    }

    private void OpenConnection()
    {
        var backend = Context.ActorOf(BackendConnectionActor.Props(_services, _definition), $"backend-{++_nextBackendId}");
        Context.Watch(backend);
        _backends[backend] = new BackendSlot(_services.Statistics.NextServerId(), DateTime.UtcNow, _backoff.Wave);
        _connecting++;
    }

    private enum SlotState
    {
        Connecting,
        Idle,
        Lent,
        Resetting,
        Closing,
    }

    /// <param name="wave">The backoff wave its login attempt belongs to (<see cref="ConnectBackoff.Wave"/>).</param>
    private sealed class BackendSlot(long id, DateTime created, int wave)
    {
        public long Id { get; } = id;
        public DateTime Created { get; } = created;
        public int Wave { get; } = wave;
        public SlotState State { get; set; } = SlotState.Connecting;
        public ServerConnection? Connection { get; set; }
        public IActorRef? Session { get; set; }
        public DateTime IdleSince { get; set; } = created;
        /// <summary>When it was last lent or given back (SHOW SERVERS request_time).</summary>
        public DateTime UsedAt { get; set; } = created;
    }

    private sealed record Waiter(IActorRef Session, DateTime Since);

    private sealed record JanitorTick
    {
        public static readonly JanitorTick Instance = new();
    }

    private sealed record RetryLogin
    {
        public static readonly RetryLogin Instance = new();
    }
}
