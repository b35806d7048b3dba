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
