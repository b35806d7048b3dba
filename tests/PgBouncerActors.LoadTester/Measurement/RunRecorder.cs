using System.Collections.Concurrent;
using System.Diagnostics;

namespace PgBouncerActors.LoadTester.Measurement;

/// <summary>
/// What one run observed: every operation's latency (kept per worker, so recording takes no
/// lock), errors by SQLSTATE, connections opened, and live counters the progress display reads
/// while the run goes on.
/// </summary>
internal sealed class RunRecorder
{
    private readonly ConcurrentBag<WorkerLog> _workers = [];
    private readonly ConcurrentDictionary<string, long> _errors = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _operations;
    private long _errorCount;
    private long _connectionsOpened;
    private long _connectionsOpen;

    public TimeSpan Elapsed => _clock.Elapsed;

    public long Operations => Interlocked.Read(ref _operations);

    public long ErrorCount => Interlocked.Read(ref _errorCount);

    public long ConnectionsOpened => Interlocked.Read(ref _connectionsOpened);

    public long ConnectionsOpen => Interlocked.Read(ref _connectionsOpen);

    /// <summary>A log for one worker (one task, so one writer).</summary>
    public WorkerLog NewWorker()
    {
        var worker = new WorkerLog(this);
        _workers.Add(worker);
        return worker;
    }

    public void ConnectionOpened()
    {
        Interlocked.Increment(ref _connectionsOpened);
        Interlocked.Increment(ref _connectionsOpen);
    }

    public void ConnectionClosed() => Interlocked.Decrement(ref _connectionsOpen);

    public void Error(string sqlState)
    {
        Interlocked.Increment(ref _errorCount);
        _errors.AddOrUpdate(sqlState, 1, (_, count) => count + 1);
    }

    internal long Timestamp() => _clock.ElapsedTicks;

    /// <summary>Operations completed between two timestamps, and their p99 latency in milliseconds (for ramp steps).</summary>
    internal (long Operations, double P99Ms) Window(long from, long to)
    {
        var latencies = _workers.SelectMany(worker => worker.Snapshot())
            .Where(sample => sample.At >= from && sample.At < to)
            .Select(sample => sample.Micros)
            .Order()
            .ToArray();
        return (latencies.Length, Percentile(latencies, 99) / 1000.0);
    }

    internal void Completed() => Interlocked.Increment(ref _operations);

    /// <summary>Freezes what was recorded into a summary (call once every worker is done).</summary>
    public RunSummary Summarise(string scenario, IReadOnlyDictionary<string, string> parameters)
    {
        var elapsed = _clock.Elapsed;
        var samples = _workers.SelectMany(worker => worker.Snapshot()).ToArray();
        var latencies = samples.Select(sample => sample.Micros).ToArray();
        Array.Sort(latencies);
        var timeline = samples
            .GroupBy(sample => (int)(sample.At / Stopwatch.Frequency))
            .OrderBy(second => second.Key)
            .Select(second =>
            {
                var sorted = second.Select(sample => sample.Micros).Order().ToArray();
                return new TimelinePoint(second.Key, sorted.Length, Percentile(sorted, 50) / 1000.0, Percentile(sorted, 99) / 1000.0);
            })
            .ToList();
        return new RunSummary(
            scenario,
            new SortedDictionary<string, string>(parameters.ToDictionary()),
            Math.Round(elapsed.TotalSeconds, 3),
            Operations,
            elapsed.TotalSeconds > 0 ? Math.Round(Operations / elapsed.TotalSeconds, 1) : 0,
            new LatencySummary(Percentile(latencies, 50) / 1000.0, Percentile(latencies, 95) / 1000.0, Percentile(latencies, 99) / 1000.0,
                latencies.Length == 0 ? 0 : latencies[^1] / 1000.0),
            ErrorCount,
            new SortedDictionary<string, long>(_errors),
            ConnectionsOpened,
            timeline,
            []);
    }

    /// <summary>Nearest-rank percentile of sorted microseconds.</summary>
    internal static long Percentile(long[] sorted, double percent)
    {
        if (sorted.Length == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(percent / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>One worker's samples, appended by that worker; the lock is only ever contended by a ramp step's snapshot.</summary>
internal sealed class WorkerLog(RunRecorder recorder)
{
    private readonly List<Sample> _samples = [];

    public long Start() => recorder.Timestamp();

    /// <summary>An operation that began at <paramref name="startedAt"/> completed correctly now.</summary>
    public void Succeeded(long startedAt)
    {
        var now = recorder.Timestamp();
        lock (_samples)
        {
            _samples.Add(new Sample(startedAt, (now - startedAt) * 1_000_000 / Stopwatch.Frequency));
        }

        recorder.Completed();
    }

    internal Sample[] Snapshot()
    {
        lock (_samples)
        {
            return [.. _samples];
        }
    }

    internal readonly record struct Sample(long At, long Micros);
}
