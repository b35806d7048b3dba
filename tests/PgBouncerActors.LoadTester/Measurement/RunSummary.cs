namespace PgBouncerActors.LoadTester.Measurement;

/// <summary>The result of one run, as printed, written as JSON and drawn in the HTML report.</summary>
internal sealed record RunSummary(
    string Scenario,
    SortedDictionary<string, string> Parameters,
    double Seconds,
    long Operations,
    double OperationsPerSecond,
    LatencySummary LatencyMs,
    long Errors,
    SortedDictionary<string, long> ErrorsBySqlState,
    long ConnectionsOpened,
    List<TimelinePoint> Timeline,
    List<RampStep> Steps)
{
    /// <summary>Idle runs: how many held connections answered correctly at the end.</summary>
    public long? ConnectionsAnswering { get; init; }
}

internal sealed record LatencySummary(double P50, double P95, double P99, double Max);

/// <summary>One second of the run: operations completed and their latency.</summary>
internal sealed record TimelinePoint(int Second, long Operations, double P50Ms, double P99Ms);

/// <summary>One concurrency level of a ramp, and whether it stayed within the bounds.</summary>
internal sealed record RampStep(int Clients, double OperationsPerSecond, double P99Ms, long Errors, bool WithinBounds);
