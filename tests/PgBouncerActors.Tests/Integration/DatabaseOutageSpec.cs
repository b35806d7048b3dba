using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The database goes away and comes back: the pool backs off and refills by itself; a client queued
/// for a server keeps its turn through the outage (PgBouncer's behaviour, a restart costs it a wait),
/// and a request that arrives while the pool has no connection at all gets the cached error at once.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class DatabaseOutageSpec(PostgresFixture postgres, ITestOutputHelper output)
{
    private const int Workers = 10;

    [Fact]
    public async Task PostgreSQL_stopped_under_load_gives_prompt_errors_a_backed_off_pool_and_recovery_after_restart()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 5, query_wait_timeout = 30");
        var errors = new ConcurrentDictionary<string, int>();
        var slowestFailure = TimeSpan.Zero;
        var slowestFailureWhat = "";
        var testClock = Stopwatch.StartNew();
        var lastSuccessTick = 0L;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            NpgsqlConnection? connection = null;
            while (!stop.IsCancellationRequested)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    if (connection is null)
                    {
                        connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
                        await connection.OpenAsync();
                    }

                    await using var command = new NpgsqlCommand("select 1", connection);
                    await command.ExecuteScalarAsync();
                    Interlocked.Exchange(ref lastSuccessTick, Environment.TickCount64);
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                {
                    var state = (e as PostgresException)?.SqlState ?? (e.InnerException as PostgresException)?.SqlState ?? e.GetType().Name;
                    errors.AddOrUpdate(state, 1, (_, n) => n + 1);
                    lock (errors)
                    {
                        if (clock.Elapsed > slowestFailure)
                        {
                            slowestFailure = clock.Elapsed;
                            slowestFailureWhat = $"{state} ended at {testClock.ElapsedMilliseconds}ms: {e.Message}";
                        }
                    }

                    await (connection?.DisposeAsync() ?? ValueTask.CompletedTask);
                    connection = null;
                    await Task.Delay(20);
                }
            }

            await (connection?.DisposeAsync() ?? ValueTask.CompletedTask);
        })).ToArray();

        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.True(errors.IsEmpty, $"errors before the outage: {string.Join(", ", errors)}");
            Assert.True(Interlocked.Read(ref lastSuccessTick) > 0, "no transaction succeeded in the second before the outage");
            // The workers' queries may all be between transactions when the server goes (then each queued request
            // keeps its turn and none fails): a query surely in flight then must fail promptly, with the server's error.
            await using var sleeper = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await sleeper.OpenAsync();
            await using var sleep = new NpgsqlCommand("select pg_sleep(60)", sleeper);
            var sleeping = sleep.ExecuteScalarAsync();
            await Task.Delay(200);
            var attemptsBefore = pooler.Stats.ServerLoginAttempts;
            var stoppingAt = testClock.ElapsedMilliseconds;
            await postgres.Cluster.StopAsync(); // pg_ctl stop -m fast
            var stoppedAt = testClock.ElapsedMilliseconds;
            var inFlight = await Assert.ThrowsAnyAsync<NpgsqlException>(() => sleeping).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal("57P01", (inFlight as PostgresException)?.SqlState); // terminating connection due to administrator command
            await Task.Delay(TimeSpan.FromSeconds(4));
            var attemptsWhileDown = pooler.Stats.ServerLoginAttempts - attemptsBefore;
            var errorsWhileDown = errors.Values.Sum();

            var startingAt = testClock.ElapsedMilliseconds;
            await postgres.Cluster.StartAgainAsync();
            var restartedAt = Environment.TickCount64;
            var deadline = Stopwatch.StartNew();
            while (Interlocked.Read(ref lastSuccessTick) < restartedAt && deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(20);
            }

            var recovery = TimeSpan.FromMilliseconds(Interlocked.Read(ref lastSuccessTick) - restartedAt);
            output.WriteLine($"errors while down: {errorsWhileDown}; by SQLSTATE until recovery: ({string.Join(", ", errors.Select(e => $"{e.Key} x{e.Value}"))}); " +
                             $"slowest failure {slowestFailure.TotalMilliseconds:0}ms; server login attempts while down: {attemptsWhileDown}; " +
                             $"first success {recovery.TotalMilliseconds:0}ms after the restart; " +
                             $"stop ran {stoppingAt}-{stoppedAt}ms, start from {startingAt}ms; slowest failure: {slowestFailureWhat}");

            Assert.True(slowestFailure < TimeSpan.FromSeconds(5), $"a client waited {slowestFailure.TotalSeconds:0.0}s for its error");
            // Backoff from 100ms doubling to 5s: about six attempts in four seconds, however many clients knock.
            Assert.InRange(attemptsWhileDown, 2, 12);
            // At or after the restart: Environment.TickCount64 is a coarse clock, and the first success may land in the restart's own tick.
            Assert.True(recovery >= TimeSpan.Zero && recovery < TimeSpan.FromSeconds(10), $"no transaction succeeded within 10s of the restart ({recovery})");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            if (!await IsUpAsync())
            {
                await postgres.Cluster.StartAgainAsync();
            }
        }
    }

    [Fact]
    public async Task A_restart_costs_a_queued_client_a_wait_not_an_error_and_a_newcomer_gets_the_cached_error_at_once()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 2, server_login_retry = 1", log: log);
        await using var queued = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await using var newcomer = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await queued.OpenAsync();
        await newcomer.OpenAsync();
        try
        {
            await postgres.Cluster.StopAsync();
            var deadline = Stopwatch.StartNew();
            while (log.Count("server connection closed") == 0 && deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20); // the pool has seen its idle connection go
            }

            // The first request after the stop finds the server down: it stays queued while the pool retries.
            await using var select = new NpgsqlCommand("select 42", queued);
            var waiting = select.ExecuteScalarAsync();
            deadline.Restart();
            while (log.Count("closing because: connect failed") == 0 && deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20);
            }

            Assert.True(log.Count("closing because: connect failed") > 0, string.Join("\n", log.Lines));
            Assert.False(waiting.IsCompleted, "the queued client was answered while the server was down");

            // A request that arrives now is told at once, with the server's SQLSTATE and PgBouncer's words.
            var told = Stopwatch.StartNew();
            var refused = await Assert.ThrowsAsync<PostgresException>(() => new NpgsqlCommand("select 1", newcomer).ExecuteScalarAsync());
            Assert.Equal("08001", refused.SqlState);
            Assert.StartsWith("server login has been failing, cached error: could not connect to server", refused.MessageText);
            Assert.True(told.Elapsed < TimeSpan.FromSeconds(2), $"the newcomer waited {told.Elapsed.TotalSeconds:0.0}s for its error");

            await Task.Delay(TimeSpan.FromSeconds(1.5)); // down for a while: more than one attempt fails
            Assert.False(waiting.IsCompleted);
            await postgres.Cluster.StartAgainAsync();
            Assert.Equal(42, await waiting.WaitAsync(TimeSpan.FromSeconds(20)));
        }
        finally
        {
            if (!await IsUpAsync())
            {
                await postgres.Cluster.StartAgainAsync();
            }
        }
    }

    private async Task<bool> IsUpAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(postgres.DirectConnectionString());
            await connection.OpenAsync();
            return true;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }
}
