using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;

namespace PgBouncerActors.Stats;

/// <summary>
/// One pool as SHOW POOLS counts it, read once for the console, /metrics and the dashboard alike:
/// its clients (active or waiting), its server connections by PgBouncer's state names, and how
/// long its oldest waiter has waited.
/// </summary>
internal sealed record PoolFigures(PoolSnapshot Pool, int ClientsActive, int ClientsWaiting, TimeSpan MaxWait, TrafficTotals Totals)
{
    public PoolKey Key => Pool.Key;

    public int ServersActive => Pool.Count("active");

    public int ServersIdle => Pool.Count("idle");

    public int ServersUsed => Pool.Count("used");

    public int ServersLogin => Pool.Count("login");

    // SHOW POOLS's cancel and test columns have no meaning here, and are 0: a cancel is forwarded at
    // once (no cancel waits, none is pending on a server connection), and the server check runs inside the lease.
    public int ClientsActiveCancel => 0;

    public int ClientsWaitingCancel => 0;

    public int ServersActiveCancel => 0;

    public int ServersBeingCanceled => 0;

    public int ServersTested => 0;

    /// <summary>Pools in (database, user) name order, as PgBouncer lists them.</summary>
    public static IEnumerable<PoolSnapshot> Sorted(IEnumerable<PoolSnapshot> pools) =>
        pools.OrderBy(pool => pool.Key.Database, StringComparer.Ordinal).ThenBy(pool => pool.Key.User, StringComparer.Ordinal);

    public static IReadOnlyList<PoolFigures> Of(PoolerServices services, IEnumerable<PoolSnapshot> pools) =>
        Sorted(pools)
            .Select(pool => Of(services.Statistics.For(pool.Key), pool))
            .ToList();

    private static PoolFigures Of(PoolStatistics statistics, PoolSnapshot pool)
    {
        var clients = statistics.Clients();
        var waiting = clients.Count(client => client.Waiting);
        var maxWait = clients.Select(client => client.WaitedSoFar).Append(pool.MaxWait).Max();
        return new PoolFigures(pool, clients.Length - waiting, waiting, maxWait, statistics.Totals());
    }
}
