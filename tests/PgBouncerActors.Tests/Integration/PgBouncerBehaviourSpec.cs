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
