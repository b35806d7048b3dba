namespace PgBouncerActors.Hosting;

/// <summary>Counters over the whole pooler, cheap to bump from any thread (for logs, tests and, later, SHOW STATS).</summary>
internal sealed class PoolerStats
{
    private long _serverLoginAttempts;

    public long ServerLoginAttempts => Interlocked.Read(ref _serverLoginAttempts);

    public void ServerLoginAttempted() => Interlocked.Increment(ref _serverLoginAttempts);

    private long _serverLoginFailuresHandled;

    /// <summary>Failed server logins whose pool has decided what comes next (its retry is scheduled).</summary>
    public long ServerLoginFailuresHandled => Interlocked.Read(ref _serverLoginFailuresHandled);

    public void ServerLoginFailureHandled() => Interlocked.Increment(ref _serverLoginFailuresHandled);
}
