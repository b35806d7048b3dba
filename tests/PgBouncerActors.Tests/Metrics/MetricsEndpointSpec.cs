using PgBouncerActors.Demo;
using Npgsql;
using PgBouncerActors.Hosting;
using PgBouncerActors.Tests.Integration;
using Xunit;

namespace PgBouncerActors.Tests.Metrics;

/// <summary>/metrics as Prometheus scrapes it, with real psql and Npgsql traffic through the pooler to PostgreSQL.</summary>
[Collection(PostgresCollection.Name)]
public sealed class MetricsEndpointSpec(PostgresFixture postgres)
{
    private const string User = PostgresFixture.ScramUser;
    private const string Pool = $"database=\"counted\",user=\"{User}\"";

    private PoolerHost StartPooler() => postgres.StartPooler(
        "auth_type = trust, pool_mode = transaction, default_pool_size = 3",
        databases: $"counted {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres }}",
        own: $"shutdown_timeout = 0, metrics {{ port = {ScratchCluster.FreePort()} }}");

    [Fact]
    public async Task Metrics_are_off_unless_a_port_is_set()
    {
        await using var pooler = postgres.StartPooler("auth_type = trust");
        Assert.Null(pooler.MetricsPort);
    }

    [Fact]
    public async Task A_scrape_counts_exactly_the_transactions_psql_ran_in_the_counters_and_the_transaction_histogram()
    {
        await using var pooler = StartPooler();
        var script = string.Concat(Enumerable.Repeat("select 1;\n", 10)) + "begin;\nselect pg_sleep(0.02);\ncommit;\n";
        await postgres.RunToolAsync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", User, "counted"],
            script);

        var scrape = await PrometheusText.ScrapeAsync(pooler.MetricsPort!.Value);
        Assert.Equal(11, scrape.Value("pgbouncer_stats_sql_transactions_pooled_total{database=\"counted\"}"));
        Assert.Equal(13, scrape.Value("pgbouncer_stats_queries_pooled_total{database=\"counted\"}"));
        Assert.True(scrape.Value("pgbouncer_stats_received_bytes_total{database=\"counted\"}") > 11 * "select 1;".Length);
        Assert.Equal(11, scrape.Value($"pgbouncer_actors_transaction_duration_seconds_count{{{Pool}}}"));
        // The one transaction that slept 20 ms is above the 10 ms bucket; the ten single selects are not.
        var underTenMs = scrape.Value($"pgbouncer_actors_transaction_duration_seconds_bucket{{{Pool},le=\"0.01\"}}");
        Assert.Equal(11, scrape.Value($"pgbouncer_actors_transaction_duration_seconds_bucket{{{Pool},le=\"+Inf\"}}"));
        Assert.Equal(10, underTenMs);
        Assert.True(scrape.Value($"pgbouncer_actors_transaction_duration_seconds_sum{{{Pool}}}") >= 0.02);
        Assert.Equal(1, scrape.Value($"pgbouncer_actors_client_wait_seconds_count{{{Pool}}}")); // psql's one connection waited once, for its first server
        Assert.Equal(1, scrape.Value("pgbouncer_up"));
    }

    [Fact]
    public async Task The_pool_gauges_show_what_SHOW_POOLS_shows_while_a_client_is_inside_a_transaction_and_another_waits()
    {
        await using var pooler = postgres.StartPooler(
            "auth_type = trust, pool_mode = transaction, default_pool_size = 1, query_wait_timeout = 30",
            databases: $"counted {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres }}",
            own: $"shutdown_timeout = 0, metrics {{ port = {ScratchCluster.FreePort()} }}");
        var connectionString = PostgresFixture.ConnectionString(pooler.Port, User, database: "counted");
        await using var holder = new NpgsqlConnection(connectionString);
        await holder.OpenAsync();
        await using var waiter = new NpgsqlConnection(connectionString);
        await waiter.OpenAsync(); // a login borrows a server connection too: both log in before the only one is held
        await using var transaction = await holder.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("select 1", holder, transaction))
        {
            await hold.ExecuteScalarAsync();
        }

        var waiting = new NpgsqlCommand("select 2", waiter).ExecuteScalarAsync();
        var scrape = await Eventually.ScrapeAsync(pooler.MetricsPort!.Value,
            scrape => scrape.Value($"pgbouncer_pools_client_waiting_connections{{{Pool}}}") == 1);
        Assert.Equal(1, scrape.Value($"pgbouncer_pools_client_active_connections{{{Pool}}}"));
        Assert.Equal(1, scrape.Value($"pgbouncer_pools_server_active_connections{{{Pool}}}"));
        Assert.Equal(0, scrape.Value($"pgbouncer_pools_server_idle_connections{{{Pool}}}"));
        Assert.Equal(1, scrape.Value($"pgbouncer_actors_pool_size{{{Pool}}}"));
        Assert.True(scrape.Value($"pgbouncer_pools_client_maxwait_seconds{{{Pool}}}") > 0);

        await transaction.CommitAsync();
        Assert.Equal(2, await waiting);
        scrape = await Eventually.ScrapeAsync(pooler.MetricsPort!.Value,
            scrape => scrape.Value($"pgbouncer_pools_client_waiting_connections{{{Pool}}}") == 0);
        Assert.Equal(2, scrape.Value($"pgbouncer_pools_client_active_connections{{{Pool}}}"));
    }

    /// <summary>SHOW LISTS's rows and the series pgbouncer_exporter makes of them.</summary>
    private static readonly Dictionary<string, string> ListMetrics = new()
    {
        ["databases"] = "pgbouncer_databases", ["users"] = "pgbouncer_users", ["pools"] = "pgbouncer_pools",
        ["free_clients"] = "pgbouncer_free_clients", ["used_clients"] = "pgbouncer_used_clients", ["login_clients"] = "pgbouncer_login_clients",
        ["free_servers"] = "pgbouncer_free_servers", ["used_servers"] = "pgbouncer_used_servers", ["dns_names"] = "pgbouncer_cached_dns_names",
        ["dns_zones"] = "pgbouncer_cached_dns_zones", ["dns_queries"] = "pgbouncer_in_flight_dns_queries",
    };

    /// <summary>pgbouncer_exporter's series (its releases from 0.4, SHOW STATS read as pgbouncer_stats_*) that this pooler has a value for.</summary>
    private static readonly string[] ExporterNames =
    [
        "pgbouncer_up", "pgbouncer_version_info",
        "pgbouncer_stats_sql_transactions_pooled_total", "pgbouncer_stats_queries_pooled_total", "pgbouncer_stats_received_bytes_total",
        "pgbouncer_stats_sent_bytes_total", "pgbouncer_stats_server_in_transaction_seconds_total", "pgbouncer_stats_queries_duration_seconds_total",
        "pgbouncer_stats_client_wait_seconds_total", "pgbouncer_stats_client_parses_total", "pgbouncer_stats_server_parses_total",
        "pgbouncer_stats_binds_total",
        "pgbouncer_pools_client_active_connections", "pgbouncer_pools_client_waiting_connections", "pgbouncer_pools_client_active_cancel_connections",
        "pgbouncer_pools_client_waiting_cancel_connections", "pgbouncer_pools_server_active_connections", "pgbouncer_pools_server_active_cancel_connections",
        "pgbouncer_pools_server_being_canceled_connections", "pgbouncer_pools_server_idle_connections", "pgbouncer_pools_server_used_connections",
        "pgbouncer_pools_server_testing_connections", "pgbouncer_pools_server_login_connections", "pgbouncer_pools_client_maxwait_seconds",
        "pgbouncer_databases_pool_size", "pgbouncer_databases_reserve_pool", "pgbouncer_databases_max_connections",
        "pgbouncer_databases_current_connections", "pgbouncer_databases_paused", "pgbouncer_databases_disabled",
        "pgbouncer_config_max_client_connections", "pgbouncer_config_max_user_connections",
        .. ListMetrics.Values,
    ];

    /// <summary>SHOW STATS's columns and the exporter's counters of them, times in seconds where the console has microseconds.</summary>
    private static readonly (string Column, string Metric, double Scale)[] StatsMetrics =
    [
        ("total_xact_count", "pgbouncer_stats_sql_transactions_pooled_total", 1), ("total_query_count", "pgbouncer_stats_queries_pooled_total", 1),
        ("total_received", "pgbouncer_stats_received_bytes_total", 1), ("total_sent", "pgbouncer_stats_sent_bytes_total", 1),
        ("total_xact_time", "pgbouncer_stats_server_in_transaction_seconds_total", 1e-6),
        ("total_query_time", "pgbouncer_stats_queries_duration_seconds_total", 1e-6), ("total_wait_time", "pgbouncer_stats_client_wait_seconds_total", 1e-6),
        ("total_client_parse_count", "pgbouncer_stats_client_parses_total", 1), ("total_server_parse_count", "pgbouncer_stats_server_parses_total", 1),
        ("total_bind_count", "pgbouncer_stats_binds_total", 1),
    ];

    [Fact]
    public async Task The_series_have_pgbouncer_exporters_names_and_what_SHOW_STATS_DATABASES_LISTS_POOLS_and_CONFIG_show()
    {
        await using var pooler = postgres.StartPooler(
            $"auth_type = trust, pool_mode = transaction, default_pool_size = 3, reserve_pool_size = 2, max_client_conn = 77, max_user_connections = 9, " +
            $"max_prepared_statements = 10, admin_users = {User}",
            databases: $"counted {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres, pool_size = 4 }}",
            own: $"shutdown_timeout = 0, metrics {{ port = {ScratchCluster.FreePort()} }}");
        var port = pooler.MetricsPort!.Value;
        await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, User, database: "counted"));
        await client.OpenAsync();
        await using (var prepared = new NpgsqlCommand("select $1::int", client) { Parameters = { new() { Value = 0 } } })
        {
            await prepared.PrepareAsync(); // a named Parse, then a Bind for each run
            for (var i = 0; i < 7; i++)
            {
                prepared.Parameters[0].Value = i;
                Assert.Equal(i, await prepared.ExecuteScalarAsync());
            }
        }

        await Eventually.ScrapeAsync(port, scrape => scrape.Value("pgbouncer_stats_sql_transactions_pooled_total{database=\"counted\"}") >= 7);
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, User);
        var stats = await console.ShowAsync("SHOW STATS");
        var databases = await console.ShowAsync("SHOW DATABASES");
        var lists = await console.ShowAsync("SHOW LISTS");
        var pools = await console.ShowAsync("SHOW POOLS");
        var config = await console.ShowAsync("SHOW CONFIG");
        var scrape = await PrometheusText.ScrapeAsync(port);

        foreach (var (column, metric, scale) in StatsMetrics)
        {
            Assert.Equal(stats.Number(column, "counted") * scale, scrape.Value($"{metric}{{database=\"counted\"}}"), 6);
        }

        Assert.True(stats.Number("total_xact_count", "counted") >= 7); // the seven runs, and whatever Npgsql's login and Prepare sent
        Assert.True(stats.Number("total_client_parse_count", "counted") >= 1);
        Assert.True(stats.Number("total_bind_count", "counted") >= 7);
        foreach (var row in databases.Rows) // the console's own pgbouncer row, and counted
        {
            var name = row[0]!;
            var labels = $"{{name=\"{name}\",host=\"{row[1]}\",port=\"{row[2]}\",database=\"{row[3]}\",force_user=\"{row[4]}\",pool_mode=\"{row[9]}\"}}";
            foreach (var (column, metric) in new[] { ("pool_size", "pool_size"), ("reserve_pool_size", "reserve_pool"), ("max_connections", "max_connections"),
                         ("current_connections", "current_connections"), ("paused", "paused"), ("disabled", "disabled") })
            {
                Assert.Equal(databases.Number(column, name), scrape.Value($"pgbouncer_databases_{metric}{labels}"));
            }
        }

        Assert.Equal(4, databases.Number("pool_size", "counted"));
        Assert.Equal(2, databases.Number("reserve_pool_size", "counted"));
        Assert.Equal(databases.Rows.Count, scrape.Series.Count(series => series.StartsWith("pgbouncer_databases_pool_size{", StringComparison.Ordinal)));
        foreach (var row in lists.Rows.Where(row => ListMetrics.ContainsKey(row[0]!)))
        {
            Assert.Equal(lists.Number("items", row[0]!), scrape.Value(ListMetrics[row[0]!]));
        }

        Assert.True(scrape.Value("pgbouncer_used_servers") >= 1);
        foreach (var (column, metric) in new[] { ("cl_active_cancel_req", "client_active_cancel"), ("cl_waiting_cancel_req", "client_waiting_cancel"),
                     ("sv_active_cancel", "server_active_cancel"), ("sv_being_canceled", "server_being_canceled"), ("sv_tested", "server_testing") })
        {
            Assert.Equal(pools.Number(column, "counted", User), scrape.Value($"pgbouncer_pools_{metric}_connections{{{Pool}}}"));
        }

        Assert.Equal(77, scrape.Value("pgbouncer_config_max_client_connections"));
        Assert.Equal(config.Number("value", "max_client_conn"), scrape.Value("pgbouncer_config_max_client_connections"));
        Assert.Equal(config.Number("value", "max_user_connections"), scrape.Value("pgbouncer_config_max_user_connections"));
        Assert.True(scrape.Value("process_resident_memory_bytes") > 1 << 20);
        Assert.True(scrape.Value("process_cpu_seconds_total") > 0); // prometheus-net's own process_* series
        Assert.True(scrape.Value("process_start_time_seconds") > 0);

        var names = scrape.Series.Select(series => series.Split('{')[0]).Distinct().ToList();
        Assert.Empty(ExporterNames.Except(names));
        // Every other pgbouncer_ series is the pooler's own, under one prefix (the histograms' _bucket, _sum and _count among them).
        Assert.DoesNotContain(names, name => name.StartsWith("pgbouncer_", StringComparison.Ordinal) && !ExporterNames.Contains(name)
            && !name.StartsWith("pgbouncer_actors_", StringComparison.Ordinal));
    }

    private static class Eventually
    {
        public static async Task<PrometheusText> ScrapeAsync(int port, Func<PrometheusText, bool> condition)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (true)
            {
                var scrape = await PrometheusText.ScrapeAsync(port);
                if (condition(scrape) || DateTime.UtcNow > deadline)
                {
                    return scrape;
                }

                await Task.Delay(50);
            }
        }
    }
}
