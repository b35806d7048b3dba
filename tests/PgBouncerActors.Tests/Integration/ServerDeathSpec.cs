using System.Diagnostics;
using Npgsql;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// A server connection that dies while nobody uses it never takes a request with it, and one that
/// its client abandons in the middle of a request lets go of the server at once.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ServerDeathSpec(PostgresFixture postgres)
{
    private async Task<NpgsqlConnection> DirectAsync()
    {
        var direct = new NpgsqlConnection(postgres.DirectConnectionString());
        await direct.OpenAsync();
        return direct;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Terminates a backend and waits until it has exited and its FATAL has reached the pooler's
    /// host: the backend flushes its FATAL before it leaves pg_stat_activity, and loopback delivers
    /// within microseconds, or a few milliseconds on a loaded machine. What the server sends after
    /// a request went out is a race no pooler can win; what arrived before it must not be its answer.
    /// </summary>
    internal static async Task WaitUntilBackAtTheDeskAsync(Hosting.PoolerHost pooler)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (pooler.Statistics.Clients.Single().Link?.State != PgBouncerActors.Proxy.LinkState.Free)
        {
            Assert.True(DateTime.UtcNow < deadline, "the client's connection never went back to the pool after its transaction");
            await Task.Delay(2);
        }
    }

    private static async Task KillAsync(NpgsqlConnection direct, int pid)
    {
        Assert.True(await ScalarAsync<bool>(direct, $"select pg_terminate_backend({pid})"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await ScalarAsync<long>(direct, $"select count(*) from pg_stat_activity where pid = {pid}") > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(2);
        }

        await Task.Delay(50);
    }

    [Theory]
    [InlineData("transaction")] // the connection the client used last, idle at the desk between its transactions
    [InlineData("session")] // a connection idle in the pool between two clients
    public async Task A_query_after_its_idle_server_connection_was_killed_runs_on_another_connection(string mode)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 2");
        await using var direct = await DirectAsync();
        for (var round = 0; round < 20; round++)
        {
            await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await client.OpenAsync();
            var pid = await ScalarAsync<int>(client, "select pg_backend_pid()");
            if (mode == "session")
            {
                await client.CloseAsync(); // back to the pool, idle
                await KillAsync(direct, pid);
                await client.OpenAsync();
            }
            else
            {
                // Idle means the pooler has seen the transaction end and the connection is back at the desk. Right
                // after ReadyForQuery reaches the client the reader may not have got there yet (on a loaded
                // machine, tens of milliseconds); a request in that window still goes to the connection it holds.
                await WaitUntilBackAtTheDeskAsync(pooler);
                await KillAsync(direct, pid);
            }

            var now = await ScalarAsync<int>(client, "select pg_backend_pid()"); // never the dead server's FATAL
            Assert.NotEqual(pid, now);
        }
    }

    /// <summary>
    /// Each transaction sets idle_session_timeout to a millisecond on its server connection, which
    /// then ends itself with FATAL 57P05 right after its ReadyForQuery: often in the same read, before
    /// the pooler gave the connection back. The client's transaction was over; as with PgBouncer it
    /// never hears of that FATAL, and its next transaction runs on another connection.
    /// </summary>
    [Theory]
    [InlineData("transaction")]
    [InlineData("statement")]
    public async Task A_server_connection_that_ends_itself_just_after_each_transaction_costs_the_client_nothing(string mode)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 1, auth_type = trust, admin_users = {PostgresFixture.ScramUser}");
        await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port) + ";No Reset On Close=true");
        await client.OpenAsync();
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        var pids = new HashSet<int>();
        for (var round = 0; round < 60; round++)
        {
            var pid = await ScalarAsync<int>(client, "select pg_backend_pid() from (select set_config('idle_session_timeout', '1', false)) as ends_itself");
            pids.Add(pid);
            // Gone from the pool before the next transaction (its FATAL read, the connection closed), so that one cannot race it.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (await console.ShowAsync("SHOW SERVERS") is var servers &&
                   servers.Rows.Any(row => row[servers.Columns.FindIndex(column => column.Name == "remote_pid")] == pid.ToString()) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(2);
            }
        }

        Assert.True(pids.Count > 30, $"only {pids.Count} server connections for 60 transactions: the servers did not end themselves");
    }

    [Theory]
    [InlineData("transaction")]
    [InlineData("session")]
    public async Task A_client_that_vanishes_while_its_query_waits_on_a_lock_has_its_backend_canceled_and_gone_at_once(string mode)
    {
        await using var pooler = postgres.StartPooler($"auth_type = trust, pool_mode = {mode}, default_pool_size = 2");
        await using var holder = await DirectAsync();
        await using var transaction = await holder.BeginTransactionAsync();
        await ScalarAsync<object>(holder, "select pg_advisory_xact_lock(4242)::text");

        var waiter = await WireClient.ConnectAsync(pooler.Port);
        await waiter.LoginAsync(PostgresFixture.ScramUser, "postgres");
        await waiter.SendQueryAsync("select pg_advisory_lock(4242)");
        await using var watcher = await DirectAsync();
        const string waiting = "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and not granted";
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await ScalarAsync<long>(watcher, waiting) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, await ScalarAsync<long>(watcher, waiting));
        waiter.Socket.Abort(); // gone, with its query still waiting on the server

        var clock = Stopwatch.StartNew();
        while (await ScalarAsync<long>(watcher, waiting) > 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the abandoned backend still waited on the lock after {clock.Elapsed.TotalSeconds:0.0}s");
        await transaction.RollbackAsync();
    }
}
