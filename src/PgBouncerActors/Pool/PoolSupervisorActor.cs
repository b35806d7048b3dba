using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>
/// One (database, user) pool. Its <see cref="LendingDesk"/> lends the connections (the client
/// and server loops call it directly); the supervisor does what an actor is good at around it:
/// it owns the BackendConnection children, opens connections when the desk signals more waiters
/// than idle or opening connections (within pool_size, reserve_pool_size, max_db_connections,
/// max_user_connections and the cluster's shares), closes what the desk hands back and what the
/// janitor retires (server_idle_timeout, server_lifetime, a lowered pool_size), keeps
/// min_pool_size open, and answers the console's commands and reloads. A child that fails is
/// stopped and replaced; when logins fail the pool backs off exponentially (its memory of failures
/// lives here, not in the children) and hands the server's error to the clients it cannot serve
/// instead of letting them hang. Every timing it keeps runs on the services' monotonic clock, so
/// specs drive the janitor, lifetimes and the reserve pool in virtual time.
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
    private readonly LendingDesk _desk;
    private readonly Dictionary<IActorRef, BackendSlot> _backends = [];
    private readonly List<ReplicationWanted> _replicationWanted = []; // oldest first
    private int _nextBackendId;
    private int _nextHost; // which host of a host list the next connection goes to (load_balance_hosts)
    private int _hostsFailedInARow; // outages of a host list's hosts since the last login that worked: under its length, the next host is tried at once
    private bool _currentHostProven; // load_balance_hosts = disable: the host in use has given a connection (until then, one login at a time tries it)
    private long _loginErrors; // every failed server login, for the dashboard and /metrics
    private bool _removed; // the database left the configuration on a reload: the desk lends nothing
    private string _serverTls; // the server_tls_* settings the pool's connections were made with (a reload may change them)

    // The admin console's commands (see PoolSupervisorActor.Admin.cs).
    private bool _paused;
    private readonly List<IActorRef> _pauseReplies = [];
    private readonly List<IActorRef> _waitCloseReplies = [];

    /// <param name="paused">The pool is made while its database is paused (PAUSE on the console): it lends nothing until RESUME.</param>
    public PoolSupervisorActor(PoolerServices services, PoolDefinition definition, PoolBudget budget, LendingDesk desk, bool paused = false)
    {
        _services = services;
        _definition = definition;
        _budget = budget;
        _desk = desk;
        _paused = paused;
        _serverTls = ServerTlsSignature(services.Settings);
        _backoff = new ConnectBackoff(() => services.Settings.ServerBackoff, Random.Shared.NextDouble);
        _desk.Policy = Policy();
        if (paused)
        {
            _desk.Pause("the pool is paused (PAUSE)");
        }

        Receive<DemandSignal>(_ => ProvideForWaiters());
        Receive<OpenReplication>(OnOpenReplication);
        Receive<CloseConnection>(close => Retire(close.Connection, close.Reason, close.CancelFirst));
        Receive<ResetConnection>(reset => reset.Connection.Backend?.Tell(ResetBackend.Instance, Self));
        Receive<BackendIdle>(OnBackendIdle);
        Receive<BackendConnectFailed>(OnConnectFailed);
        Receive<Terminated>(OnTerminated);
        Receive<JanitorTick>(_ => RunJanitor());
        Receive<Cluster.BudgetGrew>(_ => ProvideForWaiters());
        Receive<RetryLogin>(_ => ProvideForWaiters());
        Receive<RoomFreed>(_ => ProvideForWaiters());
        Receive<DescribePools>(_ => Sender.Tell(Describe(), Self));
        Receive<CommandPools>(OnCommand);
        Receive<SettingsChanged>(changed => OnSettingsChanged(changed.Settings));
    }

    public static Props Props(PoolerServices services, PoolDefinition definition, PoolBudget budget, LendingDesk desk, bool paused = false) =>
        ActorProps.Of(() => new PoolSupervisorActor(services, definition, budget, desk, paused));

    /// <summary>A desk whose signals reach the pool actor made for it (see <see cref="DeskSignals"/>).</summary>
    public static (LendingDesk Desk, DeskSignals Signals) NewDesk(PoolerServices services)
    {
        var signals = new DeskSignals();
        return (new LendingDesk(new DeskPolicy(0), services.Monotonic, signals), signals);
    }

    /// <summary>A failing server connection is stopped, never restarted in place: the pool opens a fresh one.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    protected override void PreStart()
    {
        var self = Self;
        var desk = _desk;
        _budget.HasWaiters = () => desk.Counts.Waiting > 0;
        _budget.RoomFreed = () => self.Tell(RoomFreed.Instance);
        Timers.StartPeriodicTimer("janitor", JanitorTick.Instance, JanitorInterval);
        ProvideForWaiters();
    }

    /// <summary>Its backends stop with it (each closes its connection); whoever still waits is told.</summary>
    protected override void PostStop()
    {
        var closing = PgError.FatalError(SqlStates.AdminShutdown, $"pool {_definition.Key} is closing (the pooler is shutting down)");
        _desk.Close(closing);
        RefuseReplication(_ => true, closing);
    }

    private TimeSpan Now => _services.Monotonic();

    /// <summary>The desk's rules as the settings and the pool's definition are now (the reserve opens within a janitor round of its timeout).</summary>
    private DeskPolicy Policy()
    {
        var settings = _services.Settings;
        var database = settings.FindDatabase(_definition.Key.Database);
        return new DeskPolicy(_definition.PoolSize, settings.ServerLifetimeFor(database), settings.ServerRoundRobin, () => _budget.OverCap,
            settings.ReservePoolSizeFor(database, _definition.Key.User), settings.ReservePoolTimeout);
    }

    /// <summary>
    /// Opens connections for the desk's waiters (and up to min_pool_size) as far as the pool size,
    /// the budgets and the backoff allow; while the server is down, its waiters wait for the next
    /// attempt (the desk refuses newcomers meanwhile, see <see cref="LendingDesk.FailFast"/>). Then
    /// tells the desk the demand was handled, so that it signals again only when it is unmet anew.
    /// </summary>
    private void ProvideForWaiters()
    {
        if (_paused || _removed)
        {
            if (_removed)
            {
                RefuseReplication(_ => true, PgError.FatalError(SqlStates.UnknownDatabase,
                    $"database \"{_definition.Key.Database}\" was removed from the configuration"));
            }

            _desk.DemandHandled();
            AnswerCommandsDone();
            return;
        }

        ProvideForReplication();
        var counts = _desk.Counts;
        var size = _desk.SizeNow;
        if (!_backoff.MayConnect(Now))
        {
            _desk.DemandHandled(); // the retry timer comes back for the waiters
            return;
        }

        var probe = _desk.TakeProbeRequest() ? 1 : 0; // a client was refused fast: one login tries whether the server is back
        var warm = _backoff.MayWarm(Now) ? Math.Min(_definition.MinPoolSize, _definition.PoolSize) - counts.Live : 0;
        var wanted = Math.Max(Math.Max(counts.Waiting, probe), warm);
        var (live, opening) = (counts.Live, counts.Opening);
        while (opening < wanted && live + opening < size && !(OneLoginAtATime && opening > 0) &&
               _budget.TryTake(forClient: opening < Math.Max(counts.Waiting, probe)))
        {
            if (live + opening >= _definition.PoolSize)
            {
                _services.Log.Information("taking connection from reserve_pool: pool={Pool} waited={Waited:0.0}s", _definition.Key,
                    counts.OldestWait.TotalSeconds);
            }

            OpenConnection();
            opening++;
        }

        _desk.DemandHandled();
    }

    private void OpenConnection(ReplicationWanted? replication = null)
    {
        var host = _nextHost;
        var backend = Context.ActorOf(BackendConnectionActor.Props(_services, _definition, replication?.Startup, NextEndpoint()),
            $"backend-{++_nextBackendId}");
        Context.Watch(backend);
        _backends[backend] = new BackendSlot(_services.Statistics.NextServerId(), DateTime.UtcNow, _backoff.Wave)
        {
            ReplicationFor = replication?.Session, IsReplication = replication is not null, Host = host,
        };
        _desk.OpeningStarted();
    }

    /// <summary>
    /// Where a new connection goes: the pool's host, or, for a host list (host=a,b), the next host
    /// with load_balance_hosts = round-robin, the same one until a login fails with disable (as PgBouncer).
    /// </summary>
    private ServerEndpoint NextEndpoint()
    {
        var hosts = DatabaseSettings.SplitHosts(_definition.Endpoint.Host);
        if (hosts.Length <= 1)
        {
            return _definition.Endpoint;
        }

        var host = hosts[_nextHost % hosts.Length];
        if (_services.Settings.FindDatabase(_definition.Key.Database)?.LoadBalanceHosts != LoadBalanceHosts.Disable)
        {
            _nextHost++;
        }

        return _definition.Endpoint with { Host = host };
    }

    /// <summary>
    /// With load_balance_hosts = disable, a failed login moves the pool's next connections on to the
    /// next host of its list: once per host, however many logins to it fail together.
    /// </summary>
    private void HostFailed(BackendSlot? slot)
    {
        if (slot is not null && slot.Host == _nextHost && _services.Settings.FindDatabase(_definition.Key.Database)?.LoadBalanceHosts == LoadBalanceHosts.Disable)
        {
            _nextHost++;
            _currentHostProven = false;
        }
    }

    /// <summary>
    /// While logins fail, one attempt at a time probes the server; with load_balance_hosts = disable,
    /// so does the first login to a host of the list, so that a bad host costs one failed login, not one per waiting client.
    /// </summary>
    private bool OneLoginAtATime => _backoff.IsFailing || (!_currentHostProven && _definition.Endpoint.Host.Contains(',') &&
        _services.Settings.FindDatabase(_definition.Key.Database)?.LoadBalanceHosts == LoadBalanceHosts.Disable);

    /// <summary>A backend logged in (first report: the desk gets a new connection) or finished its reset (it goes back to the desk).</summary>
    private void OnBackendIdle(BackendIdle idle)
    {
        if (!_backends.TryGetValue(idle.Backend, out var slot))
        {
            return;
        }

        if (slot.State == SlotState.Connecting && idle.Connection.Replication is not null)
        {
            ReplicationOpened(slot, idle.Connection);
        }
        else if (slot.State == SlotState.Connecting)
        {
            var recovered = _backoff.IsFailing;
            if (recovered)
            {
                _services.Log.Information("server login works again: pool={Pool} server={Server} after {Failures} failed attempt(s)",
                    _definition.Key, idle.Connection.Endpoint, _backoff.Failures);
                _backoff.Succeeded();
                _desk.FailFast(null);
            }

            slot.State = SlotState.Open;
            slot.Connection = idle.Connection;
            _hostsFailedInARow = 0;
            var firstOnHost = !_currentHostProven;
            _currentHostProven = true;
            _desk.Opened(idle.Connection);
            if (recovered || firstOnHost)
            {
                ProvideForWaiters(); // while logins failed one probe at a time went out: the other waiters' connections open now
            }
        }
        else if (slot.State == SlotState.Open)
        {
            _desk.CheckIn(idle.Connection); // its reset is done
        }
    }

    private void OnConnectFailed(BackendConnectFailed failed)
    {
        HostFailed(_backends.GetValueOrDefault(failed.Backend));
        if (_backends.TryGetValue(failed.Backend, out var replicationSlot) && replicationSlot.IsReplication)
        {
            ReplicationLoginFailed(failed, replicationSlot);
            return;
        }

        if (_backends.TryGetValue(failed.Backend, out var slot) && slot.State == SlotState.Connecting)
        {
            slot.State = SlotState.Closing; // Terminated removes it
            _desk.OpeningEnded();
        }

        failed.Backend.Tell(new CloseBackend("login failed"), Self);

        _loginErrors++;
        var hosts = DatabaseSettings.SplitHosts(_definition.Endpoint.Host);
        if (ConnectBackoff.IsOutage(failed.Error) && ++_hostsFailedInARow < hosts.Length)
        {
            // One host of a list is down: the next one is tried at once, and the waiting clients, like new ones, wait for it
            // instead of getting the cached error; the backoff starts once every host of the list has failed in a row.
            _services.Log.Warning("server login failed: {Severity} {Message} (SQLSTATE {State}) pool={Pool} server={Server} closing because: {Closing} (age=0s); " +
                "trying the next host of the list", failed.Error.Severity, failed.Error.Message, failed.Error.SqlState, _definition.Key,
                slot is null ? _definition.Endpoint.Host : $"{hosts[slot.Host % hosts.Length]}:{_definition.Endpoint.Port}", failed.Closing);
            _desk.DemandHandled();
            Self.Tell(RetryLogin.Instance);
            _services.Stats.ServerLoginFailureHandled();
            return;
        }

        var delay = _backoff.Failed(failed.Error, Now, slot?.Wave ?? _backoff.Wave);
        // "server login failed: FATAL <message>" and "closing because: connect failed (age=0s)" are PgBouncer's lines.
        if (ConnectBackoff.IsOutage(failed.Error))
        {
            _services.Log.Warning("server login failed: {Severity} {Message} (SQLSTATE {State}) pool={Pool} server={Server} closing because: {Closing} (age=0s); " +
                "next attempt in {Delay:0}ms (failure {Failures}), waiting clients keep their turn",
                failed.Error.Severity, failed.Error.Message, failed.Error.SqlState, _definition.Key, _definition.Endpoint, failed.Closing,
                delay.TotalMilliseconds, _backoff.Failures);
            if (NothingOpen())
            {
                _desk.FailFast(failed.Error with
                {
                    Message = $"server login has been failing, cached error: {failed.Error.Message} (server_login_retry)",
                });
            }
        }
        else
        {
            _services.Log.Warning("server login failed: {Severity} {Message} (SQLSTATE {State}) pool={Pool} server={Server} closing because: {Closing} (age=0s); " +
                "not an outage, the next client tries again",
                failed.Error.Severity, failed.Error.Message, failed.Error.SqlState, _definition.Key, _definition.Endpoint, failed.Closing);
            if (NothingOpen())
            {
                _desk.FailWaiters(TimeSpan.Zero, failed.Error);
            }
        }

        Timers.StartSingleTimer("retry-login", RetryLogin.Instance, delay);
        _desk.DemandHandled();
        _services.Stats.ServerLoginFailureHandled();
    }

    /// <summary>
    /// No server connection that could serve the waiters is open or logging in: nobody will serve
    /// them before the next attempt. A server that refused the login itself (a wrong password, no
    /// such database) then fails them with its error, as PgBouncer's kill_pool_logins; an outage
    /// leaves them waiting. As in PgBouncer, a connection RECONNECT marked to close when its client
    /// gives it back does not count, nor does a replication client's own.
    /// </summary>
    private bool NothingOpen() => _backends.Values.All(slot => slot.State == SlotState.Closing || slot.IsReplication ||
        slot is { State: SlotState.Open, Connection: { } connection } && _desk.MustReconnect(connection));

    private void OnTerminated(Terminated terminated)
    {
        if (!_backends.Remove(terminated.ActorRef, out var slot))
        {
            ReplicationClientGone(terminated.ActorRef);
            return;
        }

        _budget.Give();
        if (slot.State == SlotState.Connecting)
        {
            _desk.OpeningEnded(); // stopped before it could report (pool shutting down)
        }
        else if (slot.Connection is { } connection)
        {
            _desk.Retire(connection, "its backend stopped"); // counted out of the pool, if the desk did not already
        }

        ProvideForWaiters();
        AnswerCommandsDone();
    }

    /// <summary>Closes a connection the desk handed back (or the pool retires itself): its backend says goodbye to the server and stops.</summary>
    private void Retire(ServerConnection connection, string reason, bool cancelFirst)
    {
        if (connection.Backend is not { } backend || !_backends.TryGetValue(backend, out var slot) || slot.State == SlotState.Closing)
        {
            return;
        }

        slot.State = SlotState.Closing;
        backend.Tell(new CloseBackend(reason, cancelFirst), Self);
        AnswerCommandsDone();
    }

    private void RunJanitor()
    {
        var settings = _services.Settings;
        var counts = _desk.Counts;
        var live = counts.Live;
        var lifetime = _desk.Policy.Lifetime; // the database's own server_lifetime, or the pgbouncer section's
        var closing = _desk.TakeIdleToClose((connection, idle) =>
        {
            if (settings.ServerIdleTimeout > TimeSpan.Zero && idle > settings.ServerIdleTimeout && live > _definition.MinPoolSize)
            {
                live--;
                return "server_idle_timeout reached";
            }

            return lifetime > TimeSpan.Zero && Now - connection.OpenedAt > lifetime ? "server_lifetime reached" : null;
        });

        // Another pool of this database (or user) waits for room under max_db_connections (max_user_connections): give up one idle connection.
        if (counts.Waiting == 0 && counts.Idle > closing.Count && _budget.TryClaimEviction(out var abandon))
        {
            var evicted = _desk.TakeIdleToClose((_, _) => "max_db_connections/max_user_connections: room for another pool", limit: 1);
            if (evicted.Count == 0)
            {
                abandon(); // lent meanwhile
            }

            closing.AddRange(evicted);
        }

        foreach (var (connection, reason) in closing)
        {
            Retire(connection, reason, cancelFirst: false);
        }

        _desk.WithdrawDeparted(JanitorInterval);
        if (settings.QueryWaitNotify > TimeSpan.Zero)
        {
            _desk.TellQueued(settings.QueryWaitNotify); // their client loops tell the clients, once per wait
        }

        // As PgBouncer, query_timeout bounds a wait for a server connection too, and is named when it is the shorter.
        var (waitLimit, limitName) = settings.QueryTimeout > TimeSpan.Zero && (settings.QueryWaitTimeout <= TimeSpan.Zero || settings.QueryTimeout <= settings.QueryWaitTimeout)
            ? (settings.QueryTimeout, "query_timeout")
            : (settings.QueryWaitTimeout, "query_wait_timeout");
        if (waitLimit > TimeSpan.Zero)
        {
            var waitedTooLong = PgError.FatalError(SqlStates.QueryCanceled,
                $"{limitName}: no server connection of pool {_definition.Key} became free within {waitLimit.TotalSeconds:0.#}s");
            _desk.FailWaiters(waitLimit, waitedTooLong);
            var now = Now;
            RefuseReplication(wanted => now - wanted.Since >= waitLimit, waitedTooLong);
        }

        ProvideForWaiters();
    }

    private enum SlotState
    {
        Connecting,
        Open,
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

        /// <summary>The session a replication connection is opened for (null once it is gone, or for a pooled connection).</summary>
        public IActorRef? ReplicationFor { get; set; }

        public bool IsReplication { get; init; }

        /// <summary>The pool's host counter when it was opened (load_balance_hosts = disable moves on once per failing host).</summary>
        public int Host { get; init; }
    }

    private sealed record JanitorTick
    {
        public static readonly JanitorTick Instance = new();
    }

    /// <summary>A budget this pool starved for has room again: its waiters try at once.</summary>
    private sealed record RoomFreed
    {
        public static readonly RoomFreed Instance = new();
    }

    private sealed record RetryLogin
    {
        public static readonly RetryLogin Instance = new();
    }

    private sealed record DemandSignal
    {
        public static readonly DemandSignal Instance = new();
    }

    private sealed record CloseConnection(ServerConnection Connection, string Reason, bool CancelFirst);

    private sealed record ResetConnection(ServerConnection Connection);

    /// <summary>
    /// The desk's side of its supervisor: each signal becomes a message to the pool actor (made
    /// after the desk, so the reference is set once it exists; the desk signals nothing before any
    /// client has found the pool).
    /// </summary>
    internal sealed class DeskSignals : IDeskOwner
    {
        public IActorRef Pool { get; set; } = ActorRefs.Nobody;

        public void DemandUnmet() => Pool.Tell(DemandSignal.Instance);

        public void Close(ServerConnection connection, string reason, bool cancelFirst) => Pool.Tell(new CloseConnection(connection, reason, cancelFirst));

        public void Reset(ServerConnection connection) => Pool.Tell(new ResetConnection(connection));
    }
}
