using PgBouncerActors.Hosting;
using PgBouncerActors.Stats;

namespace PgBouncerActors.Metrics;

/// <summary>
/// What the dashboard polls (<c>/api/pools</c>): each pool's SHOW POOLS figures, its totals (the
/// page turns two readings into transactions per second and mean wait), and its server logins'
/// health (errors, backoff).
/// </summary>
internal sealed record DashboardView(DateTime Time, int Clients, IReadOnlyList<DashboardPool> Pools)
{
    public static DashboardView Of(IReadOnlyList<PoolFigures> pools, PoolerServices services) => new(DateTime.UtcNow,
        services.Statistics.Clients.Count(),
        pools.Select(pool => new DashboardPool(pool.Key.Database, pool.Key.User, pool.Pool.Mode.ToString().ToLowerInvariant(), pool.Pool.PoolSize,
            pool.ClientsActive, pool.ClientsWaiting, pool.ServersActive, pool.ServersIdle, pool.ServersUsed, pool.ServersLogin,
            pool.MaxWait.TotalMilliseconds, pool.Pool.Paused, pool.Totals.Transactions, pool.Totals.Queries, pool.Totals.WaitMicros,
            pool.Totals.Waits, pool.Pool.Health.LoginErrors, pool.Pool.Health.BackoffFailures, pool.Pool.Health.LastError,
            pool.Pool.Health.RetryIn.TotalMilliseconds)).ToList());
}

internal sealed record DashboardPool(string Database, string User, string Mode, int PoolSize, int ClientsActive, int ClientsWaiting,
    int ServersActive, int ServersIdle, int ServersUsed, int ServersLogin, double MaxWaitMs, bool Paused, long Transactions, long Queries,
    long WaitMicros, long Waits, long LoginErrors, int BackoffFailures, string? LastError, double RetryInMs);
