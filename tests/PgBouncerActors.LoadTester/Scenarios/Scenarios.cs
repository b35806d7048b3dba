using Npgsql;
using PgBouncerActors.LoadTester.Measurement;

namespace PgBouncerActors.LoadTester.Scenarios;

/// <summary>
/// The five load shapes. Each runs its clients as tasks, records into the context's recorder and
/// returns when every client is done; the caller summarises and reports.
/// </summary>
internal static class Scenarios
{
    /// <summary>N clients, each on one connection, running M operations (or for a duration) back to back.</summary>
    public static Task ThroughputAsync(ScenarioContext context, int clients, int queriesPerClient, TimeSpan? duration, CancellationToken token)
    {
        var deadline = duration is { } limit ? context.Recorder.Elapsed + limit : (TimeSpan?)null;
        return Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(() => ClientAsync(context, queriesPerClient, deadline, token), token)));
    }

    /// <summary>All clients connect at the same moment, run one operation each and stay until all are done.</summary>
    public static async Task BurstAsync(ScenarioContext context, int clients, CancellationToken token)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var remaining = clients;
        var tasks = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            var log = context.Recorder.NewWorker();
            NpgsqlConnection? connection = null;
            await start.Task.ConfigureAwait(false);
            await context.MeasureAsync(log, async () =>
            {
                connection = await context.OpenAsync(token).ConfigureAwait(false);
                await context.Workload.RunAsync(connection, token).ConfigureAwait(false);
            }, token).ConfigureAwait(false);
            if (Interlocked.Decrement(ref remaining) == 0)
            {
                allDone.TrySetResult();
            }

            await allDone.Task.WaitAsync(token).ConfigureAwait(false);
            await context.CloseAsync(connection).ConfigureAwait(false);
        }, token)).ToList();
        start.SetResult();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>Each worker connects, runs one operation and disconnects, again and again until the duration is up.</summary>
    public static Task StormAsync(ScenarioContext context, int workers, TimeSpan duration, CancellationToken token)
    {
        var deadline = context.Recorder.Elapsed + duration;
        return Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            var log = context.Recorder.NewWorker();
            while (context.Recorder.Elapsed < deadline && !token.IsCancellationRequested)
            {
                NpgsqlConnection? connection = null;
                await context.MeasureAsync(log, async () =>
                {
                    connection = await context.OpenAsync(token).ConfigureAwait(false);
                    await context.Workload.RunAsync(connection, token).ConfigureAwait(false);
                }, token).ConfigureAwait(false);
                await context.CloseAsync(connection).ConfigureAwait(false);
            }
        }, token)));
    }

    /// <summary>
    /// Concurrency steps up by <paramref name="step"/> every <paramref name="stepDuration"/> until a
    /// step's p99 latency or error count breaks its bound, or <paramref name="maxClients"/> is reached.
    /// </summary>
    public static async Task<List<RampStep>> RampAsync(ScenarioContext context, int startClients, int step, int maxClients, TimeSpan stepDuration,
        double maxP99Ms, long maxErrors, CancellationToken token)
    {
        var steps = new List<RampStep>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
        var running = new List<Task>();
        var level = 0;
        for (var target = startClients; target <= maxClients && !token.IsCancellationRequested; target += step)
        {
            var windowStart = context.Recorder.Timestamp();
            var errorsBefore = context.Recorder.ErrorCount;
            for (; level < target; level++)
            {
                running.Add(Task.Run(() => ClientAsync(context, int.MaxValue, null, stop.Token), stop.Token));
            }

            await Task.Delay(stepDuration, token).ConfigureAwait(false);
            var (operations, p99Ms) = context.Recorder.Window(windowStart, context.Recorder.Timestamp());
            var errors = context.Recorder.ErrorCount - errorsBefore;
            var within = p99Ms <= maxP99Ms && errors <= maxErrors;
            steps.Add(new RampStep(target, Math.Round(operations / stepDuration.TotalSeconds, 1), p99Ms, errors, within));
            if (!within)
            {
                break;
            }
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(running).ConfigureAwait(false);
        return steps;
    }

    /// <summary>
    /// Opens <paramref name="connections"/> connections (at most <paramref name="parallelOpens"/> at a
    /// time), holds them, then runs one checked operation on every one of them.
    /// </summary>
    /// <returns>How many held connections answered correctly at the end.</returns>
    public static async Task<long> IdleAsync(ScenarioContext context, int connections, int parallelOpens, TimeSpan hold, string? readyFile,
        CancellationToken token)
    {
        var held = new NpgsqlConnection?[connections];
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelOpens, CancellationToken = token };
        await Parallel.ForEachAsync(Enumerable.Range(0, connections), options, async (index, cancel) =>
        {
            var log = context.Recorder.NewWorker();
            await context.MeasureAsync(log, async () => held[index] = await context.OpenAsync(cancel).ConfigureAwait(false), cancel).ConfigureAwait(false);
        }).ConfigureAwait(false);

        if (readyFile is not null)
        {
            await File.WriteAllTextAsync(readyFile, $"{context.Recorder.ConnectionsOpen}\n", token).ConfigureAwait(false);
        }

        await Task.Delay(hold, token).ConfigureAwait(false);
        long answering = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, connections), options, async (index, cancel) =>
        {
            if (held[index] is not { } connection)
            {
                return;
            }

            var log = context.Recorder.NewWorker();
            if (await context.MeasureAsync(log, () => context.Workload.RunAsync(connection, cancel), cancel).ConfigureAwait(false))
            {
                Interlocked.Increment(ref answering);
            }

            await context.CloseAsync(connection).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return answering;
    }

    /// <summary>One client on one connection; a broken connection is replaced so the run goes on.</summary>
    private static async Task ClientAsync(ScenarioContext context, int operations, TimeSpan? deadline, CancellationToken token)
    {
        var log = context.Recorder.NewWorker();
        NpgsqlConnection? connection = null;
        try
        {
            for (var done = 0; done < operations && !token.IsCancellationRequested; done++)
            {
                if (deadline is { } end && context.Recorder.Elapsed >= end)
                {
                    break;
                }

                if (connection is null || connection.FullState != System.Data.ConnectionState.Open)
                {
                    await context.CloseAsync(connection).ConfigureAwait(false);
                    connection = null;
                    try
                    {
                        connection = await context.OpenAsync(token).ConfigureAwait(false);
                    }
                    catch (Exception error) when (!token.IsCancellationRequested)
                    {
                        context.Recorder.Error(ErrorClassifier.Classify(error));
                        continue; // counted as this operation's failure; the next one tries again
                    }
                }

                await context.MeasureAsync(log, () => context.Workload.RunAsync(connection!, token), token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // the ramp moved on or the user pressed Ctrl-C
        }
        finally
        {
            await context.CloseAsync(connection).ConfigureAwait(false);
        }
    }
}
