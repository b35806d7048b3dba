using Akka.Actor;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Pool;

/// <summary>(database, user) to PoolSupervisor, created on first use.</summary>
internal sealed class PoolRegistryActor : ReceiveActor
{
    private readonly Dictionary<PoolKey, (IActorRef Pool, PoolDemand Demand)> _pools = [];
    private readonly Dictionary<string, DatabaseConnectionBudget> _budgets = []; // max_db_connections, per database over its users' pools
    private int _nextPoolId;

    public PoolRegistryActor(PoolerServices services)
    {
        Receive<GetPool>(request =>
        {
            var key = request.Definition.Key;
            if (!_pools.TryGetValue(key, out var pool))
            {
                if (!_budgets.TryGetValue(key.Database, out var budget))
                {
                    budget = new DatabaseConnectionBudget(request.Definition.MaxDbConnections);
                    _budgets[key.Database] = budget;
                }

                var demand = new PoolDemand();
                pool = (Context.ActorOf(PoolSupervisorActor.Props(services, request.Definition, budget, demand), $"pool-{++_nextPoolId}"), demand);
                _pools[key] = pool;
            }

            Sender.Tell(new PoolFound(pool.Pool, key, pool.Demand), Self);
        });
        ReceiveAsync<CloseAllPools>(async _ =>
        {
            var replyTo = Sender;
            // Stopping a pool stops its backends, and each backend's PostStop says Terminate to its server.
            await Task.WhenAll(_pools.Values.Select(pool => pool.Pool.GracefulStop(TimeSpan.FromSeconds(5))));
            _pools.Clear();
            replyTo.Tell(PoolsClosed.Instance, Self);
        });
    }

    public static Props Props(PoolerServices services) => ActorProps.Of(() => new PoolRegistryActor(services));
}
