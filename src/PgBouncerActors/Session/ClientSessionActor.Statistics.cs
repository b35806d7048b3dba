using PgBouncerActors.Pool;
using PgBouncerActors.Stats;

namespace PgBouncerActors.Session;

internal sealed partial class ClientSessionActor
{
    /// <summary>This client as SHOW CLIENTS lists it and SHOW STATS counts it; from the moment it knows its pool.</summary>
    private ClientEntry? _entry;
    private PoolStatistics? _statistics;

    private void JoinStatistics(PoolKey pool)
    {
        if (_entry is not null)
        {
            return;
        }

        _statistics = _services.Statistics.For(pool);
        _entry = new ClientEntry(_services.Statistics.NextClientId(), Self, _database, _user, Address, _client.LocalAddress,
            _startupSettings.GetValueOrDefault("application_name") ?? "", _client.TlsDescription, _services.Metrics?.HistogramsFor(pool));
        _statistics.Joined(_entry);
    }

    /// <summary>1 while counted in max_client_conn: from its accept until it starts to end (or its client said goodbye).</summary>
    private int _countedAsConnection = 1;

    /// <summary>
    /// It leaves max_client_conn's count and the per-database and per-user counts, once, however the
    /// session ends, and SHOW CLIENTS and SHOW POOLS no longer list it. Thread-safe: the client loop
    /// calls it the moment the client says goodbye, before the session hears of it, so that a client
    /// reconnecting at once (an application's own pool recycling a connection) finds its place free,
    /// and the console no longer shows a client that has gone.
    /// </summary>
    private void LeaveClientCounts()
    {
        Volatile.Read(ref _entry)?.SaidGoodbye();
        if (Interlocked.Exchange(ref _countedAsConnection, 0) == 1)
        {
            _services.ClientLimits.Disconnect();
        }

        if (Interlocked.Exchange(ref _countedInClientLimits, 0) == 1)
        {
            _services.ClientLimits.Leave(_database, _user);
        }
    }

    /// <summary>Its traffic stays in the pool's totals; it leaves the lists and the client counts. Once, however the session ends.</summary>
    private void LeaveStatistics()
    {
        LeaveClientCounts();

        if (_entry is { } entry)
        {
            entry.StoppedWaiting(served: false);
            _statistics!.Left(entry);
            _entry = null;
        }
    }
}
