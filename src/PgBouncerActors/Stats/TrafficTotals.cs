using System.Diagnostics;

namespace PgBouncerActors.Stats;

/// <summary>
/// Traffic figures as PgBouncer's SHOW STATS counts them: transactions and queries (a query is a
/// request the server answered with ReadyForQuery: one simple Query, or one extended batch up to
/// its Sync), bytes from clients (received) and to clients (sent), and the time spent in
/// transactions, in queries and waiting for a server connection, in microseconds; and PgBouncer
/// 1.25's: server connections assigned to clients, Parse messages from clients and to servers, and
/// Binds of prepared statements (counted when the pooler handles prepared statements).
/// </summary>
internal readonly record struct TrafficTotals(long Transactions, long Queries, long Received, long Sent,
    long TransactionMicros, long QueryMicros, long WaitMicros, long Waits,
    long Assignments = 0, long ClientParses = 0, long ServerParses = 0, long Binds = 0)
{
    public static TrafficTotals operator +(TrafficTotals a, TrafficTotals b) => new(a.Transactions + b.Transactions, a.Queries + b.Queries,
        a.Received + b.Received, a.Sent + b.Sent, a.TransactionMicros + b.TransactionMicros, a.QueryMicros + b.QueryMicros,
        a.WaitMicros + b.WaitMicros, a.Waits + b.Waits, a.Assignments + b.Assignments, a.ClientParses + b.ClientParses,
        a.ServerParses + b.ServerParses, a.Binds + b.Binds);

    public static TrafficTotals operator -(TrafficTotals a, TrafficTotals b) => new(a.Transactions - b.Transactions, a.Queries - b.Queries,
        a.Received - b.Received, a.Sent - b.Sent, a.TransactionMicros - b.TransactionMicros, a.QueryMicros - b.QueryMicros,
        a.WaitMicros - b.WaitMicros, a.Waits - b.Waits, a.Assignments - b.Assignments, a.ClientParses - b.ClientParses,
        a.ServerParses - b.ServerParses, a.Binds - b.Binds);

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
    private long _assignments;
    private long _clientParses;
    private long _serverParses;
    private long _binds;

    /// <summary>The client was given a server connection (its client loop).</summary>
    public void Assigned() => Volatile.Write(ref _assignments, _assignments + 1);

    /// <summary>The client sent a Parse of a named statement, which the pooler handles (its client loop).</summary>
    public void ClientParsed() => Volatile.Write(ref _clientParses, _clientParses + 1);

    /// <summary>The pooler sent a server connection a Parse for one of the client's statements (its client loop).</summary>
    public void ServerParsed() => Volatile.Write(ref _serverParses, _serverParses + 1);

    /// <summary>The client bound one of its prepared statements (its client loop).</summary>
    public void Bound() => Volatile.Write(ref _binds, _binds + 1);

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

    /// <summary>
    /// A command came in on the admin console (its loop): one query and one transaction, counted as
    /// it starts, as PgBouncer counts them, so SHOW TOTALS counts itself; the console's are not timed.
    /// </summary>
    public void ConsoleCommand()
    {
        Volatile.Write(ref _queries, _queries + 1);
        Volatile.Write(ref _transactions, _transactions + 1);
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
        TrafficTotals.Micros(Volatile.Read(ref _waitTicks)), Volatile.Read(ref _waits), Volatile.Read(ref _assignments),
        Volatile.Read(ref _clientParses), Volatile.Read(ref _serverParses), Volatile.Read(ref _binds));
}
