using System.Diagnostics;

namespace PgBouncerActors.Stats;

/// <summary>
/// Traffic figures as PgBouncer's SHOW STATS counts them: transactions and queries (a query is a
/// request the server answered with ReadyForQuery: one simple Query, or one extended batch up to
/// its Sync), bytes from clients (received) and to clients (sent), and the time spent in
/// transactions, in queries and waiting for a server connection, in microseconds.
/// </summary>
internal readonly record struct TrafficTotals(long Transactions, long Queries, long Received, long Sent,
    long TransactionMicros, long QueryMicros, long WaitMicros, long Waits)
{
    public static TrafficTotals operator +(TrafficTotals a, TrafficTotals b) => new(a.Transactions + b.Transactions, a.Queries + b.Queries,
        a.Received + b.Received, a.Sent + b.Sent, a.TransactionMicros + b.TransactionMicros, a.QueryMicros + b.QueryMicros,
        a.WaitMicros + b.WaitMicros, a.Waits + b.Waits);

    public static TrafficTotals operator -(TrafficTotals a, TrafficTotals b) => new(a.Transactions - b.Transactions, a.Queries - b.Queries,
        a.Received - b.Received, a.Sent - b.Sent, a.TransactionMicros - b.TransactionMicros, a.QueryMicros - b.QueryMicros,
        a.WaitMicros - b.WaitMicros, a.Waits - b.Waits);

    public static long Micros(long stopwatchTicks) => (long)(stopwatchTicks * (1_000_000.0 / Stopwatch.Frequency));
}

/// <summary>
/// One client's counters. Each field has one writer, so counting takes no lock and no
/// interlocked instruction: the queries, transactions and their times are written by the server
/// loop when a ReadyForQuery for the client passes, the wait by the session actor when a lease
/// is granted. Readers (SHOW STATS, the stats period) read them as they are at that moment.
/// With /metrics on, each transaction and each wait is also observed in its pool's histogram
/// (prometheus-net's, a few interlocked adds per transaction; none when /metrics is off).
/// </summary>
internal sealed class TrafficCounters(Metrics.PoolHistograms? histograms = null)
{
    private long _transactions;
    private long _queries;
    private long _transactionTicks;
    private long _queryTicks;
    private long _waitTicks;
    private long _waits;

    /// <summary>A query of the client's was answered (server loop); <paramref name="transactionTicks"/> is set when it ended a transaction.</summary>
    public void Answered(long queryTicks, long? transactionTicks)
    {
        Volatile.Write(ref _queries, _queries + 1);
        Volatile.Write(ref _queryTicks, _queryTicks + queryTicks);
        if (transactionTicks is { } ticks)
        {
            Volatile.Write(ref _transactions, _transactions + 1);
            Volatile.Write(ref _transactionTicks, _transactionTicks + ticks);
            histograms?.Transaction.Observe(ticks / (double)Stopwatch.Frequency);
        }
    }

    /// <summary>The client waited this long for a server connection (session actor).</summary>
    public void Waited(long ticks)
    {
        Volatile.Write(ref _waits, _waits + 1);
        Volatile.Write(ref _waitTicks, _waitTicks + ticks);
        histograms?.Wait.Observe(ticks / (double)Stopwatch.Frequency);
    }

    public TrafficTotals Read(long received, long sent) => new(Volatile.Read(ref _transactions), Volatile.Read(ref _queries), received, sent,
        TrafficTotals.Micros(Volatile.Read(ref _transactionTicks)), TrafficTotals.Micros(Volatile.Read(ref _queryTicks)),
        TrafficTotals.Micros(Volatile.Read(ref _waitTicks)), Volatile.Read(ref _waits));
}
