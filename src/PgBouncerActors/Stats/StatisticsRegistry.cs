using System.Collections.Concurrent;
using PgBouncerActors.Pool;

namespace PgBouncerActors.Stats;

/// <summary>
/// One pool's clients and the traffic of those that left. Touched once when a client logs in and
/// once when it leaves, never per message: the live clients' own counters are summed when someone asks.
/// </summary>
internal sealed class PoolStatistics(PoolKey key)
{
    private readonly Lock _lock = new();
    private readonly HashSet<ClientEntry> _clients = [];
    private TrafficTotals _departed;

    public PoolKey Key { get; } = key;

    public void Joined(ClientEntry client)
    {
        lock (_lock)
        {
            _clients.Add(client);
        }
    }

    public void Left(ClientEntry client)
    {
        var last = client.Totals();
        lock (_lock)
        {
            if (_clients.Remove(client))
            {
                _departed += last;
            }
        }
    }

    /// <summary>The clients still there (one that said goodbye is not listed while its session winds down).</summary>
    public ClientEntry[] Clients()
    {
        lock (_lock)
        {
            return [.. _clients.Where(client => !client.Gone)];
        }
    }

    /// <summary>Whether any of <paramref name="ids"/> has a session that has not ended yet (listed or not).</summary>
    public bool AnyNotEnded(IReadOnlyCollection<long> ids)
    {
        lock (_lock)
        {
            return _clients.Any(client => ids.Contains(client.Id));
        }
    }

    /// <summary>Everything this pool's clients did since the pooler started.</summary>
    public TrafficTotals Totals()
    {
        lock (_lock)
        {
            var totals = _departed;
            foreach (var client in _clients)
            {
                totals += client.Totals();
            }

            return totals;
        }
    }
}

/// <summary>Every pool's statistics by (database, user), the admin console's pseudo-pool included; made on first use.</summary>
internal sealed class StatisticsRegistry
{
    private readonly ConcurrentDictionary<PoolKey, PoolStatistics> _pools = new();
    private long _nextSocketId; // one sequence for clients and server connections, as PgBouncer numbers its sockets

    public PoolStatistics For(PoolKey key) => _pools.GetOrAdd(key, static key => new PoolStatistics(key));

    public IReadOnlyCollection<PoolStatistics> Pools => _pools.Values.OrderBy(pool => pool.Key.Database, StringComparer.Ordinal)
        .ThenBy(pool => pool.Key.User, StringComparer.Ordinal).ToList();

    public IEnumerable<ClientEntry> Clients => Pools.SelectMany(pool => pool.Clients()).OrderBy(client => client.Id);

    /// <summary>Whether any of <paramref name="ids"/> has a session that has not ended yet, though no list shows it.</summary>
    public bool AnyNotEnded(IReadOnlyCollection<long> ids) => Pools.Any(pool => pool.AnyNotEnded(ids));

    /// <summary>A number for the next client: its ptr in SHOW CLIENTS, and what KILL_CLIENT takes.</summary>
    public long NextClientId() => Interlocked.Increment(ref _nextSocketId);

    /// <summary>A number for the next server connection (its id and ptr in SHOW SERVERS), never a client's.</summary>
    public long NextServerId() => Interlocked.Increment(ref _nextSocketId);

    /// <summary>Totals per database over its pools, in name order.</summary>
    public IReadOnlyList<(string Database, TrafficTotals Totals)> ByDatabase() =>
        Pools.GroupBy(pool => pool.Key.Database, StringComparer.Ordinal)
            .Select(group => (group.Key, group.Aggregate(default(TrafficTotals), (sum, pool) => sum + pool.Totals())))
            .ToList();
}
