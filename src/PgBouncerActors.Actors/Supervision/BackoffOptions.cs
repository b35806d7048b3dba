namespace PgBouncerActors.Actors.Supervision;

public enum BackoffMode
{
    /// <summary>Restart the child after a backoff whenever it stops, for whatever reason.</summary>
    OnStop,

    /// <summary>Restart the child after a backoff when it fails; if it stops by itself, the supervisor stops too.</summary>
    OnFailure,
}

/// <summary>
/// The settings of a <see cref="BackoffSupervisor"/>: the delay before the n-th restart is
/// <c>min(maxBackoff, minBackoff * 2^n) * (1 + random * randomFactor)</c>.
/// </summary>
public sealed record BackoffOptions
{
    private BackoffOptions(BackoffMode mode, Props childProps, string childName, TimeSpan minBackoff, TimeSpan maxBackoff, double randomFactor)
    {
        if (minBackoff <= TimeSpan.Zero || maxBackoff < minBackoff)
        {
            throw new ArgumentException("Backoff needs 0 < minBackoff <= maxBackoff.");
        }

        if (randomFactor is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(randomFactor), randomFactor, "The random factor is between 0 and 1.");
        }

        Mode = mode;
        ChildProps = childProps;
        ChildName = childName;
        MinBackoff = minBackoff;
        MaxBackoff = maxBackoff;
        RandomFactor = randomFactor;
        ResetBackoff = minBackoff;
    }

    public BackoffMode Mode { get; }

    public Props ChildProps { get; }

    public string ChildName { get; }

    public TimeSpan MinBackoff { get; }

    public TimeSpan MaxBackoff { get; }

    public double RandomFactor { get; }

    /// <summary>How long the child must run before the restart count goes back to zero; null for manual reset only.</summary>
    public TimeSpan? ResetBackoff { get; private init; }

    /// <summary>Give up (stop the supervisor) after this many restarts; negative for never.</summary>
    public int MaxNrOfRetries { get; private init; } = -1;

    /// <summary>Sent back to the sender of a message that arrives while the child is down; dead letters when null.</summary>
    public object? ReplyWhileStopped { get; private init; }

    /// <summary>In <see cref="BackoffMode.OnStop"/>, how the child's failures are handled in place.</summary>
    public SupervisorStrategy ChildStrategy { get; private init; } = SupervisorStrategy.Default;

    public static BackoffOptions OnStop(Props childProps, string childName, TimeSpan minBackoff, TimeSpan maxBackoff, double randomFactor) =>
        new(BackoffMode.OnStop, childProps, childName, minBackoff, maxBackoff, randomFactor);

    public static BackoffOptions OnFailure(Props childProps, string childName, TimeSpan minBackoff, TimeSpan maxBackoff, double randomFactor) =>
        new(BackoffMode.OnFailure, childProps, childName, minBackoff, maxBackoff, randomFactor);

    public BackoffOptions WithAutoReset(TimeSpan resetBackoff) => this with { ResetBackoff = resetBackoff };

    public BackoffOptions WithManualReset() => this with { ResetBackoff = null };

    public BackoffOptions WithMaxNrOfRetries(int maxNrOfRetries) => this with { MaxNrOfRetries = maxNrOfRetries };

    public BackoffOptions WithReplyWhileStopped(object reply) => this with { ReplyWhileStopped = reply };

    public BackoffOptions WithSupervisorStrategy(SupervisorStrategy strategy) => this with { ChildStrategy = strategy };

    public Props Props() => Actors.Props.Create(() => new BackoffSupervisor(this));

    /// <summary>The delay before restart number <paramref name="restartCount"/> (0-based), given a uniform draw in [0, 1).</summary>
    public TimeSpan CalculateDelay(int restartCount, double random) =>
        Backoff.Delay(MinBackoff, MaxBackoff, RandomFactor, restartCount, random);
}

/// <summary>The exponential backoff with jitter shared by the backoff supervisor and anything else that retries.</summary>
public static class Backoff
{
    /// <summary><c>min(max, min * 2^attempt) * (1 + random * randomFactor)</c>, without overflow for any attempt.</summary>
    public static TimeSpan Delay(TimeSpan min, TimeSpan max, double randomFactor, int attempt, double random)
    {
        var doubled = min.TotalMilliseconds * Math.Pow(2, attempt);
        var capped = double.IsFinite(doubled) ? Math.Min(max.TotalMilliseconds, doubled) : max.TotalMilliseconds;
        return TimeSpan.FromMilliseconds(capped * (1 + (random * randomFactor)));
    }
}
