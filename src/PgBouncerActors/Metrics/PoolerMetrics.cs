using System.Globalization;
using PgBouncerActors.Admin;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Stats;
using Prometheus;

namespace PgBouncerActors.Metrics;

/// <summary>One pool's latency histograms, observed on the path of a transaction (see <see cref="TrafficCounters"/>).</summary>
internal sealed record PoolHistograms(Histogram.Child Wait, Histogram.Child Transaction);

/// <summary>
/// What /metrics shows, in prometheus-net's registry. The SHOW POOLS, STATS, DATABASES, LISTS and
/// CONFIG figures are gauges and counters set from one snapshot just before each scrape (nothing on
/// the path of a query), under pgbouncer_exporter's names (its releases from 0.4, which read SHOW
/// STATS), so its dashboards and alerts read them unchanged; the pooler's own series are under
/// pgbouncer_actors_. The two histograms, wait time and transaction time per pool, are the only
/// figures observed as traffic flows, since a distribution cannot be rebuilt from totals afterwards.
/// </summary>
internal sealed class PoolerMetrics
{
    /// <summary>100 µs to 30 s: a pooled transaction takes from a fraction of a millisecond to a report's seconds.</summary>
    private static readonly double[] LatencyBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private static readonly string[] PoolLabels = ["database", "user"];
    private static readonly string[] DatabaseLabel = ["database"];

    /// <summary>pgbouncer_exporter's labels of a SHOW DATABASES row (the columns that are not figures).</summary>
    private static readonly string[] DatabaseRowLabels = ["name", "host", "port", "database", "force_user", "pool_mode"];

    /// <summary>SHOW LISTS's rows under pgbouncer_exporter's names (dns_pending it does not read).</summary>
    private static readonly (string List, string Metric, string Help)[] Lists =
    [
        ("databases", "pgbouncer_databases", "Databases (SHOW LISTS databases)."),
        ("users", "pgbouncer_users", "Users (SHOW LISTS users)."),
        ("pools", "pgbouncer_pools", "Pools, the console's included (SHOW LISTS pools)."),
        ("free_clients", "pgbouncer_free_clients", "Client connections max_client_conn still allows (SHOW LISTS free_clients)."),
        ("used_clients", "pgbouncer_used_clients", "Clients logged in (SHOW LISTS used_clients)."),
        ("login_clients", "pgbouncer_login_clients", "Clients connected and not yet logged in (SHOW LISTS login_clients)."),
        ("free_servers", "pgbouncer_free_servers", "Closed server connections kept for reuse (SHOW LISTS free_servers)."),
        ("used_servers", "pgbouncer_used_servers", "Server connections open (SHOW LISTS used_servers)."),
        ("dns_names", "pgbouncer_cached_dns_names", "Host names in the DNS cache (SHOW LISTS dns_names)."),
        ("dns_zones", "pgbouncer_cached_dns_zones", "DNS zones in the DNS cache (SHOW LISTS dns_zones)."),
        ("dns_queries", "pgbouncer_in_flight_dns_queries", "DNS queries in flight (SHOW LISTS dns_queries)."),
    ];

    private readonly Histogram _wait;
    private readonly Histogram _transaction;
    private readonly IReadOnlyList<(Gauge Gauge, Func<PoolFigures, double> Read)> _poolGauges;
    private readonly IReadOnlyList<(Counter Counter, Func<TrafficTotals, double> Read)> _databaseCounters;
    private readonly Counter _loginErrors;
    private readonly IReadOnlyList<(Gauge Gauge, Func<DatabaseRow, double> Read)> _databaseGauges;
    private readonly IReadOnlyDictionary<string, Gauge> _lists;
    private readonly Gauge _maxClientConnections;
    private readonly Gauge _maxUserConnections;
    private readonly Gauge _residentMemory;
    private HashSet<PoolKey> _pools = [];

    public PoolerMetrics(string version)
    {
        DotNetStats.Register(Registry); // the process's process_* (CPU, memory, threads), GC and JIT, next to the pools
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
            (PoolGauge("pgbouncer_pools_client_active_cancel_connections", "Clients whose cancel request was forwarded (cl_active_cancel_req)."),
                pool => pool.ClientsActiveCancel),
            (PoolGauge("pgbouncer_pools_client_waiting_cancel_connections", "Clients whose cancel request is not yet forwarded (cl_waiting_cancel_req)."),
                pool => pool.ClientsWaitingCancel),
            (PoolGauge("pgbouncer_pools_server_active_connections", "Server connections lent to a client (sv_active)."), pool => pool.ServersActive),
            (PoolGauge("pgbouncer_pools_server_active_cancel_connections", "Server connections forwarding a cancel request (sv_active_cancel)."),
                pool => pool.ServersActiveCancel),
            (PoolGauge("pgbouncer_pools_server_being_canceled_connections", "Server connections waiting for cancel requests to end (sv_being_canceled)."),
                pool => pool.ServersBeingCanceled),
            (PoolGauge("pgbouncer_pools_server_idle_connections", "Server connections ready to lend (sv_idle)."), pool => pool.ServersIdle),
            (PoolGauge("pgbouncer_pools_server_used_connections", "Server connections being reset before reuse (sv_used)."), pool => pool.ServersUsed),
            (PoolGauge("pgbouncer_pools_server_testing_connections", "Server connections running a reset or check query (sv_tested)."),
                pool => pool.ServersTested),
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
            (DatabaseCounter("pgbouncer_stats_server_in_transaction_seconds_total", "Time in transactions (total_xact_time)."),
                totals => totals.TransactionMicros / 1e6),
            (DatabaseCounter("pgbouncer_stats_queries_duration_seconds_total", "Time in queries (total_query_time)."),
                totals => totals.QueryMicros / 1e6),
            (DatabaseCounter("pgbouncer_stats_client_wait_seconds_total", "Time clients waited for a server connection (total_wait_time)."),
                totals => totals.WaitMicros / 1e6),
            (DatabaseCounter("pgbouncer_stats_client_parses_total", "Parse messages from clients (total_client_parse_count)."),
                totals => totals.ClientParses),
            (DatabaseCounter("pgbouncer_stats_server_parses_total", "Parse messages sent to servers (total_server_parse_count)."),
                totals => totals.ServerParses),
            (DatabaseCounter("pgbouncer_stats_binds_total", "Bind messages from clients (total_bind_count)."), totals => totals.Binds),
        ];
        Gauge DatabaseGauge(string name, string help) => metrics.CreateGauge(name, help, DatabaseRowLabels);
        _databaseGauges =
        [
            (DatabaseGauge("pgbouncer_databases_pool_size", "The database's pool size (SHOW DATABASES pool_size)."), row => row.PoolSize),
            (DatabaseGauge("pgbouncer_databases_reserve_pool", "Extra server connections a pool may open (reserve_pool_size)."), row => row.ReservePoolSize),
            (DatabaseGauge("pgbouncer_databases_max_connections", "The most server connections to the database, 0: no limit (max_connections)."),
                row => row.MaxConnections),
            (DatabaseGauge("pgbouncer_databases_current_connections", "Server connections to the database open now (current_connections)."),
                row => row.CurrentConnections),
            (DatabaseGauge("pgbouncer_databases_paused", "1 while the database is paused (paused)."), row => row.Paused ? 1 : 0),
            (DatabaseGauge("pgbouncer_databases_disabled", "1 while the database is disabled (disabled)."), row => row.Disabled ? 1 : 0),
        ];
        _lists = Lists.ToDictionary(list => list.List, list => metrics.CreateGauge(list.Metric, list.Help));
        _maxClientConnections = metrics.CreateGauge("pgbouncer_config_max_client_connections", "The most client connections (SHOW CONFIG max_client_conn).");
        _maxUserConnections = metrics.CreateGauge("pgbouncer_config_max_user_connections",
            "The most server connections per user, 0: no limit (SHOW CONFIG max_user_connections).");
        _residentMemory = metrics.CreateGauge("process_resident_memory_bytes", "The process's resident memory (RSS) in bytes.");
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

    /// <summary>
    /// Sets every gauge and counter from one snapshot of the pools, read as the console reads it; a
    /// pool or database gone since the last scrape loses its series.
    /// </summary>
    /// <param name="sessions">Client sessions open now, logged in or not (SHOW LISTS counts them).</param>
    public void Update(PoolerServices services, IReadOnlyList<PoolFigures> pools, int sessions)
    {
        var snapshots = pools.Select(pool => pool.Pool).ToList();
        var databases = ShowTables.DatabaseRows(services, snapshots);
        var lists = ShowTables.ListItems(services, snapshots, databases, sessions);
        var byDatabase = services.Statistics.ByDatabase();
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

            var labelled = databases.Select(row => (Labels: new[] { row.Name, row.Host, Number(row.Port), row.Database, row.ForceUser, row.PoolMode }, Row: row))
                .ToList();
            foreach (var (gauge, read) in _databaseGauges)
            {
                SetAll(gauge, labelled.Select(item => (item.Labels, read(item.Row))));
            }

            foreach (var (list, items) in lists)
            {
                _lists.GetValueOrDefault(list)?.Set(items);
            }

            _maxClientConnections.Set(services.Settings.MaxClientConnections);
            _maxUserConnections.Set(services.Settings.MaxUserConnections);
            _residentMemory.Set(Environment.WorkingSet);
        }
    }
}
