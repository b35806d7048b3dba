using Npgsql;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>What PgBouncer 1.25's own suite asks of the pooler, tried here with Npgsql against PostgreSQL: runtime SET, per-user settings, the order of a login's checks.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PgBouncerBehaviourSpec(PostgresFixture postgres)
{
    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    private static async Task<NpgsqlConnection> OpenAsync(int port, string database = "postgres")
    {
        var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port, database: database));
        await connection.OpenAsync();
        return connection;
    }

    [Fact]
    public async Task SET_pool_mode_on_the_console_gives_clients_that_log_in_afterwards_the_new_mode()
    {
        await using var pooler = postgres.StartPooler($"auth_type = trust, pool_mode = session, default_pool_size = 1, query_wait_timeout = 3, admin_users = {PostgresFixture.ScramUser}"); // trust: the spec's console client speaks no SCRAM
        await using (var first = await OpenAsync(pooler.Port))
        {
            await using var second = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => second.OpenAsync()); // session mode: the only connection is the first client's
            Assert.Contains("query_wait_timeout", refused.Message + refused.InnerException?.Message);
        }

        await using (var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser))
        {
            await console.RunAsync("SET pool_mode = transaction");
            Assert.Equal("transaction", (await console.ShowAsync("SHOW CONFIG")).Value("value", "pool_mode"));
        }

        await using var a = await OpenAsync(pooler.Port);
        await using var b = await OpenAsync(pooler.Port); // transaction mode: both share the one connection
        Assert.Equal(1, await ScalarAsync(a, "select 1"));
        Assert.Equal(2, await ScalarAsync(b, "select 2"));
        Assert.Equal(await ScalarAsync(a, "select pg_backend_pid()"), await ScalarAsync(b, "select pg_backend_pid()"));
    }

    [Fact]
    public async Task A_database_whose_host_is_a_folder_is_reached_over_PostgreSQLs_Unix_socket_in_it_as_PgBouncer_and_libpq_do()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction", databases:
            $"bysocket {{ host = \"{postgres.Cluster.SocketDirectory}\", port = {postgres.Cluster.Port}, dbname = postgres }}");
        await using var client = await OpenAsync(pooler.Port, "bysocket");
        // The server sees a Unix socket client: it has no server address.
        Assert.Equal(true, await ScalarAsync(client, "select inet_server_addr() is null"));
        await using var overTcp = await OpenAsync(pooler.Port, "postgres");
        Assert.Equal(false, await ScalarAsync(overTcp, "select inet_server_addr() is null"));
    }

    [Fact]
    public async Task A_databases_connect_query_runs_on_each_new_server_connection_and_one_the_server_refuses_is_logged_and_ignored()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler("pool_mode = transaction", databases: $$"""
            tuned { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = postgres, connect_query = "set enable_seqscan = off; set enable_nestloop = off" }
            broken { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = postgres, connect_query = "select no_such_function()" }
            """, log: log);
        await using var tuned = await OpenAsync(pooler.Port, "tuned");
        Assert.Equal("off", await ScalarAsync(tuned, "show enable_seqscan"));
        Assert.Equal("off", await ScalarAsync(tuned, "show enable_nestloop"));
        await using var plain = await OpenAsync(pooler.Port, "postgres");
        Assert.Equal("on", await ScalarAsync(plain, "show enable_seqscan")); // another database's connections are untouched

        await using var broken = await OpenAsync(pooler.Port, "broken");
        Assert.Equal(1, await ScalarAsync(broken, "select 1"));
        Assert.Contains(log.Lines, line => line.Contains("error while executing connect_query", StringComparison.Ordinal) &&
                                           line.Contains("no_such_function", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_server_lifetime_0_each_client_gets_a_fresh_server_connection_as_PgBouncer_uses_one_once()
    {
        await using var pooler = postgres.StartPooler("pool_mode = session, server_lifetime = 0");
        var pids = new List<object?>();
        for (var i = 0; i < 3; i++)
        {
            await using var client = await OpenAsync(pooler.Port);
            pids.Add(await ScalarAsync(client, "select pg_backend_pid()"));
        }

        Assert.Equal(3, pids.Distinct().Count());

        await using var reusing = postgres.StartPooler("pool_mode = session");
        pids.Clear();
        for (var i = 0; i < 2; i++)
        {
            await using var client = await OpenAsync(reusing.Port);
            pids.Add(await ScalarAsync(client, "select pg_backend_pid()"));
        }

        Assert.Single(pids.Distinct()); // the default lifetime keeps it for the next client
    }

    [Fact]
    public async Task SHUTDOWN_WAIT_FOR_SERVERS_lets_a_running_transaction_finish_and_closes_clients_that_want_or_wait_for_a_server_connection()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler($"auth_type = trust, pool_mode = transaction, default_pool_size = 1, admin_users = {PostgresFixture.ScramUser}",
            log: log, own: "shutdown_timeout = 20");
        await using var inTransaction = await OpenAsync(pooler.Port);
        await using var queued = await OpenAsync(pooler.Port);
        await using var idle = await OpenAsync(pooler.Port);
        await using var transaction = await inTransaction.BeginTransactionAsync();
        Assert.Equal(1, await ScalarAsync(inTransaction, "select 1")); // holds the pool's only connection
        var waiting = ScalarAsync(queued, "select 2");
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted); // queued behind the transaction

        await using (var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser))
        {
            await console.RunAsync("SHUTDOWN WAIT_FOR_SERVERS");
        }

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => ScalarAsync(idle, "select 3")); // a new transaction: refused at once
        Assert.Contains("server shutting down", refused.Message + refused.InnerException?.Message);
        var dropped = await Assert.ThrowsAnyAsync<Exception>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("server shutting down", dropped.Message + dropped.InnerException?.Message);
        Assert.Contains(log.Lines, line => line.Contains("closing because: server shutting down", StringComparison.Ordinal));

        Assert.Equal(4, await ScalarAsync(inTransaction, "select 4")); // the running transaction goes on to its end
        await transaction.CommitAsync();
    }

    [Fact]
    public async Task A_users_own_query_timeout_and_transaction_timeout_close_its_client_with_PgBouncers_words()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, transaction_timeout = 1",
            users: $"{PostgresFixture.Md5User} {{ query_timeout = 1, transaction_timeout = 0 }}");
        await using (var scram = await OpenAsync(pooler.Port))
        {
            await using var transaction = await scram.BeginTransactionAsync();
            var closed = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await ScalarAsync(scram, "select 1");
                await Task.Delay(2500); // inside the transaction for longer than transaction_timeout
                await ScalarAsync(scram, "select 2");
            });
            Assert.Contains("transaction timeout", closed.Message + closed.InnerException?.Message);
        }

        await using var md5 = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, PostgresFixture.Md5User, PostgresFixture.Md5Password));
        await md5.OpenAsync();
        var canceled = await Assert.ThrowsAnyAsync<Exception>(() => ScalarAsync(md5, "select pg_sleep(5)")); // its user's query_timeout, not the global none
        Assert.Contains("query timeout", canceled.Message + canceled.InnerException?.Message);
    }

    [Fact]
    public async Task A_database_the_pooler_lacks_is_told_only_after_the_password_was_right()
    {
        await using var pooler = postgres.StartPooler(fallback: false, databases: $"known {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres }}");
        await using var wrong = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, password: "wrong", database: "nosuchdb"));
        var refused = await Assert.ThrowsAsync<PostgresException>(() => wrong.OpenAsync());
        Assert.Equal(("28P01", "SASL authentication failed"), (refused.SqlState, refused.MessageText)); // the list of databases stays unknown to it

        await using var right = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, database: "nosuchdb"));
        var unknown = await Assert.ThrowsAsync<PostgresException>(() => right.OpenAsync());
        Assert.Equal(("3D000", "no such database: nosuchdb"), (unknown.SqlState, unknown.MessageText));
    }
}
