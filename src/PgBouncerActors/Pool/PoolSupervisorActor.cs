using PgBouncerActors.Actors;
using PgBouncerActors.Actors.Supervision;
using PgBouncerActors.Backend;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>
/// One (database, user) pool. Owns its BackendConnection children, lends idle ones, queues
/// waiting sessions first come first served, retires connections past their idle timeout or
/// lifetime, and keeps min_pool_size open. Watches every session it lends to: a session that
/// dies holding a connection gets that connection closed, never lent on (invariant 5).
/// </summary>
internal sealed class PoolSupervisorActor : ReceiveActor
{
    private static readonly TimeSpan JanitorInterval = TimeSpan.FromSeconds(1);
    private readonly PoolerServices _services;
    private readonly PoolDefinition _definition;
    private readonly Dictionary<IActorRef, BackendSlot> _backends = [];
    private readonly List<IActorRef> _idle = []; // most recently used last: reuse warm connections first
    private readonly LinkedList<Waiter> _waiters = [];
    private readonly Dictionary<IActorRef, IActorRef> _leases = []; // session -> backend
    private int _nextBackendId;

    public PoolSupervisorActor(PoolerServices services, PoolDefinition definition)
    {
        _services = services;
        _definition = definition;
        Receive<LeaseRequest>(OnLeaseRequest);
        Receive<LeaseReturned>(OnLeaseReturned);
        Receive<LeaseWithdrawn>(_ => Withdraw(Sender));
        Receive<BackendIdle>(OnBackendIdle);
        Receive<BackendConnectFailed>(OnConnectFailed);
        Receive<Terminated>(OnTerminated);
        Receive<JanitorTick>(_ => RunJanitor());
    }

    public static Props Props(PoolerServices services, PoolDefinition definition) =>
        Actors.Props.Create(() => new PoolSupervisorActor(services, definition));

    /// <summary>A failing server connection is stopped, never restarted in place: the pool opens a fresh one.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => Actors.Supervision.SupervisorStrategy.StoppingStrategy;

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("janitor", JanitorTick.Instance, JanitorInterval);
        TopUpToMinimum();
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

        ServeWaiters();
        if (_waiters.Count > 0)
        {
            OpenConnectionsForWaiters();
        }
    }

    private void OnBackendIdle(BackendIdle idle)
    {
        if (!_backends.TryGetValue(idle.Backend, out var slot))
        {
            return;
        }

        slot.Connection = idle.Connection;
        slot.State = SlotState.Idle;
        slot.IdleSince = DateTime.UtcNow;
        _idle.Add(idle.Backend);
        ServeWaiters();
    }

    private void ServeWaiters()
    {
        while (_waiters.First is { } first && _idle.Count > 0)
        {
            var backend = _idle[^1];
            _idle.RemoveAt(_idle.Count - 1);
            _waiters.RemoveFirst();
            var slot = _backends[backend];
            slot.State = SlotState.Lent;
            slot.Session = first.Value.Session;
            _leases[first.Value.Session] = backend;
            first.Value.Session.Tell(new LeaseGranted(backend, slot.Connection!), Self);
        }
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
        if (returned.Clean && !PastLifetime(slot))
        {
            slot.State = SlotState.Resetting;
            returned.Backend.Tell(ResetBackend.Instance, Self);
        }
        else
        {
            Retire(returned.Backend, slot, returned.Clean ? "server_lifetime reached" : $"client left it {returned.Reason}");
        }
    }

    private void OnConnectFailed(BackendConnectFailed failed)
    {
        _services.Log.Warning("server login failed: pool={Pool} server={Server} error={Error}", _definition.Key, _definition.Endpoint, failed.Error);
        _backends.Remove(failed.Backend);
        _idle.Remove(failed.Backend);
        // Waiters that no other connection can serve get the server's own error now rather than
        // waiting out query_wait_timeout for a database that refuses us.
        var capacityLeft = _backends.Count;
        while (_waiters.Count > capacityLeft)
        {
            var waiter = _waiters.Last!.Value;
            _waiters.RemoveLast();
            Context.Unwatch(waiter.Session);
            waiter.Session.Tell(new LeaseFailed(failed.Error), Self);
        }
    }

    private void OnTerminated(Terminated terminated)
    {
        var actor = terminated.ActorRef;
        if (_backends.Remove(actor, out var slot))
        {
            _idle.Remove(actor);
            if (slot.Session is { } session)
            {
                _leases.Remove(session);
            }

            OpenConnectionsForWaiters();
            TopUpToMinimum();
            return;
        }

        // A session died: a connection it held cannot be proven clean, so it is closed.
        if (_leases.Remove(actor, out var backend) && _backends.TryGetValue(backend, out var lent))
        {
            Retire(backend, lent, "its client session stopped while holding it");
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

        TopUpToMinimum();
    }

    private bool PastLifetime(BackendSlot slot) =>
        _services.Settings.ServerLifetime > TimeSpan.Zero && DateTime.UtcNow - slot.Created > _services.Settings.ServerLifetime;

    private void Retire(IActorRef backend, BackendSlot slot, string reason)
    {
        slot.State = SlotState.Closing;
        backend.Tell(new CloseBackend(reason), Self);
    }

    /// <summary>Opens connections while sessions wait and the pool has room (connections being opened count against both).</summary>
    private void OpenConnectionsForWaiters()
    {
        while (_waiters.Count > ConnectingCount() && _backends.Count < _definition.PoolSize)
        {
            OpenConnection();
        }
    }

    private void TopUpToMinimum()
    {
        while (_backends.Count < Math.Min(_definition.MinPoolSize, _definition.PoolSize))
        {
            OpenConnection();
        }
    }

    private int ConnectingCount() => _backends.Values.Count(slot => slot.State == SlotState.Connecting);

    private void OpenConnection()
    {
        var backend = Context.ActorOf(BackendConnectionActor.Props(_services, _definition), $"backend-{++_nextBackendId}");
        Context.Watch(backend);
        _backends[backend] = new BackendSlot(DateTime.UtcNow);
    }

    private enum SlotState
    {
        Connecting,
        Idle,
        Lent,
        Resetting,
        Closing,
    }

    private sealed class BackendSlot(DateTime created)
    {
        public DateTime Created { get; } = created;
        public SlotState State { get; set; } = SlotState.Connecting;
        public ServerConnection? Connection { get; set; }
        public IActorRef? Session { get; set; }
        public DateTime IdleSince { get; set; } = created;
    }

    private sealed record Waiter(IActorRef Session, DateTime Since);

    private sealed record JanitorTick
    {
        public static readonly JanitorTick Instance = new();
    }
}
