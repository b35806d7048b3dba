using PgBouncerActors.Configuration;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>
/// A pool's memory of failed server logins (ARCHITECTURE invariant 4): it lives in the
/// PoolSupervisor, not in the BackendConnection that failed, so it outlives every restart.
/// <para>
/// Only an outage backs off: a server that cannot be reached, or is starting, stopping or full
/// (<see cref="IsOutage"/>). Then the pool opens nothing while it says wait and hands the last
/// error to clients it cannot serve. Logins that were in flight together form one wave and count
/// as one failure, so a database back within a second is not left unused for seconds. A refusal
/// that depends on who logs in (no such database yet, a wrong password) is no outage: it is not
/// kept for the next clients, only paced so that the server is not hammered.
/// </para>
/// </summary>
internal sealed class ConnectBackoff(Func<BackoffSettings> settingsNow, Func<double> random)
{
    /// <summary>Fixed settings (specs).</summary>
    public ConnectBackoff(BackoffSettings settings, Func<double> random)
        : this(() => settings, random)
    {
    }

    private TimeSpan _retryAt;
    private TimeSpan _pausedUntil;
    private TimeSpan _refusedUntil; // a login the server refused: no connection opens for min_pool_size alone before this

    /// <summary>Outage failures in a row, one per wave.</summary>
    public int Failures { get; private set; }

    /// <summary>The wave a login attempt started now belongs to; it moves on at every counted failure.</summary>
    public int Wave { get; private set; }

    /// <summary>The server's error from the last failed login during an outage; null while logins succeed.</summary>
    public PgError? LastError { get; private set; }

    /// <summary>The server is down as far as the pool knows: clients it cannot serve get <see cref="LastError"/> at once.</summary>
    public bool IsFailing => Failures > 0;

    /// <summary>
    /// Records a failed login at <paramref name="now"/> (monotonic) of an attempt started in
    /// <paramref name="attemptWave"/>; returns how long until the next attempt.
    /// </summary>
    public TimeSpan Failed(PgError error, TimeSpan now, int attemptWave)
    {
        var settings = settingsNow(); // server_login_retry may have changed since (SET, RELOAD)
        if (!IsOutage(error))
        {
            _pausedUntil = now + settings.Min;
            _refusedUntil = now + settings.Max;
            return settings.Min;
        }

        LastError = error;
        if (attemptWave != Wave)
        {
            return _retryAt > now ? _retryAt - now : TimeSpan.Zero; // in flight with one already counted
        }

        var delay = Delay(settings.Min, settings.Max, settings.RandomFactor, Failures, random());
        Failures++;
        Wave++;
        _retryAt = now + delay;
        return delay;
    }

    /// <summary>
    /// Whether the pool may open connections nobody waits for (min_pool_size): not within
    /// server_login_retry of a login the server refused (a wrong password, no such database), which
    /// would otherwise be tried again many times a second with nobody to tell. Waiting clients still
    /// try after <see cref="MayConnect"/>: each gets the server's own answer.
    /// </summary>
    public bool MayWarm(TimeSpan now) => now >= _refusedUntil;

    /// <summary>Whether a login may be tried now: not while an outage's delay or a refusal's pause runs.</summary>
    public bool MayConnect(TimeSpan now) => (!IsFailing || now >= _retryAt) && now >= _pausedUntil;

    /// <summary>How long until a login may be tried again (zero: now).</summary>
    public TimeSpan RetryIn(TimeSpan now)
    {
        var until = IsFailing && _retryAt > _pausedUntil ? _retryAt : _pausedUntil;
        return until > now ? until - now : TimeSpan.Zero;
    }

    public void Succeeded()
    {
        Failures = 0;
        LastError = null;
        _pausedUntil = TimeSpan.Zero;
        _refusedUntil = TimeSpan.Zero;
        Wave++;
    }

    /// <summary>
    /// The server cannot be reached or is not taking connections (SQLSTATE class 08; 57P01-57P03:
    /// shutting down, crashed, starting; 53300: full): the same for every client, so worth waiting out.
    /// </summary>
    public static bool IsOutage(PgError error) =>
        error.SqlState.StartsWith("08", StringComparison.Ordinal) ||
        error.SqlState is SqlStates.AdminShutdown or "57P02" or SqlStates.CannotConnectNow or SqlStates.TooManyConnections;

    /// <summary><c>min(max, min * 2^attempt) * (1 + random * randomFactor)</c>, without overflow for any attempt.</summary>
    internal static TimeSpan Delay(TimeSpan min, TimeSpan max, double randomFactor, int attempt, double random)
    {
        var doubled = min.TotalMilliseconds * Math.Pow(2, attempt);
        var capped = double.IsFinite(doubled) ? Math.Min(max.TotalMilliseconds, doubled) : max.TotalMilliseconds;
        return TimeSpan.FromMilliseconds(capped * (1 + (random * randomFactor)));
    }
}
