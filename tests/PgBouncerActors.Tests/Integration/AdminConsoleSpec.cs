using Npgsql;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The admin console as operators and their tools use it: PgBouncer 1.25.2's SHOW columns (what
/// pgbouncer_exporter reads), figures that move with real traffic, and the commands that change
/// what the pooler does, with real psql, Npgsql and pgbench clients against PostgreSQL.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class AdminConsoleSpec(PostgresFixture postgres)
{
    private const string Admin = PostgresFixture.ScramUser;
    private const string Watcher = PostgresFixture.Md5User;

    /// <summary>Transaction mode, trust (the console's users log in without a password), a database of its own for exact counts.</summary>
    private PoolerHost StartPooler(int poolSize = 4, string extra = "") => postgres.StartPooler(
        $"auth_type = trust, pool_mode = transaction, default_pool_size = {poolSize}, admin_users = {Admin}, stats_users = \"{Watcher}\", query_wait_timeout = 30 {extra}",
        databases: $"counted {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres }}",
        own: "shutdown_timeout = 0");

    private static string Counted(int port) => PostgresFixture.ConnectionString(port, Admin, database: "counted");

    /// <summary>PgBouncer 1.25.2's answers, column by column (name:type OID), as the reference build sends them (read with psycopg's cursor.description).</summary>
    public static TheoryData<string, string> PgBouncerColumns => new()
    {
        { "SHOW POOLS", "database:25 user:25 cl_active:23 cl_waiting:23 cl_active_cancel_req:23 cl_waiting_cancel_req:23 sv_active:23 sv_active_cancel:23 sv_being_canceled:23 sv_idle:23 sv_used:23 sv_tested:23 sv_login:23 maxwait:23 maxwait_us:23 pool_mode:25 load_balance_hosts:25" },
        { "SHOW CLIENTS", "type:25 user:25 database:25 replication:25 state:25 addr:25 port:23 local_addr:25 local_port:23 connect_time:25 request_time:25 wait:23 wait_us:23 close_needed:23 ptr:25 link:25 remote_pid:23 tls:25 application_name:25 prepared_statements:23 id:23" },
        { "SHOW SERVERS", "type:25 user:25 database:25 replication:25 state:25 addr:25 port:23 local_addr:25 local_port:23 connect_time:25 request_time:25 wait:23 wait_us:23 close_needed:23 ptr:25 link:25 remote_pid:23 tls:25 application_name:25 prepared_statements:23 id:23" },
        { "SHOW SOCKETS", "type:25 user:25 database:25 replication:25 state:25 addr:25 port:23 local_addr:25 local_port:23 connect_time:25 request_time:25 wait:23 wait_us:23 close_needed:23 ptr:25 link:25 remote_pid:23 tls:25 application_name:25 prepared_statements:23 id:23 recv_pos:23 pkt_pos:23 pkt_remain:23 send_pos:23 send_remain:23 pkt_avail:23 send_avail:23" },
        { "SHOW DATABASES", "name:25 host:25 port:23 database:25 force_user:25 pool_size:23 min_pool_size:23 reserve_pool_size:23 server_lifetime:23 pool_mode:25 load_balance_hosts:25 max_connections:23 current_connections:23 max_client_connections:23 current_client_connections:23 paused:23 disabled:23" },
        { "SHOW USERS", "name:25 pool_size:25 reserve_pool_size:25 pool_mode:25 max_user_connections:23 current_connections:23 max_user_client_connections:23 current_client_connections:23" },
        { "SHOW STATS", "database:25 total_server_assignment_count:1700 total_xact_count:1700 total_query_count:1700 total_received:1700 total_sent:1700 total_xact_time:1700 total_query_time:1700 total_wait_time:1700 total_client_parse_count:1700 total_server_parse_count:1700 total_bind_count:1700 avg_server_assignment_count:1700 avg_xact_count:1700 avg_query_count:1700 avg_recv:1700 avg_sent:1700 avg_xact_time:1700 avg_query_time:1700 avg_wait_time:1700 avg_client_parse_count:1700 avg_server_parse_count:1700 avg_bind_count:1700" },
        { "SHOW STATS_TOTALS", "database:25 server_assignment_count:1700 xact_count:1700 query_count:1700 bytes_received:1700 bytes_sent:1700 xact_time:1700 query_time:1700 wait_time:1700 client_parse_count:1700 server_parse_count:1700 bind_count:1700" },
        { "SHOW STATS_AVERAGES", "database:25 server_assignment_count:1700 xact_count:1700 query_count:1700 bytes_received:1700 bytes_sent:1700 xact_time:1700 query_time:1700 wait_time:1700 avg_client_parse_count:1700 avg_server_parse_count:1700 avg_bind_count:1700" },
        { "SHOW TOTALS", "name:25 value:1700" },
        { "SHOW LISTS", "list:25 items:23" },
        { "SHOW MEM", "name:25 size:23 used:23 free:23 memtotal:23" },
        { "SHOW CONFIG", "key:25 value:25 default:25 changeable:25" },
        { "show version;", "version:25" },
    };

    [Theory]
    [MemberData(nameof(PgBouncerColumns))]
    public async Task Every_SHOW_command_answers_with_PgBouncer_columns_in_order_with_their_types(string command, string columns)
    {
        await using var pooler = StartPooler();
        await using (var client = new NpgsqlConnection(Counted(pooler.Port)))
        {
            await client.OpenAsync(); // a pool, a client and a server to list
            await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Watcher);
            var answer = await console.ShowAsync(command);
            Assert.Equal(columns, string.Join(" ", answer.Columns.Select(column => $"{column.Name}:{column.TypeOid}")));
            Assert.Equal(["SHOW"], answer.Tags);
            Assert.NotEmpty(answer.Rows);
            Assert.All(answer.Rows, row => Assert.Equal(answer.Columns.Count, row.Length));
        }
    }

    [Fact]
    public async Task SHOW_MEM_shows_the_receive_buffers_of_requests_queued_for_a_busy_pool_and_keeps_them_free_once_answered()
    {
        await using var pooler = StartPooler(poolSize: 1);
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Watcher);
        var clients = await Task.WhenAll(Enumerable.Range(0, 5).Select(async _ =>
        {
            var client = new NpgsqlConnection(Counted(pooler.Port));
            await client.OpenAsync();
            return client;
        }));
        var sleeps = clients.Select(async client =>
        {
            await using var sleep = new NpgsqlCommand("select pg_sleep(0.5)", client);
            await sleep.ExecuteNonQueryAsync();
        }).ToList();

        // One of the five runs; four requests wait for the pool's one connection, each in its client's buffer.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var queued = await console.ShowAsync("SHOW MEM");
        while (queued.Number("used", "iobuf_cache") < 4 && DateTime.UtcNow < deadline)
        {
            queued = await console.ShowAsync("SHOW MEM");
        }

        Assert.True(queued.Number("used", "iobuf_cache") >= 4, $"used {queued.Number("used", "iobuf_cache")} while four requests waited");
        await Task.WhenAll(sleeps);
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        var after = await console.ShowAsync("SHOW MEM");
        var (used, free) = (after.Number("used", "iobuf_cache"), after.Number("free", "iobuf_cache"));
        Assert.True(used <= 1, $"{used} buffers still held once every client but the console left"); // the console's own request, at most
        Assert.True(free >= 4, $"{free} buffers kept for the next requests");
        Assert.Equal(16384, after.Number("size", "iobuf_cache"));
        Assert.Equal((used + free) * 16384, after.Number("memtotal", "iobuf_cache"));
    }

    [Fact]
    public async Task SHOW_STATS_counts_exactly_the_transactions_and_queries_psql_ran_and_the_bytes_both_ways()
    {
        await using var pooler = StartPooler();
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Watcher);
        var script = string.Concat(Enumerable.Repeat("select 1;\n", 10)) + "begin;\nselect 1;\nselect 2;\ncommit;\n";
        await postgres.RunToolAsync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", Admin, "counted"],
            script);

        var stats = await console.ShowAsync("SHOW STATS");
        Assert.Equal(11, stats.Number("total_xact_count", "counted")); // ten single statements and one transaction block
        Assert.Equal(14, stats.Number("total_query_count", "counted"));
        Assert.True(stats.Number("total_received", "counted") > 14 * "select 1;".Length);
        Assert.True(stats.Number("total_sent", "counted") > 0);
        Assert.True(stats.Number("total_xact_time", "counted") >= stats.Number("total_query_time", "counted") / 2);
        var totals = await console.ShowAsync("SHOW STATS_TOTALS");
        Assert.Equal("11", totals.Value("xact_count", "counted"));
    }

    [Fact]
    public async Task SHOW_POOLS_and_SHOW_CLIENTS_show_the_clients_waiting_while_the_only_connection_is_busy()
    {
        await using var pooler = StartPooler(poolSize: 1);
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Watcher);
        var sleepers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(Counted(pooler.Port));
            await connection.OpenAsync();
            await using var sleep = new NpgsqlCommand("select pg_sleep(0.7)", connection);
            await sleep.ExecuteNonQueryAsync();
        })).ToList();

        // Two commands are two snapshots: logins wait for the connection too, briefly, so a wait SHOW
        // POOLS saw may be over by the SHOW CLIENTS after it. Each must show it on its own at some point.
        bool sawWaiting = false, clientsShowedWaiting = false;
        while (!(sawWaiting && clientsShowedWaiting) && !Task.WhenAll(sleepers).IsCompleted)
        {
            var pools = await console.ShowAsync("SHOW POOLS");
            if (pools.Rows.Any(row => row[0] == "counted") && pools.Number("cl_waiting", "counted", Admin) >= 2
                && pools.Number("sv_active", "counted", Admin) == 1)
            {
                Assert.True(pools.Number("maxwait_us", "counted", Admin) > 0 || pools.Number("maxwait", "counted", Admin) > 0);
                sawWaiting = true;
            }

            var clients = await console.ShowAsync("SHOW CLIENTS");
            // Clients waiting while the one that holds the connection shows it linked to its server.
            clientsShowedWaiting |= clients.Rows.Any(row => row[2] == "counted" && row[4] == "waiting")
                && clients.Rows.Any(row => row[2] == "counted" && row[4] == "active" && row[15] is { Length: > 0 });

            await Task.Delay(20);
        }

        await Task.WhenAll(sleepers);
        Assert.True(sawWaiting, "SHOW POOLS never showed the waiting clients");
        Assert.True(clientsShowedWaiting, "SHOW CLIENTS never showed a waiting client");
        var stats = await console.ShowAsync("SHOW STATS");
        Assert.True(stats.Number("total_wait_time", "counted") > 500_000, "four clients took turns on one connection for 0.7 s each"); // microseconds
    }

    [Fact]
    public async Task SHOW_STATE_says_paused_after_a_PAUSE_of_everything_even_before_any_pool_exists_and_active_again_after_RESUME()
    {
        await using var pooler = StartPooler();
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Admin);
        string State(ConsoleAnswer answer, string key) => answer.Rows.Single(row => row[0] == key)[1]!;

        var before = await console.ShowAsync("SHOW STATE");
        Assert.Equal(("yes", "no"), (State(before, "active"), State(before, "paused")));
        Assert.Equal(["PAUSE"], (await console.ShowAsync("PAUSE")).Tags); // no pool yet: nothing to wait for
        var paused = await console.ShowAsync("SHOW STATE");
        Assert.Equal(("no", "yes"), (State(paused, "active"), State(paused, "paused")));
        Assert.Equal(["RESUME"], (await console.ShowAsync("RESUME")).Tags);
        var resumed = await console.ShowAsync("SHOW STATE");
        Assert.Equal(("yes", "no"), (State(resumed, "active"), State(resumed, "paused")));
    }

    [Fact]
    public async Task PAUSE_waits_for_the_open_transaction_then_holds_new_ones_and_RESUME_lets_them_run_with_nothing_lost()
    {
        await using var pooler = StartPooler();
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Admin);
        Assert.Equal(["PAUSE"], (await console.ShowAsync("PAUSE counted")).Tags); // no pool yet: the one made next would start paused
        Assert.Equal(["RESUME"], (await console.ShowAsync("RESUME counted")).Tags);
        await using var inTransaction = new NpgsqlConnection(Counted(pooler.Port));
        await inTransaction.OpenAsync();
        await using var transaction = await inTransaction.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand("select 1", inTransaction, transaction))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await using var admin2 = await ConsoleClient.ConnectAsync(pooler.Port, Admin);
        var pause = console.RunAsync("PAUSE counted");
        await Task.Delay(300);
        Assert.False(pause.IsCompleted, "PAUSE returned while a transaction was open");
        await transaction.CommitAsync();
        var paused = await pause.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["PAUSE"], paused.Tags);
        Assert.Equal(1, (await admin2.ShowAsync("SHOW DATABASES")).Number("paused", "counted"));

        var held = Task.Run(async () =>
        {
            await using var select = new NpgsqlCommand("select 42", inTransaction);
            return (int)(await select.ExecuteScalarAsync())!;
        });
        await Task.Delay(300);
        Assert.False(held.IsCompleted, "a transaction began on a paused database");
        Assert.Equal(0, (await admin2.ShowAsync("SHOW SERVERS")).Rows.Count(row => row[2] == "counted")); // PAUSE closed them

        Assert.Equal(["RESUME"], (await admin2.ShowAsync("RESUME counted")).Tags);
        Assert.Equal(42, await held.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("08P01", (await admin2.RunAsync("RESUME counted")).Error?.SqlState); // not paused any more
    }

    [Fact]
    public async Task Only_admin_and_stats_users_get_in_stats_users_only_look_and_the_extended_protocol_is_refused_but_the_console_goes_on()
    {
        await using (var adminsOnly = postgres.StartPooler($"auth_type = trust, admin_users = {Admin}"))
        {
            var refused = await Assert.ThrowsAsync<ConsoleRefusedException>(() => ConsoleClient.ConnectAsync(adminsOnly.Port, Watcher));
            Assert.Equal(("FATAL", "28000", "not allowed"), (refused.Error.Severity, refused.Error.SqlState, refused.Error.Message));
        }

        await using var pooler = StartPooler();

        await using var watcher = await ConsoleClient.ConnectAsync(pooler.Port, Watcher);
        foreach (var command in new[] { "PAUSE", "RELOAD", "SET default_pool_size = 2", "KILL counted", "SHUTDOWN" })
        {
            var answer = await watcher.RunAsync(command);
            Assert.Equal(("42501", "admin access needed"), (answer.Error?.SqlState, answer.Error?.Message));
        }

        var help = await watcher.ShowAsync("SHOW HELP");
        Assert.Contains("SHOW HELP|CONFIG|DATABASES", help.Notices.Single().Detail);
        Assert.Equal("08P01", (await watcher.RunAsync("SHOW POOLS; SHOW USERS")).Error?.SqlState);
        Assert.StartsWith("invalid command 'select 1'", (await watcher.RunAsync("select 1")).Error?.Message);

        var extended = await watcher.SendAsync(new MessageBuilder().Parse("", "SHOW POOLS").Bind("", "").Execute("").Sync());
        Assert.Equal("0A000", extended.Error?.SqlState);
        Assert.False(extended.Closed);
        Assert.StartsWith("PgBouncer 1.25.2", (await watcher.ShowAsync("SHOW VERSION")).Rows.Single()[0]);
    }

    [Fact]
    public async Task KILL_CLIENT_DISABLE_ENABLE_RECONNECT_and_SET_do_what_they_say()
    {
        await using var pooler = StartPooler();
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Admin);
        await using var victim = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, Admin, database: "counted"));
        await victim.OpenAsync();
        var before = await BackendPidAsync(victim);

        Assert.Equal(["RECONNECT"], (await console.ShowAsync("RECONNECT counted")).Tags);
        Assert.Equal(["WAIT_CLOSE"], (await console.ShowAsync("WAIT_CLOSE counted")).Tags);
        Assert.NotEqual(before, await BackendPidAsync(victim)); // a new server connection

        var id = (await console.ShowAsync("SHOW CLIENTS")).Rows.Single(row => row[2] == "counted")[14]!;
        Assert.Equal(["KILL_CLIENT"], (await console.ShowAsync($"KILL_CLIENT {id}")).Tags);
        var killed = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var select = new NpgsqlCommand("select 1", victim);
            await select.ExecuteScalarAsync();
        });
        Assert.Contains("57P01", killed.ToString());

        Assert.Equal(["DISABLE"], (await console.ShowAsync("DISABLE counted")).Tags);
        var disabled = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var late = new NpgsqlConnection(Counted(pooler.Port));
            await late.OpenAsync();
        });
        Assert.Equal("57P03", disabled.SqlState);
        Assert.Equal(1, (await console.ShowAsync("SHOW DATABASES")).Number("disabled", "counted"));
        await console.ShowAsync("ENABLE counted");
        await using (var again = new NpgsqlConnection(Counted(pooler.Port)))
        {
            await again.OpenAsync();
        }

        Assert.Equal(["SET default_pool_size=7"], (await console.ShowAsync("SET default_pool_size = 7")).Tags);
        Assert.Equal("7", (await console.ShowAsync("SHOW CONFIG")).Value("value", "default_pool_size"));
        Assert.Equal(7, (await console.ShowAsync("SHOW DATABASES")).Number("pool_size", "counted"));
        Assert.Equal("55P02", (await console.RunAsync("SET listen_port = 7000")).Error?.SqlState);
        Assert.Equal("08P01", (await console.RunAsync("SET default_pool_size = none")).Error?.SqlState);
        Assert.Equal("08P01", (await console.RunAsync("KILL nosuchdb")).Error?.SqlState);
        Assert.Equal("0A000", (await console.RunAsync("SUSPEND")).Error?.SqlState);
    }

    [Fact]
    public async Task RELOAD_with_a_smaller_pool_under_pgbench_load_fails_no_transaction_and_a_broken_file_keeps_the_running_settings()
    {
        await postgres.EnsurePgbenchInitializedAsync();
        var file = Path.Combine(Path.GetTempPath(), $"pgba-reload-{Guid.NewGuid():N}.conf");
        string Configuration(int poolSize) => $$"""
            pgbouncer {
              listen_port = 0, auth_type = trust, auth_file = "{{postgres.UserListPath}}", pool_mode = transaction
              default_pool_size = {{poolSize}}, admin_users = {{Admin}}, max_client_conn = 100
            }
            databases { "*" { host = 127.0.0.1, port = {{postgres.Cluster.Port}} } }
            pgbouncer-actors { shutdown_timeout = 0 }
            """;
        await File.WriteAllTextAsync(file, Configuration(6));
        try
        {
            await using var pooler = PoolerHost.Start(PgBouncerActors.Configuration.SettingsLoader.LoadFile(file), Serilog.Core.Logger.None);
            await using var console = await ConsoleClient.ConnectAsync(pooler.Port, Admin);
            var bench = postgres.RunToolAsync("pgbench", ["-n", "-S", "-c", "10", "-j", "2", "-T", "4", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", Admin, "bench"]);
            await Task.Delay(1500);
            await File.WriteAllTextAsync(file, Configuration(2));
            Assert.Equal(["RELOAD"], (await console.ShowAsync("RELOAD")).Tags);
            var output = await bench;
            Assert.Equal("0", PostgresFixture.FailedTransactions(output));
            Assert.Equal(2, (await console.ShowAsync("SHOW DATABASES")).Number("pool_size", "bench"));
            var servers = await console.ShowAsync("SHOW SERVERS");
            Assert.True(servers.Rows.Count(row => row[2] == "bench") <= 2, "the pool did not shrink to its new size");

            await File.WriteAllTextAsync(file, Configuration(3).Replace("pool_mode = transaction", "pool_mode = transaction\n  default_pool_size = {"));
            var broken = await console.RunAsync("RELOAD");
            Assert.Equal("F0000", broken.Error?.SqlState);
            Assert.Equal("RELOAD failed, see logs for additional details", broken.Error?.Message); // PgBouncer's words
            Assert.Contains($"{Path.GetFileName(file)}:", broken.Error?.Detail); // file:line:column
            Assert.Equal("2", (await console.ShowAsync("SHOW CONFIG")).Value("value", "default_pool_size"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Psql_reads_SHOW_POOLS_as_it_reads_PgBouncer()
    {
        await using var pooler = StartPooler();
        var output = await postgres.RunToolAsync("psql", ["-X", "-A", "-F", "|", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", Admin, "pgbouncer",
            "-c", "SHOW POOLS", "-c", "SHOW VERSION"]);
        Assert.StartsWith("database|user|cl_active|cl_waiting|", output);
        Assert.Contains("pgbouncer|pgbouncer|1|0|", output);
        Assert.Contains("PgBouncer 1.25.2", output);
    }

    private static async Task<int> BackendPidAsync(NpgsqlConnection connection)
    {
        await using var select = new NpgsqlCommand("select pg_backend_pid()", connection);
        return (int)(await select.ExecuteScalarAsync())!;
    }
}
