using System.Diagnostics;
using Npgsql;
using PgBouncerActors.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// More clients than server connections, as pgbench runs them: every run ends by itself, every
/// client gets its last answer, nothing fails. The first three are the runs that hung for good
/// before the pools had a lending desk (a wakeup lost between the client loop, the session, the
/// pool and the connection kept between transactions); pgbench is bounded so a hang fails the
/// spec instead of the build.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class NoClientWaitsForeverSpec(PostgresFixture postgres, ITestOutputHelper output)
{
    /// <summary>Runs pgbench through the pooler; a run still going after <paramref name="bound"/> is a hang.</summary>
    private async Task<string> PgbenchAsync(int port, TimeSpan bound, params string[] arguments)
    {
        await postgres.EnsurePgbenchInitializedAsync();
        var clock = Stopwatch.StartNew();
        var run = postgres.RunToolCapturingAsync("pgbench", ["-h", "127.0.0.1", "-p", port.ToString(), "-U", PostgresFixture.ScramUser, "-n",
            .. arguments, "bench"]);
        if (await Task.WhenAny(run, Task.Delay(bound)) != run)
        {
            Assert.Fail($"pgbench {string.Join(' ', arguments)} was still running after {bound.TotalSeconds:0}s: a client waits for good");
        }

        var (stdout, stderr) = await run;
        output.WriteLine($"pgbench {string.Join(' ', arguments)}: {clock.Elapsed.TotalSeconds:0.0}s\n{stdout}{stderr}");
        Assert.DoesNotContain("error", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("0", PostgresFixture.FailedTransactions(stdout));
        return stdout;
    }

    [Fact]
    public async Task Twenty_prepared_pgbench_clients_over_a_pool_of_three_in_transaction_mode_run_to_the_end()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 3");
        var result = await PgbenchAsync(pooler.Port, TimeSpan.FromSeconds(90), "-S", "-M", "prepared", "-c", "20", "-j", "2", "-T", "10");
        Assert.Matches(@"number of transactions actually processed: [1-9]\d*", result);
    }

    [Fact]
    public async Task A_thousand_pgbench_clients_over_a_pool_of_twenty_each_get_every_answer()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 20, max_client_conn = 1100");
        // -t: a fixed number per client, so pgbench ends only once every client has had its last answer.
        var result = await PgbenchAsync(pooler.Port, TimeSpan.FromSeconds(180), "-S", "-c", "1000", "-j", "2", "-t", "20");
        Assert.Contains("number of transactions actually processed: 20000/20000", result);
    }

    [Fact]
    public async Task Sixty_four_clients_over_a_pool_of_thirty_two_end_reconnecting_per_transaction_or_not()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 32, max_client_conn = 200, auth_type = trust");
        Assert.Matches(@"number of transactions actually processed: [1-9]\d*",
            await PgbenchAsync(pooler.Port, TimeSpan.FromSeconds(90), "-S", "-c", "64", "-j", "2", "-T", "8"));
        Assert.Matches(@"number of transactions actually processed: [1-9]\d*",
            await PgbenchAsync(pooler.Port, TimeSpan.FromSeconds(90), "-S", "-C", "-c", "64", "-j", "2", "-T", "8"));
    }

    [Fact]
    public async Task A_client_waiting_for_a_server_connection_counts_as_waiting_and_a_cancel_answers_its_request_57014_at_once()
    {
        await using var pooler = postgres.StartPooler(
            $"auth_type = trust, admin_users = {PostgresFixture.ScramUser}, pool_mode = transaction, default_pool_size = 1, query_wait_timeout = 60");
        await using var holder = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await holder.OpenAsync();
        await using var waiter = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await waiter.OpenAsync();

        await using var transaction = await holder.BeginTransactionAsync(); // the pool's only connection, held
        await using (var hold = new NpgsqlCommand("select 1", holder, transaction))
        {
            await hold.ExecuteScalarAsync();
        }

        await using var blocked = new NpgsqlCommand("select 'served'", waiter);
        var waiting = blocked.ExecuteScalarAsync();
        await using (var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser))
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while ((await console.ShowAsync("SHOW POOLS")).Number("cl_waiting", "postgres", PostgresFixture.ScramUser) != 1)
            {
                Assert.True(DateTime.UtcNow < deadline, "the client with a request and no server connection never showed in cl_waiting");
                await Task.Delay(20);
            }

            Assert.Contains((await console.ShowAsync("SHOW CLIENTS")).Rows, row => row[2] == "postgres" && row[4] == "waiting");
        }

        var clock = Stopwatch.StartNew();
        blocked.Cancel();
        var cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => waiting);
        Assert.Equal("57014", Assert.IsType<PostgresException>(cancelled.InnerException).SqlState);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the cancel of a waiting request took {clock.Elapsed.TotalMilliseconds:0}ms");

        await transaction.CommitAsync();
        await using var after = new NpgsqlCommand("select 'served after'", waiter);
        Assert.Equal("served after", await after.ExecuteScalarAsync()); // the session goes on, and its next request is served
    }

    [Fact]
    public async Task Clients_that_leave_while_queued_leave_the_queue_and_their_requests_never_run()
    {
        await postgres.Cluster.RunSqlAsync($"create table if not exists left_queue(x int); truncate left_queue; grant all on left_queue to {PostgresFixture.ScramUser};");
        await using var pooler = postgres.StartPooler(
            $"auth_type = trust, admin_users = {PostgresFixture.ScramUser}, pool_mode = transaction, default_pool_size = 1, query_wait_timeout = 60");
        await using var holder = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await holder.OpenAsync();
        await using var transaction = await holder.BeginTransactionAsync(); // the pool's only connection, held
        await using (var hold = new NpgsqlCommand("select count(*) from left_queue", holder, transaction))
        {
            await hold.ExecuteScalarAsync();
        }

        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        async Task<long> WaitingAsync() => (await console.ShowAsync("SHOW POOLS")).Number("cl_waiting", "postgres", PostgresFixture.ScramUser);
        async Task UntilWaitingAsync(long count, string what)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (await WaitingAsync() != count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"cl_waiting never came to {count}: {what} (it shows {await WaitingAsync()})");
                await Task.Delay(20);
            }
        }

        // Nine clients queue an insert each, then go: three say Terminate first, three just close (a driver's timeout,
        // a killed process), three close with bytes still unread (half a message: as a TLS client's encrypted goodbye, the
        // pooler cannot tell it from a request without reading it, yet the client is gone).
        var leaving = new List<Simulation.WireClient>();
        for (var i = 0; i < 9; i++)
        {
            var client = await Simulation.WireClient.ConnectAsync(pooler.Port);
            await client.LoginAsync(PostgresFixture.ScramUser, "postgres");
            await client.SendQueryAsync($"insert into left_queue values ({i})");
            leaving.Add(client);
        }

        await UntilWaitingAsync(9, "nine clients queued");
        for (var i = 0; i < leaving.Count; i++)
        {
            switch (i % 3)
            {
                case 0:
                    await leaving[i].Socket.CloseWithAsync(new MessageBuilder().Terminate().WrittenMemory);
                    break;
                case 1:
                    leaving[i].Socket.Abort();
                    break;
                default:
                    await leaving[i].Socket.CloseWithAsync(new MessageBuilder().Query("select 1").WrittenMemory[..3]);
                    break;
            }
        }

        await UntilWaitingAsync(0, "the clients that left are still queued while the only connection is held");
        Assert.DoesNotContain((await console.ShowAsync("SHOW CLIENTS")).Rows, row => row[2] == "postgres" && row[4] == "waiting");

        await using var next = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await next.OpenAsync();
        await using var served = new NpgsqlCommand("select count(*) from left_queue", next);
        var answer = served.ExecuteScalarAsync();
        await UntilWaitingAsync(1, "the next client queued");
        await transaction.CommitAsync();
        Assert.Equal(0L, (long)(await answer.WaitAsync(TimeSpan.FromSeconds(10)))!); // first in line, and nothing of the departed ran
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
        await direct.OpenAsync();
        await using var count = new NpgsqlCommand("select count(*) from left_queue", direct);
        Assert.Equal(0L, (long)(await count.ExecuteScalarAsync())!);
    }
}
