using Xunit;

namespace PgBouncerActors.Tests.Shared;

/// <summary>
/// Every property runs twice: with a fixed seed, so that CI is reproducible, and with a seed from
/// PGBA_PROPERTY_SEED (or, when unset, a fresh one that CsCheck prints on failure), so that
/// each run can also explore. A failure message names the seed that reproduces it.
/// </summary>
public static class PropertySeeds
{
    public const string Fixed = "bzzeRUdhttu1";

    /// <summary>The iterations of one property run: bounded, so that CI stays quick.</summary>
    public const int Iterations = 5000;

    public static TheoryData<string> Both => new() { "fixed", "environment" };

    /// <summary>The seed for a row of <see cref="Both"/>: null lets CsCheck choose (or take CsCheck_Seed).</summary>
    public static string? For(string which) =>
        which == "fixed" ? Fixed : Environment.GetEnvironmentVariable("PGBA_PROPERTY_SEED") is { Length: > 0 } given ? given : null;
}
