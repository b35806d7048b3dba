using System.Globalization;

namespace PgBouncerActors.TestKit;

/// <summary>
/// Timing of expectations. On a slow or loaded machine set <c>PGBA_TEST_TIME_FACTOR</c> (for
/// example 3) and every default timeout and <c>Within</c> bound is stretched by it.
/// </summary>
public sealed record TestKitSettings
{
    public const string TimeFactorVariable = "PGBA_TEST_TIME_FACTOR";

    public double TimeFactor { get; init; } = ReadTimeFactor();

    /// <summary>How long an expectation waits when neither a timeout nor a Within bound is given (before dilation).</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How long the actor system may take to shut down after a test (before dilation).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Dilated(TimeSpan duration) =>
        duration == Timeout.InfiniteTimeSpan ? duration : TimeSpan.FromTicks((long)(duration.Ticks * TimeFactor));

    private static double ReadTimeFactor() => ParseTimeFactor(Environment.GetEnvironmentVariable(TimeFactorVariable));

    /// <summary>The factor from the variable's text: 1 when unset; a clear error for anything but a number >= 1.</summary>
    internal static double ParseTimeFactor(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return 1.0;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var factor) || factor < 1.0)
        {
            throw new InvalidOperationException($"{TimeFactorVariable} must be a number >= 1, not '{text}'.");
        }

        return factor;
    }
}
