namespace PgBouncerActors.Stats;

/// <summary>
/// What one stats_period changed, per database: SHOW STATS's avg_ columns and the periodic stats
/// line. Counts and bytes are per second; times are per transaction, per query and per wait, in
/// microseconds, as PgBouncer computes them.
/// </summary>
internal sealed record PeriodAverages(TimeSpan Period, IReadOnlyDictionary<string, TrafficTotals> Changes)
{
    public static readonly PeriodAverages None = new(TimeSpan.FromSeconds(1), new Dictionary<string, TrafficTotals>());

    public Averages Of(string database) => Average(Changes.GetValueOrDefault(database));

    public Averages Overall() => Average(Changes.Values.Aggregate(default(TrafficTotals), (sum, change) => sum + change));

    private Averages Average(TrafficTotals change)
    {
        var seconds = Period.TotalSeconds;
        return new Averages(
            (long)(change.Transactions / seconds), (long)(change.Queries / seconds), (long)(change.Received / seconds), (long)(change.Sent / seconds),
            Per(change.TransactionMicros, change.Transactions), Per(change.QueryMicros, change.Queries), Per(change.WaitMicros, change.Waits),
            (long)(change.Assignments / seconds), (long)(change.ClientParses / seconds), (long)(change.ServerParses / seconds), (long)(change.Binds / seconds));
    }

    private static long Per(long micros, long count) => count == 0 ? 0 : micros / count;

    public readonly record struct Averages(long Transactions, long Queries, long Received, long Sent, long TransactionMicros, long QueryMicros,
        long WaitMicros, long Assignments, long ClientParses, long ServerParses, long Binds);
}
