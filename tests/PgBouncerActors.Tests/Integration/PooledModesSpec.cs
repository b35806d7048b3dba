using System.Diagnostics;
using Npgsql;
using PgBouncerActors.Demo;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>Transaction and statement modes with real drivers and PostgreSQL's own tools, under load.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PooledModesSpec(PostgresFixture postgres)
{
    private static async Task<NpgsqlConnection> OpenAsync(int port, string? applicationName = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(port)) { ApplicationName = applicationName };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    [Theory]
    [InlineData("simple", "-S")]
    [InlineData("extended", "-S")]
    [InlineData("simple", "tpcb-like")]
    [InlineData("prepared", "-S")]
    [InlineData("prepared", "tpcb-like")]
    public async Task Pgbench_with_up_to_200_clients_over_a_pool_of_10_has_zero_failed_transactions_and_balances_reconcile(string queryMode, string script)
    {
        await postgres.EnsurePgbenchInitializedAsync();
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString("bench"));
        await direct.OpenAsync();
        await using (var zero = new NpgsqlCommand("""
            update pgbench_accounts set abalance = 0 where abalance <> 0; update pgbench_tellers set tbalance = 0;
            update pgbench_branches set bbalance = 0; truncate pgbench_history
            """, direct))
        {
            await zero.ExecuteNonQueryAsync();
        }

        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 10, max_client_conn = 250");
        // -n: no vacuum before the run, which would also empty pgbench_history.
        // pgbench prepares each statement with a blocking PQprepare just before its first run, which stops every client of
        // that pgbench thread meanwhile: one waiting for a server connection that a client of the same thread holds inside a
        // transaction would wait for good (through any transaction pooler). With a thread per client, nobody waits on itself.
        var (clients, threads, each) = queryMode == "prepared" && script != "-S" ? ("50", "50", "80") : ("200", "2", "20");
        var (output, errors) = await postgres.RunToolCapturingAsync("pgbench", ["-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U",
            PostgresFixture.ScramUser, "-n", script == "-S" ? "-S" : "--builtin=tpcb-like", "-M", queryMode, "-c", clients, "-j", threads, "-t", each, "bench"]);
        Assert.Matches("number of transactions actually processed: 4000/4000", output);
        // pgbench may report an error of one client (a prepared statement that "already exists") and still count 0 failures.
        Assert.DoesNotContain("error", errors, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("0", PostgresFixture.FailedTransactions(output));
        Assert.True(pooler.Stats.ServerLoginAttempts <= 10, $"the server saw {pooler.Stats.ServerLoginAttempts} logins for a pool of 10");

        // Every TPC-B transaction moves the same delta through an account, a teller, a branch and the history.
        await using var sums = new NpgsqlCommand("""
            select (select coalesce(sum(abalance), 0) from pgbench_accounts), (select coalesce(sum(tbalance), 0) from pgbench_tellers),
                   (select coalesce(sum(bbalance), 0) from pgbench_branches), (select coalesce(sum(delta), 0) from pgbench_history),
                   (select count(*) from pgbench_history)
            """, direct);
        await using var reader = await sums.ExecuteReaderAsync();
        await reader.ReadAsync();
        var history = reader.GetInt64(3);
        Assert.Equal(script == "-S" ? 0 : 4000, reader.GetInt64(4)); // one history row per committed TPC-B transaction
        Assert.Equal([history, history, history], [reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)]);
    }

    [Fact]
    public async Task A_connection_kept_between_transactions_goes_back_as_soon_as_another_client_needs_it()
    {
        // One server connection: the first client keeps it between its transactions while nobody
        // waits; the second client's login and query must get it back from the idle first client.
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1, query_wait_timeout = 5");
        await using var first = await OpenAsync(pooler.Port);
        var pid = await ScalarAsync<int>(first, "select pg_backend_pid()");
        Assert.Equal(pid, await ScalarAsync<int>(first, "select pg_backend_pid()"));

        await using var second = await OpenAsync(pooler.Port);
        Assert.Equal(pid, await ScalarAsync<int>(second, "select pg_backend_pid()"));
        Assert.Equal(pid, await ScalarAsync<int>(first, "select pg_backend_pid()"));
        Assert.Equal(pid, await ScalarAsync<int>(second, "select pg_backend_pid()"));
    }

    [Fact]
    public async Task A_client_setting_TimeZone_or_application_name_never_changes_what_another_client_sees()
    {
        // One server connection: both clients necessarily use the same one, one transaction after the other.
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1");
        await using var alpha = await OpenAsync(pooler.Port, "alpha");
        await using var beta = await OpenAsync(pooler.Port, "beta");
        var betaZone = await ScalarAsync<string>(beta, "show TimeZone");

        await using (var set = new NpgsqlCommand("set TimeZone = 'Asia/Tokyo'; set application_name = 'alpha-2'", alpha))
        {
            await set.ExecuteNonQueryAsync();
        }

        var alphaPid = await ScalarAsync<int>(alpha, "select pg_backend_pid()");
        Assert.Equal(betaZone, await ScalarAsync<string>(beta, "show TimeZone"));
        Assert.Equal("beta", await ScalarAsync<string>(beta, "select current_setting('application_name')"));
        Assert.Equal(alphaPid, await ScalarAsync<int>(beta, "select pg_backend_pid()")); // the very same server connection
        Assert.Equal("Asia/Tokyo", await ScalarAsync<string>(alpha, "show TimeZone"));
        Assert.Equal("alpha-2", await ScalarAsync<string>(alpha, "select current_setting('application_name')"));
    }

    [Fact]
    public async Task A_cancel_through_the_pooler_stops_pg_sleep_with_57014_within_a_second_and_a_cancel_between_transactions_is_ignored()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 2");
        await using var client = await OpenAsync(pooler.Port);
        Assert.NotEqual(client.ProcessID, await ScalarAsync<int>(client, "select pg_backend_pid()")); // its own key, not a server's

        client.CreateCommand().Cancel(); // nothing running, no server connection held: ignored
        Assert.Equal(1, await ScalarAsync<int>(client, "select 1"));

        await using var sleep = new NpgsqlCommand("select pg_sleep(30)", client);
        var running = sleep.ExecuteNonQueryAsync();
        await Task.Delay(300);
        var clock = Stopwatch.StartNew();
        sleep.Cancel();
        var cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => running);
        Assert.Equal("57014", Assert.IsType<PostgresException>(cancelled.InnerException).SqlState);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"the cancel took {clock.Elapsed.TotalMilliseconds:0}ms");
        Assert.Equal(2, await ScalarAsync<int>(client, "select 2"));
    }

    [Fact]
    public async Task Terminating_a_lent_server_connection_fails_only_its_client_and_the_pool_returns_to_full_size()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 3");
        await using var victim = await OpenAsync(pooler.Port);
        await using var bystander = await OpenAsync(pooler.Port);
        await using var transaction = await victim.BeginTransactionAsync();
        var pid = await ScalarAsync<int>(victim, "select pg_backend_pid()");

        await using (var admin = new NpgsqlConnection(postgres.DirectConnectionString()))
        {
            await admin.OpenAsync();
            await using var kill = new NpgsqlCommand($"select pg_terminate_backend({pid})", admin);
            Assert.True((bool)(await kill.ExecuteScalarAsync())!);
        }

        var error = await Assert.ThrowsAnyAsync<Exception>(() => ScalarAsync<int>(victim, "select 1"));
        Assert.Contains("57P01", error is PostgresException postgresError ? postgresError.SqlState : error.InnerException?.Message ?? error.Message);
        Assert.Equal(1, await ScalarAsync<int>(bystander, "select 1"));

        // Three transactions held open together get three connections: the pool replaced the dead one. (Each holds its
        // connection until all three have one, so none can finish first and hand its connection on, as on a loaded machine.)
        var clients = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => OpenAsync(pooler.Port)));
        var holding = 0;
        var allHold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pids = await Task.WhenAll(clients.Select(async c =>
        {
            await using var t = await c.BeginTransactionAsync();
            var held = await ScalarAsync<int>(c, "select pg_backend_pid()");
            if (Interlocked.Increment(ref holding) == clients.Length)
            {
                allHold.TrySetResult();
            }

            Assert.True(await Task.WhenAny(allHold.Task, Task.Delay(TimeSpan.FromSeconds(20))) == allHold.Task,
                $"only {Volatile.Read(ref holding)} of 3 transactions got a connection within 20s: the pool did not return to its size");
            await t.CommitAsync();
            return held;
        }));
        Assert.Equal(3, pids.Distinct().Count());
        Assert.DoesNotContain(pid, pids);
        foreach (var c in clients)
        {
            await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_client_that_cannot_get_a_server_connection_within_query_wait_timeout_gets_an_error_naming_it()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1, query_wait_timeout = 1");
        await using var holder = await OpenAsync(pooler.Port);
        await using var waiter = await OpenAsync(pooler.Port);
        await using var transaction = await holder.BeginTransactionAsync();
        await ScalarAsync<int>(holder, "select 1"); // holds the only server connection until it commits

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync<int>(waiter, "select 2"));
        Assert.Equal("57014", error.SqlState);
        Assert.Contains("query_wait_timeout", error.MessageText);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
        await transaction.CommitAsync();
        Assert.Equal(3, await ScalarAsync<int>(holder, "select 3"));
    }

    [Theory]
    [InlineData("transaction")]
    [InlineData("statement")]
    public async Task A_login_while_every_server_connection_is_busy_is_answered_at_once_and_only_its_first_query_waits(string mode)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 1, query_wait_timeout = 30");
        await using var first = await OpenAsync(pooler.Port); // the pool's first login learns the server's parameters
        var busy = ScalarAsync<object>(first, "select pg_sleep(3)"); // holds the only server connection for three seconds
        await Task.Delay(300);

        var clock = Stopwatch.StartNew();
        // Without type loading: Npgsql's own first query at open would wait for the server like any query.
        var withoutTypeLoading = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port))
        {
            ApplicationName = "late-comer", Pooling = false,
        }.ConnectionString);
        withoutTypeLoading.ConfigureTypeLoading(typeLoading => typeLoading.EnableTypeLoading(false));
        await using var source = withoutTypeLoading.Build();
        await using var late = await source.OpenConnectionAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the login took {clock.Elapsed}: it waited for the busy connection");
        Assert.Equal("UTF8", late.PostgresParameters["client_encoding"]); // the server's parameters, as the pool knows them
        Assert.Equal("late-comer", late.PostgresParameters["application_name"]); // with the client's own over them
        Assert.False(busy.IsCompleted);

        // Its first query waits its turn, and runs with the client's settings.
        Assert.Equal("late-comer", await ScalarAsync<string>(late, "select current_setting('application_name')"));
        Assert.True(busy.IsCompleted);
    }

    [Fact]
    public async Task A_pooled_client_welcomed_without_a_server_connection_still_gets_every_startup_setting_and_the_servers_refusal_of_one()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 2");
        await using (await OpenAsync(pooler.Port))
        {
            // the pool knows its server's parameters from here on
        }

        var builder = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { Options = "-c work_mem=7MB", Timezone = "Asia/Tokyo" };
        await using var tuned = new NpgsqlConnection(builder.ConnectionString);
        await tuned.OpenAsync();
        Assert.Equal("7MB", await ScalarAsync<string>(tuned, "show work_mem")); // a setting the server does not report: applied with the first transaction
        Assert.Equal("Asia/Tokyo", tuned.PostgresParameters["TimeZone"]); // a reported one the client changes: learned from a server, as the server spells it
        Assert.Equal("Asia/Tokyo", await ScalarAsync<string>(tuned, "show timezone"));

        builder.Options = "-c work_mem=lots";
        builder.Timezone = null;
        await using var refused = new NpgsqlConnection(builder.ConnectionString);
        var error = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await refused.OpenAsync(); // Npgsql's type loading at open is the first transaction
            await ScalarAsync<int>(refused, "select 1");
        });
        Assert.Equal("22023", error.SqlState); // the server's own refusal, at the first transaction
        Assert.Contains("work_mem", error.MessageText);
    }

    [Fact]
    public async Task A_client_queued_longer_than_query_wait_notify_is_told_so_once_with_PgBouncers_notice_and_a_short_wait_is_not()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1, query_wait_notify = 1");
        await using var holder = await OpenAsync(pooler.Port);
        await using var waiter = await OpenAsync(pooler.Port);
        var notices = new List<PostgresNotice>();
        waiter.Notice += (_, e) => notices.Add(e.Notice);

        var sleeping = ScalarAsync<object>(holder, "select pg_sleep(2.5)"); // the only server connection, for 2.5 s
        await Task.Delay(200);
        Assert.Equal(2, await ScalarAsync<int>(waiter, "select 2")); // queued behind it for more than a second
        await sleeping;
        var notice = Assert.Single(notices);
        Assert.Equal("No server connection available in postgres backend, client being queued", notice.MessageText);
        Assert.Equal("00000", notice.SqlState);

        sleeping = ScalarAsync<object>(holder, "select pg_sleep(0.3)");
        await Task.Delay(50);
        Assert.Equal(3, await ScalarAsync<int>(waiter, "select 3")); // a wait shorter than query_wait_notify
        await sleeping;
        Assert.Single(notices);
    }

    [Fact]
    public async Task Statement_mode_runs_autocommit_commands_and_refuses_a_transaction_block()
    {
        await using var pooler = postgres.StartPooler("pool_mode = statement, default_pool_size = 2");
        await using var client = await OpenAsync(pooler.Port);
        Assert.Equal(3, await ScalarAsync<int>(client, "select 1 + 2"));
        await using (var prepared = new NpgsqlCommand("select $1::int * 2", client))
        {
            prepared.Parameters.AddWithValue(21);
            Assert.Equal(42, (int)(await prepared.ExecuteScalarAsync())!);
        }

        await using var refused = await OpenAsync(pooler.Port);
        var error = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync<int>(refused, "begin; select 1"));
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("transaction blocks not allowed in statement pooling mode", error.MessageText);
        Assert.Equal(5, await ScalarAsync<int>(client, "select 5")); // everyone else goes on
    }

    [Fact]
    public async Task Idle_transaction_timeout_disconnects_a_client_idle_inside_a_transaction_with_25P03()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1, idle_transaction_timeout = 1");
        await using var idler = await OpenAsync(pooler.Port);
        await using (var begin = new NpgsqlCommand("begin", idler))
        {
            await begin.ExecuteNonQueryAsync();
        }

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ScalarAsync<int>(idler, "select 1"));
        Assert.Contains("idle_transaction_timeout", error.InnerException?.Message ?? error.Message);

        // Its server connection was closed, not lent on inside the open transaction: the next client starts clean.
        await using var next = await OpenAsync(pooler.Port);
        var first = await ScalarAsync<long>(next, "select txid_current()");
        Assert.NotEqual(first, await ScalarAsync<long>(next, "select txid_current()")); // each statement its own transaction
    }

    [Fact]
    public async Task Idle_transaction_timeout_counts_from_the_servers_last_answer_so_a_long_query_inside_a_transaction_is_not_idle_time()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1, idle_transaction_timeout = 2");
        await using var client = await OpenAsync(pooler.Port);
        await using var transaction = await client.BeginTransactionAsync();
        await ScalarAsync<object>(client, "select pg_sleep(2.5)"); // the client sends nothing for 2.5 s, but the server is busy
        await Task.Delay(TimeSpan.FromSeconds(1)); // idle 1 s after the answer: within the timeout
        Assert.Equal(7, await ScalarAsync<int>(client, "select 7"));
        await transaction.CommitAsync();
    }

    [Fact]
    public async Task Max_db_connections_bounds_a_database_over_all_its_users_pools()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 5, max_db_connections = 1");
        await using var scram = await OpenAsync(pooler.Port);
        var md5Connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, PostgresFixture.Md5User, PostgresFixture.Md5Password));
        await using var md5 = md5Connection;
        await md5.OpenAsync(); // its pool waits until the other pool gives up its idle connection
        Assert.Equal(1, await ScalarAsync<int>(md5, "select 1"));
        Assert.Equal(1, await ScalarAsync<int>(scram, "select 1"));

        await using var admin = new NpgsqlConnection(postgres.DirectConnectionString());
        await admin.OpenAsync();
        var serverConnections = await ScalarAsync<long>(admin,
            $"select count(*) from pg_stat_activity where datname = 'postgres' and usename in ('{PostgresFixture.ScramUser}', '{PostgresFixture.Md5User}')");
        Assert.True(serverConnections <= 1, $"{serverConnections} server connections to a database limited to 1");
    }
}
