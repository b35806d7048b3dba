using System.Diagnostics;
using Npgsql;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The network between the pooler and PostgreSQL misbehaves (a fault-injecting proxy): each case
/// ends with a clear error naming the timeout that fired, within that timeout, and a pool that
/// serves again once the network does.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class TimeoutsSpec(PostgresFixture postgres)
{
    private static string Proxied(FaultProxy proxy) => $"proxied {{ host = 127.0.0.1, port = {proxy.Port}, dbname = postgres }}";

    private static async Task<NpgsqlConnection> OpenAsync(int port, string database = "proxied")
    {
        var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port, database: database));
        await connection.OpenAsync();
        return connection;
    }

    private static async Task OpenOnceAsync(int port)
    {
        await using var connection = new NpgsqlConnection(PostgresFixture.SingleAttemptConnectionString(port, "proxied"));
        await connection.OpenAsync();
    }

    /// <summary>
    /// Connects until served, as a user would once the network is back: a newcomer is refused at once
    /// (08001, the cached error) until the pool's next login attempt, which it asks for, succeeds.
    /// </summary>
    private static async Task PollUntilServedAsync(int port)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = await OpenAsync(port);
                Assert.Equal(1, await ScalarAsync<int>(connection, "select 1"));
                return;
            }
            catch (PostgresException e) when (e.SqlState == "08001" && deadline.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The SQLSTATE and message of what a client got, whether Npgsql raised it at open or at a command.</summary>
    private static async Task<(string SqlState, string Message, TimeSpan After)> FailureAsync(Func<Task> action)
    {
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(action);
        var server = error as PostgresException ?? error.InnerException as PostgresException;
        return (server?.SqlState ?? "", server?.MessageText ?? error.Message, clock.Elapsed);
    }

    [Fact]
    public async Task A_server_that_accepts_but_never_answers_the_login_costs_a_waiting_client_query_timeout_then_the_pool_recovers()
    {
        var log = new LogCapture();
        await using var proxy = new FaultProxy(postgres.Cluster.Port) { Accept = ProxyAccept.Blackhole };
        await using var pooler = postgres.StartPooler("server_connect_timeout = 1, query_timeout = 3, server_login_retry = 1", Proxied(proxy), log);
        // As PgBouncer: each login cut by server_connect_timeout is retried while the client waits, up to query_timeout.
        var (state, message, after) = await FailureAsync(() => OpenOnceAsync(pooler.Port));
        Assert.Equal("57014", state);
        Assert.StartsWith("query_timeout", message);
        Assert.InRange(after, TimeSpan.FromSeconds(2.9), TimeSpan.FromSeconds(8));
        Assert.Contains(log.Lines, line => line.Contains("closing because: connect timeout"));

        // Then a newcomer is told at once why, with PgBouncer's words.
        (state, message, after) = await FailureAsync(() => OpenOnceAsync(pooler.Port));
        Assert.Equal("08001", state);
        Assert.StartsWith("server login has been failing, cached error:", message);
        Assert.Contains("server_connect_timeout", message);
        Assert.True(after < TimeSpan.FromSeconds(2), $"the newcomer waited {after.TotalSeconds:0.0}s");

        proxy.Accept = ProxyAccept.Forward;
        await PollUntilServedAsync(pooler.Port);
    }

    [Fact]
    public async Task A_server_that_stops_answering_mid_query_ends_the_client_with_query_timeout_and_the_pool_refills()
    {
        await using var proxy = new FaultProxy(postgres.Cluster.Port);
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1, query_timeout = 1", Proxied(proxy));
        await using var victim = await OpenAsync(pooler.Port);
        Assert.Equal(1, await ScalarAsync<int>(victim, "select 1"));

        proxy.FreezeEstablished(); // silent, not closed
        var (state, message, after) = await FailureAsync(() => ScalarAsync<int>(victim, "select 2"));
        Assert.Equal("57014", state);
        Assert.Contains("query_timeout", message);
        Assert.InRange(after, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));

        await using var next = await OpenAsync(pooler.Port); // the frozen connection was closed; a new one serves
        Assert.Equal(3, await ScalarAsync<int>(next, "select 3"));
    }

    [Fact]
    public async Task Query_timeout_cancels_a_slow_query_on_the_server_and_leaves_other_clients_alone()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, query_timeout = 1");
        await using var slow = await OpenAsync(pooler.Port, "postgres");
        await using var fast = await OpenAsync(pooler.Port, "postgres");
        var pid = await ScalarAsync<int>(slow, "select pg_backend_pid()");
        var (state, _, after) = await FailureAsync(() => ScalarAsync<object>(slow, "select pg_sleep(30)"));
        Assert.Equal("57014", state);
        Assert.InRange(after, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.Equal(1, await ScalarAsync<int>(fast, "select 1"));

        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
        await direct.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(5); // canceled and closed, not sleeping on for 30 s
        while (await ScalarAsync<long>(direct, $"select count(*) from pg_stat_activity where pid = {pid}") > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, await ScalarAsync<long>(direct, $"select count(*) from pg_stat_activity where pid = {pid}"));
    }

    [Fact]
    public async Task Client_idle_timeout_disconnects_an_idle_client_with_57P05_and_not_a_busy_one()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, client_idle_timeout = 2");
        await using var idle = await OpenAsync(pooler.Port, "postgres");
        await using var busy = await OpenAsync(pooler.Port, "postgres");

        // The busy client asks every 100 ms from a thread of its own: on the thread pool, which the specs running beside
        // this one share, a continuation held up past the timeout made it truly idle that long (CI: cut with 57P05).
        await Task.Factory.StartNew(() =>
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(3.5))
            {
                using var command = new NpgsqlCommand("select 1", busy);
                Assert.Equal(1, (int)command.ExecuteScalar()!);
                Thread.Sleep(100);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var (state, message, _) = await FailureAsync(() => ScalarAsync<int>(idle, "select 1"));
        Assert.Equal("57P05", state);
        Assert.Contains("client_idle_timeout", message);
        Assert.Equal(1, await ScalarAsync<int>(busy, "select 1"));
    }

    [Fact]
    public async Task An_idle_server_connection_that_went_silent_fails_server_check_query_and_another_one_serves()
    {
        await using var proxy = new FaultProxy(postgres.Cluster.Port);
        await using var pooler = postgres.StartPooler("pool_mode = session, default_pool_size = 1, server_check_delay = 0, server_connect_timeout = 1",
            Proxied(proxy));
        await using (var first = await OpenAsync(pooler.Port))
        {
            Assert.Equal(1, await ScalarAsync<int>(first, "select 1"));
        }

        await Task.Delay(300); // its server_reset_query is done: the connection is idle in the pool
        proxy.FreezeEstablished(); // the idle connection's server went silent; new connections still pass
        var clock = Stopwatch.StartNew();
        await using var second = await OpenAsync(pooler.Port);
        Assert.Equal(2, await ScalarAsync<int>(second, "select 2"));
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5)); // the check waited out server_connect_timeout
        Assert.Equal(2, proxy.Accepted);
    }

    [Fact]
    public async Task A_connection_cut_in_the_middle_of_a_server_message_fails_only_its_client_and_the_pool_refills()
    {
        await using var proxy = new FaultProxy(postgres.Cluster.Port);
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1", Proxied(proxy));
        await using var victim = await OpenAsync(pooler.Port);
        Assert.Equal(1, await ScalarAsync<int>(victim, "select 1"));

        proxy.CutAfterServerBytes(1000); // inside the rows of the next result
        var (state, message, _) = await FailureAsync(async () =>
        {
            await using var rows = new NpgsqlCommand("select repeat('x', 100) from generate_series(1, 1000)", victim);
            await using var reader = await rows.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
            }
        });
        Assert.Equal("08006", state);
        Assert.Contains("server connection lost", message);

        await using var next = await OpenAsync(pooler.Port);
        Assert.Equal(4, await ScalarAsync<int>(next, "select 4"));
    }

    [Fact]
    public async Task A_network_too_slow_to_log_in_within_server_connect_timeout_bounds_the_clients_wait_and_recovers_when_it_speeds_up()
    {
        await using var proxy = new FaultProxy(postgres.Cluster.Port) { Delay = TimeSpan.FromMilliseconds(400) };
        await using var pooler = postgres.StartPooler("server_connect_timeout = 1, query_wait_timeout = 3, server_login_retry = 1", Proxied(proxy));
        var (state, message, _) = await FailureAsync(() => OpenOnceAsync(pooler.Port));
        Assert.Equal(("57014", true), (state, message.StartsWith("query_wait_timeout", StringComparison.Ordinal)));
        (state, message, _) = await FailureAsync(() => OpenOnceAsync(pooler.Port));
        Assert.Equal("08001", state);
        Assert.Contains("server_connect_timeout", message);

        proxy.Delay = TimeSpan.FromMilliseconds(5);
        await PollUntilServedAsync(pooler.Port);
    }
}
