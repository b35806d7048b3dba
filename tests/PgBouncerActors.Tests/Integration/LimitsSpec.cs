using Npgsql;
using PgBouncerActors.Admin;
using PgBouncerActors.Hosting;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>The rest of PgBouncer's limits and switches, with PgBouncer's meanings and errors, through real clients to PostgreSQL.</summary>
[Collection(PostgresCollection.Name)]
public sealed class LimitsSpec(PostgresFixture postgres)
{
    private const string User = PostgresFixture.ScramUser;

    private string Database(string name, string extra = "") =>
        $"{name} {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres {extra} }}";

    private static async Task<NpgsqlConnection> OpenAsync(PoolerHost pooler, string database, string user = User,
        string password = PostgresFixture.ScramPassword, string? applicationName = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port, user, password, database))
        {
            ApplicationName = applicationName,
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    [Fact]
    public async Task Max_db_client_connections_refuses_the_client_past_it_with_53300_and_PgBouncer_message_and_lets_one_in_once_another_left()
    {
        await using var pooler = postgres.StartPooler("max_db_client_connections = 5", databases: Database("small", ", max_db_client_connections = 2"));
        await using var first = await OpenAsync(pooler, "small");
        var second = await OpenAsync(pooler, "small");
        var refused = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(pooler, "small"));
        Assert.Equal(("53300", "client connections exceeded (max_db_client_connections)"), (refused.SqlState, refused.MessageText));
        await using (await OpenAsync(pooler, "postgres")) // another database has its own count (the global 5)
        {
        }

        await second.DisposeAsync();
        await using var third = await PollUntilOpenAsync(pooler, "small"); // the session that left gave its place back
        Assert.Equal(1, await ScalarAsync(third, "select 1"));
    }

    [Fact]
    public async Task Max_client_conn_refuses_the_next_client_but_never_the_admin_console_and_a_client_that_closed_frees_its_place_at_once()
    {
        await using var pooler = postgres.StartPooler($"auth_type = trust, max_client_conn = 2, admin_users = {User}");
        await using var first = await OpenAsync(pooler, "postgres");
        var second = await OpenAsync(pooler, "postgres");
        var refused = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(pooler, "postgres"));
        Assert.Equal(("53300", "no more connections allowed (max_client_conn = 2)"), (refused.SqlState, refused.MessageText));

        // Closed, then at once another: no polling; the client loop frees the place as it reads the goodbye,
        // before the next client's startup packet can arrive.
        for (var round = 0; round < 20; round++)
        {
            await second.DisposeAsync();
            second = await OpenAsync(pooler, "postgres");
        }

        Assert.Equal(1, await ScalarAsync(second, "select 1"));
        await using (var console = await ConsoleClient.ConnectAsync(pooler.Port, User)) // an operator gets in over the limit
        {
            var databases = await console.ShowAsync("SHOW DATABASES");
            Assert.Equal("1", databases.Value("current_client_connections", "pgbouncer")); // and is counted there
        }

        await second.DisposeAsync();
    }

    [Fact]
    public async Task Max_db_client_connections_counts_the_admin_console_refusing_a_stats_user_but_never_an_admin()
    {
        const string Watcher = PostgresFixture.Md5User;
        await using var pooler = postgres.StartPooler($"auth_type = trust, max_db_client_connections = 1, admin_users = {User}, stats_users = {Watcher}");
        await using var watcher = await ConsoleClient.ConnectAsync(pooler.Port, Watcher);
        var refused = await Assert.ThrowsAsync<ConsoleRefusedException>(() => ConsoleClient.ConnectAsync(pooler.Port, Watcher));
        Assert.Equal(("53300", "client connections exceeded (max_db_client_connections)"), (refused.Error.SqlState, refused.Error.Message));
        await using var admin = await ConsoleClient.ConnectAsync(pooler.Port, User);
        var databases = await admin.ShowAsync("SHOW DATABASES");
        Assert.Equal(("1", "2"), (databases.Value("max_client_connections", "pgbouncer"), databases.Value("current_client_connections", "pgbouncer")));
    }

    [Fact]
    public async Task Max_user_client_connections_of_a_users_entry_counts_the_user_over_every_database()
    {
        await using var pooler = postgres.StartPooler(
            databases: Database("one") + "\n" + Database("two"),
            users: $"{User} {{ max_user_client_connections = 2 }}");
        await using var a = await OpenAsync(pooler, "one");
        await using var b = await OpenAsync(pooler, "two");
        var refused = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(pooler, "one"));
        Assert.Equal(("53300", "client connections exceeded (max_user_client_connections)"), (refused.SqlState, refused.MessageText));
        await using var other = await OpenAsync(pooler, "one", PostgresFixture.Md5User, PostgresFixture.Md5Password); // another user is not counted
    }

    [Fact]
    public async Task Max_user_connections_caps_one_users_server_connections_over_all_its_databases_under_load_and_everyone_is_served()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 4, max_user_connections = 2, query_wait_timeout = 60",
            databases: Database("left") + "\n" + Database("right"));
        using var sampling = new CancellationTokenSource();
        var most = 0;
        var sampler = Task.Run(async () =>
        {
            await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
            await direct.OpenAsync();
            while (!sampling.IsCancellationRequested)
            {
                var count = Convert.ToInt32(await ScalarAsync(direct, $"select count(*) from pg_stat_activity where usename = '{User}'"));
                most = Math.Max(most, count);
                await Task.Delay(10);
            }
        });
        var clients = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            await using var connection = await OpenAsync(pooler, i % 2 == 0 ? "left" : "right");
            for (var round = 0; round < 3; round++)
            {
                await ScalarAsync(connection, "select pg_sleep(0.05)");
            }
        })).ToList();
        await Task.WhenAll(clients); // nobody refused, nobody timed out
        await sampling.CancelAsync();
        await sampler;
        Assert.InRange(most, 1, 2);
    }

    /// <summary>How many server connections the pools of <paramref name="database"/> hold now (SHOW SERVERS).</summary>
    private static async Task<int> ServersOfAsync(PoolerHost pooler, string database, string admin = PostgresFixture.Md5User)
    {
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, admin);
        var servers = await console.ShowAsync("SHOW SERVERS");
        var column = servers.Columns.FindIndex(c => c.Name == "database");
        return servers.Rows.Count(row => row[column] == database);
    }

    [Fact]
    public async Task A_users_pool_size_and_reserve_win_over_its_databases_and_a_database_has_its_own_reserve_as_in_PgBouncer()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler(
            $"auth_type = trust, pool_mode = transaction, default_pool_size = 5, reserve_pool_timeout = 0.3, query_wait_timeout = 30, admin_users = {PostgresFixture.Md5User}",
            Database("sized", ", pool_size = 3, reserve_pool_size = 3") + "\n" + Database("reserved", ", pool_size = 1, reserve_pool = 1"),
            users: $"{User} {{ pool_size = 1, reserve_pool_size = 0 }}", log: log);

        // The user's pool_size (1) and reserve (none) over the database's 3 and 3: three clients take turns on one connection.
        await Task.WhenAll(Enumerable.Range(0, 3).Select(async _ =>
        {
            await using var connection = await OpenAsync(pooler, "sized");
            await ScalarAsync(connection, "select pg_sleep(0.5)");
        }));
        Assert.Equal(1, await ServersOfAsync(pooler, "sized"));
        Assert.Equal(0, log.Count("taking connection from reserve_pool"));

        // Another user has no entry: the database's pool_size (1) and its reserve (PgBouncer's older key reserve_pool) apply.
        await using var holder = await OpenAsync(pooler, "reserved", PostgresFixture.Md5User, PostgresFixture.Md5Password);
        await using var waiter = await OpenAsync(pooler, "reserved", PostgresFixture.Md5User, PostgresFixture.Md5Password);
        await using var transaction = await holder.BeginTransactionAsync();
        await ScalarAsync(holder, "select 1");
        Assert.Equal(2, await ScalarAsync(waiter, "select 2").WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, log.Count("taking connection from reserve_pool"));
        await transaction.CommitAsync();
    }

    [Fact]
    public async Task A_database_with_a_forced_user_and_min_pool_size_is_filled_before_any_client_comes()
    {
        await using var pooler = postgres.StartPooler($"auth_type = trust, admin_users = {PostgresFixture.Md5User}",
            Database("warm", $", user = {User}, min_pool_size = 2") + "\n" + Database("cold", ", min_pool_size = 2"));
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (await ServersOfAsync(pooler, "warm") < 2 && deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(100);
        }

        Assert.Equal(2, await ServersOfAsync(pooler, "warm"));
        Assert.Equal(0, await ServersOfAsync(pooler, "cold")); // no forced user: its pools are known only once a client comes
    }

    [Fact]
    public async Task A_databases_own_server_lifetime_retires_its_connections_while_others_keep_theirs()
    {
        await using var pooler = postgres.StartPooler("auth_type = trust, pool_mode = transaction",
            Database("short", ", server_lifetime = 1") + "\n" + Database("long"));
        await using var shortLived = await OpenAsync(pooler, "short");
        await using var longLived = await OpenAsync(pooler, "long");
        var (shortPid, longPid) = (await ScalarAsync(shortLived, "select pg_backend_pid()"), await ScalarAsync(longLived, "select pg_backend_pid()"));
        await Task.Delay(TimeSpan.FromSeconds(3)); // past the database's lifetime, and a janitor round
        Assert.NotEqual(shortPid, await ScalarAsync(shortLived, "select pg_backend_pid()"));
        Assert.Equal(longPid, await ScalarAsync(longLived, "select pg_backend_pid()"));
    }

    [Fact]
    public async Task A_client_that_waited_reserve_pool_timeout_is_served_from_the_reserve_while_the_pool_is_full()
    {
        await using var pooler = postgres.StartPooler(
            "pool_mode = transaction, default_pool_size = 1, reserve_pool_size = 1, reserve_pool_timeout = 0.3, query_wait_timeout = 30",
            databases: Database("busy"));
        await using var holder = await OpenAsync(pooler, "busy");
        await using var waiter = await OpenAsync(pooler, "busy");
        await using var transaction = await holder.BeginTransactionAsync();
        await ScalarAsync(holder, "select 1"); // holds the pool's only connection

        var waited = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(2, await ScalarAsync(waiter, "select 2").WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(waited.Elapsed >= TimeSpan.FromSeconds(0.3), $"served after {waited.Elapsed}, before reserve_pool_timeout");
        await transaction.CommitAsync();
    }

    [Fact]
    public async Task Server_round_robin_lends_the_idle_connection_that_waited_longest_so_session_clients_take_turns_over_both()
    {
        await using var pooler = postgres.StartPooler(
            $"auth_type = trust, stats_users = {PostgresFixture.Md5User}, default_pool_size = 2, server_round_robin = 1",
            databases: Database("spread"));
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.Md5User);
        await using (var a = await OpenAsync(pooler, "spread"))
        await using (var b = await OpenAsync(pooler, "spread"))
        {
            Assert.NotEqual(await ScalarAsync(a, "select pg_backend_pid()"), await ScalarAsync(b, "select pg_backend_pid()")); // two open now
        }

        await BothIdleAsync(console);
        var pids = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            await using var client = await OpenAsync(pooler, "spread");
            pids.Add((int)(await ScalarAsync(client, "select pg_backend_pid()"))!);
            await client.CloseAsync();
            await BothIdleAsync(console); // the reset query ran: both are idle again before the next client
        }

        // Oldest first: each client gets the connection the previous one did not use (most recently used first would repeat one).
        Assert.All(pids.Zip(pids.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Server_fast_close_ends_a_session_client_after_its_transaction_once_RECONNECT_wants_its_server_connection_replaced(bool fastClose)
    {
        await using var pooler = postgres.StartPooler(
            $"auth_type = trust, admin_users = {PostgresFixture.Md5User}, server_fast_close = {(fastClose ? 1 : 0)}", databases: Database("sessions"));
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.Md5User);
        await using var client = await OpenAsync(pooler, "sessions");
        await using (var transaction = await client.BeginTransactionAsync())
        {
            Assert.Equal(1, await ScalarAsync(client, "select 1"));
            await console.ShowAsync("RECONNECT sessions");
            await Task.Delay(200);
            Assert.Equal(2, await ScalarAsync(client, "select 2")); // its transaction is not cut
            await transaction.CommitAsync();
        }

        var deadline = DateTime.UtcNow.AddSeconds(3);
        Exception? ended = null;
        while (ended is null && DateTime.UtcNow < deadline)
        {
            try
            {
                await ScalarAsync(client, "select 3");
                await Task.Delay(20);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                ended = e;
            }
        }

        if (fastClose)
        {
            var fatal = Assert.IsType<PostgresException>(ended);
            Assert.Equal("57P01", fatal.SqlState);
            Assert.Contains("server_fast_close", fatal.MessageText);
        }
        else
        {
            Assert.Null(ended); // it keeps its connection until it leaves, as PgBouncer does without the setting
        }
    }

    [Fact]
    public async Task Disable_pqexec_refuses_psqls_simple_queries_with_PgBouncer_error_while_Npgsqls_extended_protocol_runs()
    {
        await using var pooler = postgres.StartPooler("disable_pqexec = 1");
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => postgres.RunToolAsync("psql",
            ["-X", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", User, "-c", "select 1", "postgres"]));
        Assert.Contains("PQexec disallowed", failed.Message); // psql's stderr
        // Npgsql loads its type catalog with one simple Query at its first open: as with PgBouncer, it must be told not to.
        var builder = new NpgsqlDataSourceBuilder(PostgresFixture.ConnectionString(pooler.Port));
        builder.ConfigureTypeLoading(typeLoading => typeLoading.EnableTypeLoading(false));
        await using var source = builder.Build();
        await using var client = await source.OpenConnectionAsync();
        Assert.Equal(7, await ScalarAsync(client, "select 7"));
    }

    [Fact]
    public async Task Application_name_add_host_shows_the_server_each_clients_address_after_its_application_name()
    {
        await using var pooler = postgres.StartPooler("application_name_add_host = 1");
        await using var client = await OpenAsync(pooler, "postgres", applicationName: "billing");
        var name = (string)(await ScalarAsync(client, "select application_name from pg_stat_activity where pid = pg_backend_pid()"))!;
        Assert.Matches(@"^billing - 127\.0\.0\.1:\d+$", name);
    }

    [Fact]
    public async Task Log_connections_and_log_disconnections_off_leave_logins_and_logouts_out_of_the_log()
    {
        var log = new LogCapture();
        await using (var pooler = postgres.StartPooler("log_connections = 0, log_disconnections = 0", log: log))
        {
            await using (var client = await OpenAsync(pooler, "postgres"))
            {
                Assert.Equal(1, await ScalarAsync(client, "select 1"));
            }

            await Task.Delay(200); // the logout is logged as the session ends
        }

        Assert.Equal(0, log.Count("client login"));
        Assert.Equal(0, log.Count("client logout"));
        Assert.Equal(1, log.Count("listening on 127.0.0.1")); // the log itself works
    }

    [Fact]
    public async Task A_reload_that_removes_a_database_lets_its_client_finish_the_transaction_then_names_the_reason_and_a_moved_one_follows()
    {
        const string pgbouncer = "pool_mode = transaction, default_pool_size = 2";
        await postgres.EnsurePgbenchInitializedAsync(); // the database "bench" exists
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler(pgbouncer, databases: Database("leaving") + "\n" + Database("moving"), fallback: false, log: log);
        await using var leaving = await OpenAsync(pooler, "leaving");
        await using var moving = await OpenAsync(pooler, "moving");
        Assert.Equal("postgres", await ScalarAsync(moving, "select current_database()"));
        await using var transaction = await leaving.BeginTransactionAsync();
        Assert.Equal(1, await ScalarAsync(leaving, "select 1"));

        var moved = $"moving {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = bench }}";
        pooler.Apply(ConfigView.TakeChangeable(pooler.Settings, postgres.Settings(pgbouncer, databases: moved, fallback: false)));
        // The pools hear of it a moment later (a message each); a transaction begun before that runs where it began.
        // The moving client's connection, parked with it since its last transaction, goes back and closes first
        // (a message to its session): until then a transaction of it could still start on the old server.
        for (var waited = 0; log.Count("database leaving was removed from the configuration") == 0
             || log.Count("the database's server changed in the configuration") == 0; waited += 10)
        {
            Assert.True(waited < 10_000, "the pools never heard of the reload:\n" + string.Join("\n", log.Lines));
            await Task.Delay(10);
        }

        Assert.Equal(2, await ScalarAsync(leaving, "select 2")); // its transaction goes on, on the same server connection
        await transaction.CommitAsync();
        var refused = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(leaving, "select 3"));
        Assert.Equal("3D000", refused.SqlState);
        Assert.Contains("\"leaving\" was removed from the pooler's configuration", refused.MessageText);

        Assert.Equal("bench", await ScalarAsync(moving, "select current_database()")); // its next transaction reaches the new server database
        await using var newcomer = await OpenAsync(pooler, "moving");
        Assert.Equal("bench", await ScalarAsync(newcomer, "select current_database()"));
    }

    private static async Task BothIdleAsync(ConsoleClient console)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await console.ShowAsync("SHOW POOLS")).Number("sv_idle", "spread", User) < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the server connections did not come back idle");
            await Task.Delay(10);
        }
    }

    private static async Task<NpgsqlConnection> PollUntilOpenAsync(PoolerHost pooler, string database)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                return await OpenAsync(pooler, database);
            }
            catch (PostgresException e) when (e.SqlState == "53300" && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
    }

    [Fact]
    public async Task A_pool_kept_at_min_pool_size_yields_a_max_db_connections_place_to_another_users_waiting_client_and_does_not_take_it_back()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler("pool_mode = transaction, query_wait_timeout = 8", log: log,
            databases: Database("limited", ", min_pool_size = 3, max_db_connections = 2"));
        await using (var warm = await OpenAsync(pooler, "limited"))
        {
            await ScalarAsync(warm, "select 1"); // the SCRAM user's pool fills to max_db_connections, aiming at min_pool_size
        }

        await Task.Delay(1500); // the warm pool holds both places
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var other = await OpenAsync(pooler, "limited", PostgresFixture.Md5User, PostgresFixture.Md5Password);
        Assert.Equal(1, await ScalarAsync(other, "select 1"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed}"); // a janitor round or two, not query_wait_timeout
        await Task.Delay(2500);
        // The place given up stays given: the warm pool does not close and reopen connections every second.
        Assert.True(log.Count("room for another pool") <= 1, string.Join("\n", log.Lines));
    }
}
