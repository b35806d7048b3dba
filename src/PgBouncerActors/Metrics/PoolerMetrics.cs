using System.Globalization;
using PgBouncerActors.Pool;
using PgBouncerActors.Stats;
using Prometheus;

namespace PgBouncerActors.Metrics;

/// <summary>One pool's latency histograms, observed on the path of a transaction (see <see cref="TrafficCounters"/>).</summary>
internal sealed record PoolHistograms(Histogram.Child Wait, Histogram.Child Transaction);

/// <summary>
/// What /metrics shows, in prometheus-net's registry. The SHOW POOLS and SHOW STATS figures are
/// gauges and counters set from one snapshot just before each scrape (nothing on the path of a
/// query); their names are pgbouncer_exporter's, so its dashboards and alerts read them
/// unchanged. The two histograms, wait time and transaction time per pool, are the only figures
/// observed as traffic flows, since a distribution cannot be rebuilt from totals afterwards.
/// </summary>
internal sealed class PoolerMetrics
{
    /// <summary>100 µs to 30 s: a pooled transaction takes from a fraction of a millisecond to a report's seconds.</summary>
    private static readonly double[] LatencyBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private static readonly string[] PoolLabels = ["database", "user"];
    private static readonly string[] DatabaseLabel = ["database"];

    private readonly Histogram _wait;
    private readonly Histogram _transaction;
    private readonly IReadOnlyList<(Gauge Gauge, Func<PoolFigures, double> Read)> _poolGauges;
    private readonly IReadOnlyList<(Counter Counter, Func<TrafficTotals, double> Read)> _databaseCounters;
    private readonly Counter _loginErrors;
    private HashSet<PoolKey> _pools = [];

    public PoolerMetrics(string version)
    {
        DotNetStats.Register(Registry); // the process's memory, GC and threads, next to the pools
        var metrics = Prometheus.Metrics.WithCustomRegistry(Registry);
        metrics.CreateGauge("pgbouncer_up", "1 while the pooler answers scrapes.").Set(1);
        metrics.CreateGauge("pgbouncer_version_info", "The pooler's version.", ["version"]).WithLabels(version).Set(1);
        _wait = metrics.CreateHistogram("pgbouncer_actors_client_wait_seconds", "How long clients waited for a server connection, per pool.",
            PoolLabels, new HistogramConfiguration { Buckets = LatencyBuckets });
        _transaction = metrics.CreateHistogram("pgbouncer_actors_transaction_duration_seconds",
            "How long transactions held a server connection, per pool.", PoolLabels, new HistogramConfiguration { Buckets = LatencyBuckets });
        Gauge PoolGauge(string name, string help) => metrics.CreateGauge(name, help, PoolLabels);
        _poolGauges =
        [
            (PoolGauge("pgbouncer_pools_client_active_connections", "Clients linked to a server connection or idle (SHOW POOLS cl_active)."),
                pool => pool.ClientsActive),
            (PoolGauge("pgbouncer_pools_client_waiting_connections", "Clients waiting for a server connection (cl_waiting)."),
                pool => pool.ClientsWaiting),
            (PoolGauge("pgbouncer_pools_server_active_connections", "Server connections lent to a client (sv_active)."), pool => pool.ServersActive),
            (PoolGauge("pgbouncer_pools_server_idle_connections", "Server connections ready to lend (sv_idle)."), pool => pool.ServersIdle),
            (PoolGauge("pgbouncer_pools_server_used_connections", "Server connections being reset before reuse (sv_used)."), pool => pool.ServersUsed),
            (PoolGauge("pgbouncer_pools_server_login_connections", "Server connections logging in (sv_login)."), pool => pool.ServersLogin),
            (PoolGauge("pgbouncer_pools_client_maxwait_seconds", "How long the oldest waiting client has waited (maxwait)."),
                pool => pool.MaxWait.TotalSeconds),
            (PoolGauge("pgbouncer_actors_pool_size", "The pool's size: the most server connections it opens."), pool => pool.Pool.PoolSize),
            (PoolGauge("pgbouncer_actors_pool_paused", "1 while the pool is paused (PAUSE, SIGUSR1)."), pool => pool.Pool.Paused ? 1 : 0),
            (PoolGauge("pgbouncer_actors_pool_backoff_failures", "Failed server logins in a row of the current outage (0: the server answers)."),
                pool => pool.Pool.Health.BackoffFailures),
        ];
        _loginErrors = metrics.CreateCounter("pgbouncer_actors_server_login_errors_total", "Server logins that failed, per pool.", PoolLabels);
        Counter DatabaseCounter(string name, string help) => metrics.CreateCounter(name, help, DatabaseLabel);
        _databaseCounters =
        [
            (DatabaseCounter("pgbouncer_stats_sql_transactions_pooled_total", "Transactions pooled (SHOW STATS total_xact_count)."),
                totals => totals.Transactions),
            (DatabaseCounter("pgbouncer_stats_queries_pooled_total", "Queries pooled (total_query_count)."), totals => totals.Queries),
            (DatabaseCounter("pgbouncer_stats_received_bytes_total", "Bytes received from clients (total_received)."), totals => totals.Received),
            (DatabaseCounter("pgbouncer_stats_sent_bytes_total", "Bytes sent to clients (total_sent)."), totals => totals.Sent),
            (DatabaseCounter("pgbouncer_stats_server_in_transaction_duration_seconds_total", "Time in transactions (total_xact_time)."),
                totals => totals.TransactionMicros / 1e6),
            (DatabaseCounter("pgbouncer_stats_queries_duration_seconds_total", "Time in queries (total_query_time)."),
                totals => totals.QueryMicros / 1e6),
            (DatabaseCounter("pgbouncer_stats_client_wait_seconds_total", "Time clients waited for a server connection (total_wait_time)."),
                totals => totals.WaitMicros / 1e6),
        ];
    }

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    private Gauge? _members;
    private Gauge? _shares;
    private Gauge? _sharesInUse;

    /// <summary>SHOW CLUSTER as series: each member's status and reachability, each member's share of each budget and what it has open.</summary>
    public void UpdateCluster(Admin.ClusterView view)
    {
        lock (Registry)
        {
            var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
            _members ??= factory.CreateGauge("pgbouncer_actors_cluster_member_up",
                "1 for each member of the cluster that is up and reachable, 0 for one that is not (joining, leaving, unreachable).", ["peer_id", "address", "status"]);
            _shares ??= factory.CreateGauge("pgbouncer_actors_cluster_share_connections",
                "Each member's share of a budget (db:name for max_db_connections, user:name for max_user_connections), from the coordinator.", ["budget", "peer_id"]);
            _sharesInUse ??= factory.CreateGauge("pgbouncer_actors_cluster_share_used_connections",
                "Server connections each member has open of its share of a budget.", ["budget", "peer_id"]);
            var members = view.Peers.Peers.Select(peer => (Labels: new[] { Number(peer.PeerId), peer.Address, peer.Status }, Up: peer.Status == "up" && peer.Reachable));
            SetAll(_members, members.Select(member => (member.Labels, member.Up ? 1.0 : 0.0)));
            if (view.Shares is { } shares) // unknown this time (the coordinator is moving): the last ones stay
            {
                var peerIds = view.Peers.Peers.ToDictionary(peer => peer.Address, peer => Number(peer.PeerId));
                var labelled = shares.Select(share => (Labels: new[] { share.Budget, peerIds.GetValueOrDefault(share.Member, "0") }, share)).ToList();
                SetAll(_shares, labelled.Select(item => (item.Labels, (double)item.share.Granted)));
                SetAll(_sharesInUse, labelled.Select(item => (item.Labels, (double)item.share.Used)));
            }
        }
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Sets these series and removes the gauge's others (a member or budget gone since the last scrape).</summary>
    private static void SetAll(Gauge gauge, IEnumerable<(string[] Labels, double Value)> series)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (labels, value) in series)
        {
            gauge.WithLabels(labels).Set(value);
            seen.Add(string.Join('\0', labels));
        }

        foreach (var labels in gauge.GetAllLabelValues().ToList())
        {
            if (!seen.Contains(string.Join('\0', labels)))
            {
                gauge.RemoveLabelled(labels);
            }
        }
    }

    /// <summary>A new client's histograms (once per login).</summary>
    public PoolHistograms HistogramsFor(PoolKey pool) =>
        new(_wait.WithLabels(pool.Database, pool.User), _transaction.WithLabels(pool.Database, pool.User));

    /// <summary>Sets every gauge and counter from a snapshot; a pool or database gone since the last scrape loses its series.</summary>
    public void Update(IReadOnlyList<PoolFigures> pools, IReadOnlyList<(string Database, TrafficTotals Totals)> byDatabase)
    {
        lock (Registry) // two scrapes at once must not interleave their updates
        {
            var seen = new HashSet<PoolKey>();
            foreach (var pool in pools)
            {
                seen.Add(pool.Key);
                foreach (var (gauge, read) in _poolGauges)
                {
                    gauge.WithLabels(pool.Key.Database, pool.Key.User).Set(read(pool));
                }

                _loginErrors.WithLabels(pool.Key.Database, pool.Key.User).IncTo(pool.Pool.Health.LoginErrors);
            }

            foreach (var gone in _pools.Except(seen))
            {
                foreach (var (gauge, _) in _poolGauges)
                {
                    gauge.RemoveLabelled(gone.Database, gone.User);
                }
            }

            _pools = seen;
            foreach (var (database, totals) in byDatabase) // totals stay after a database's last pool closes, as in SHOW STATS
            {
                foreach (var (counter, read) in _databaseCounters)
                {
                    counter.WithLabels(database).IncTo(read(totals));
                }
            }
        }
    }
}
