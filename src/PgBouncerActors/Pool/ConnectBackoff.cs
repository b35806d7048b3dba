using PgBouncerActors.Actors.Supervision;
using PgBouncerActors.Configuration;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>
/// A pool's memory of failed server logins (ARCHITECTURE invariant 4): it lives in the
/// PoolSupervisor, not in the BackendConnection that failed, so it outlives every restart. While
/// it says wait, the pool opens nothing and hands the last error to clients it cannot serve.
/// </summary>
internal sealed class ConnectBackoff(BackoffSettings settings, Func<double> random)
{
    public int Failures { get; private set; }

    /// <summary>The server's error from the last failed login; null while logins succeed.</summary>
    public PgError? LastError { get; private set; }

    private TimeSpan _retryAt;

    public bool IsFailing => Failures > 0;

    /// <summary>Records a failed login at <paramref name="now"/> (monotonic); returns how long until the next attempt.</summary>
    public TimeSpan Failed(PgError error, TimeSpan now)
    {
        var delay = Backoff.Delay(settings.Min, settings.Max, settings.RandomFactor, Failures, random());
        Failures++;
        LastError = error;
        _retryAt = now + delay;
        return delay;
    }

    /// <summary>Whether a login may be tried now: always while logins succeed; after a failure, once its delay is over.</summary>
    public bool MayConnect(TimeSpan now) => !IsFailing || now >= _retryAt;

    public void Succeeded()
    {
        Failures = 0;
        LastError = null;
    }
}
