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

    /// <summary>Its traffic stays in the pool's totals; it leaves the lists and the client limits' counts. Once, however the session ends.</summary>
    private void LeaveStatistics()
    {
        if (_countedInClientLimits)
        {
            _countedInClientLimits = false;
            _services.ClientLimits.Leave(_database, _user);
        }

        if (_entry is { } entry)
        {
            entry.StoppedWaiting(served: false);
            _statistics!.Left(entry);
            _entry = null;
        }
    }
}
