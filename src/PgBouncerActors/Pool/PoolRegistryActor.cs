using Akka.Actor;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Pool;

/// <summary>(database, user) to PoolSupervisor, created on first use.</summary>
internal sealed class PoolRegistryActor : ReceiveActor
{
    private readonly Dictionary<PoolKey, (IActorRef Pool, LendingDesk Desk)> _pools = [];
    private readonly Dictionary<string, ConnectionBudget> _databaseBudgets = []; // max_db_connections, per database over its users' pools
    private readonly Dictionary<string, ConnectionBudget> _userBudgets = []; // max_user_connections, per server user over its databases' pools
    private int _nextPoolId;
    private bool _pausedAll; // PAUSE without a database: pools made meanwhile start paused too
    private readonly HashSet<string> _paused = new(StringComparer.Ordinal);

    private readonly PoolerServices _services;

    public PoolRegistryActor(PoolerServices services)
    {
        _services = services;
        Receive<Cluster.BudgetGrew>(grew =>
        {
            // The cluster granted this instance more of a budget: its pools try again at once instead of at their next janitor round.
            foreach (var (key, (pool, _)) in _pools)
            {
                if (grew.Budget == Cluster.BudgetNames.OfDatabase(key.Database) || grew.Budget == Cluster.BudgetNames.OfUser(key.User))
                {
                    pool.Tell(grew, Self);
                }
            }
        });
        Receive<GetPool>(request =>
        {
            var pool = Ensure(request.Definition);
            Sender.Tell(new PoolFound(pool.Pool, request.Definition.Key, pool.Desk), Self);
        });
        Receive<DescribePools>(_ =>
        {
            var pausedAll = _pausedAll;
            Gather<PoolSnapshot>(_pools.Values.Select(pool => pool.Pool), DescribePools.Instance)
                .PipeTo(Sender, Self, snapshots => new PoolsDescribed(snapshots, pausedAll));
        });
        Receive<CommandPools>(OnCommand);
        Receive<RefuseWaiters>(refuse =>
        {
            foreach (var (_, desk) in _pools.Values)
            {
                desk.FailWaiters(TimeSpan.Zero, refuse.Error);
            }
        });
        Receive<SettingsChanged>(changed =>
        {
            foreach (var (pool, _) in _pools.Values)
            {
                pool.Tell(changed, Self);
            }

            KeepWarm(changed.Settings);
        });
        ReceiveAsync<CloseAllPools>(async _ =>
        {
            var replyTo = Sender;
            // Stopping a pool stops its backends, and each backend's PostStop says Terminate to its server.
            await Task.WhenAll(_pools.Values.Select(pool => pool.Pool.GracefulStop(TimeSpan.FromSeconds(5))));
            _pools.Clear();
            _services.KnownPools.Clear();
            replyTo.Tell(PoolsClosed.Instance, Self);
        });
    }

    protected override void PreStart() => KeepWarm(_services.Settings);

    /// <summary>The pool for a definition, made on its first use.</summary>
    private (IActorRef Pool, LendingDesk Desk) Ensure(PoolDefinition definition)
    {
        var key = definition.Key;
        if (!_pools.TryGetValue(key, out var pool))
        {
            if (!_services.Settings.Databases.ContainsKey(key.Database) && _pools.Keys.All(known => known.Database != key.Database))
            {
                // PgBouncer's words, which operators grep: a database the "*" entry stands for, seen for the first time.
                _services.Log.Information("registered new auto-database: db={Database}", key.Database);
            }

            var budget = new PoolBudget(BudgetOf(_databaseBudgets, Cluster.BudgetNames.OfDatabase(key.Database), definition.MaxDbConnections),
                BudgetOf(_userBudgets, Cluster.BudgetNames.OfUser(key.User), definition.MaxUserConnections));

            var (desk, signals) = PoolSupervisorActor.NewDesk(_services);
            var paused = _pausedAll || _paused.Contains(key.Database);
            var actor = Context.ActorOf(PoolSupervisorActor.Props(_services, definition, budget, desk, paused), $"pool-{++_nextPoolId}");
            signals.Pool = actor;
            pool = (actor, desk);
            _pools[key] = pool;
            _services.KnownPools[key] = new PoolFound(actor, key, desk);
        }

        return pool;
    }

    /// <summary>
    /// As PgBouncer, a database with a forced user and min_pool_size has its pool made (and filled)
    /// at start and on a reload that adds one, before any client asks.
    /// </summary>
    private void KeepWarm(Configuration.PoolerSettings settings)
    {
        foreach (var definition in PoolDefinitions.KeptWarm(settings, user => _services.UserList.SecretOf(user)))
        {
            Ensure(definition);
        }
    }

    /// <summary>
    /// The budget shared by every pool of one database (or user), made with the limit the first of
    /// them brings. In a cluster a limited budget is a share of the cluster's, kept by the budget agent.
    /// </summary>
    private ConnectionBudget BudgetOf(Dictionary<string, ConnectionBudget> budgets, string name, int limit)
    {
        if (!budgets.TryGetValue(name, out var budget))
        {
            var agent = limit > 0 ? _services.Budgets : null;
            budget = new ConnectionBudget(limit, shared: agent is not null);
            if (agent is not null)
            {
                budget.WantsMore = () => agent.Tell(new Cluster.BudgetWanted(name), ActorRefs.NoSender);
                agent.Tell(new Cluster.RegisterBudget(name, budget, Self), Self);
            }

            budgets[name] = budget;
        }

        return budget;
    }

    /// <summary>Remembers what PAUSE and RESUME leave paused, then hands the command to the pools concerned and answers once all are done.</summary>
    private void OnCommand(CommandPools command)
    {
        switch (command.Command)
        {
            case PoolCommand.Pause or PoolCommand.Kill when command.Database is null:
                _pausedAll = true;
                break;
            case PoolCommand.Pause or PoolCommand.Kill:
                _paused.Add(command.Database);
                break;
            case PoolCommand.Resume when !(_pausedAll || (command.Database is null ? _paused.Count > 0 : _paused.Contains(command.Database))):
                Sender.Tell(NothingPaused.Instance, Self); // PAUSE and KILL are what pause, and both pass here
                return;
            case PoolCommand.Resume when command.Database is null:
                _pausedAll = false;
                _paused.Clear();
                break;
            case PoolCommand.Resume:
                _paused.Remove(command.Database);
                break;
        }

        var concerned = _pools.Where(pair => command.Database is null || pair.Key.Database == command.Database).Select(pair => pair.Value.Pool);
        Gather<PoolsCommanded>(concerned, command).PipeTo(Sender, Self, _ => PoolsCommanded.Instance);
    }

    /// <summary>Asks every pool and collects the answers, without holding up this actor (a PAUSE may wait for long transactions).</summary>
    private static Task<T[]> Gather<T>(IEnumerable<IActorRef> pools, object question) =>
        Task.WhenAll(pools.Select(pool => pool.Ask<T>(question, Timeout.InfiniteTimeSpan)));

    public static Props Props(PoolerServices services) => ActorProps.Of(() => new PoolRegistryActor(services));
}
