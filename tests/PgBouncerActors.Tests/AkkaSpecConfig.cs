using System.Globalization;

namespace PgBouncerActors.Tests;

/// <summary>
/// The Akka.TestKit configuration every actor spec starts from. On a slow or loaded machine set
/// <c>PGBA_TEST_TIME_FACTOR</c> (for example 3): it becomes Akka.TestKit's <c>akka.test.timefactor</c>,
/// which stretches every default timeout and Within bound.
/// </summary>
internal static class AkkaSpecConfig
{
    public const string TimeFactorVariable = "PGBA_TEST_TIME_FACTOR";

    public static string With(string config = "") =>
        $"akka.test.timefactor = {TimeFactor().ToString(CultureInfo.InvariantCulture)}\n{(global::PgBouncerActors.Session.SessionMailbox.Hocon)}\n{(global::PgBouncerActors.Hosting.SessionDispatcher.Hocon)}\n{config}";

    private static double TimeFactor()
    {
        var text = Environment.GetEnvironmentVariable(TimeFactorVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return 1.0;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var factor) && factor >= 1.0
            ? factor
            : throw new InvalidOperationException($"{TimeFactorVariable} must be a number >= 1, not '{text}'.");
    }
}
