using System.Collections.Concurrent;

namespace PgBouncerActors.Session;

/// <summary>
/// One copy of each set of startup settings clients log in with. An application's clients send the
/// same few (client_encoding, DateStyle, application_name...), and every idle client kept its own
/// dictionary of them, about 400 bytes; now they share one. Bounded: once <see cref="MostKept"/>
/// different sets are kept (an application_name per client, say), a new set stays its client's own.
/// The sets are read, never changed, once a client has them.
/// </summary>
internal static class SharedStartupSettings
{
    internal const int MostKept = 1024;

    private static readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> Kept = new(StringComparer.Ordinal);

    /// <summary>The kept set equal to <paramref name="settings"/> (names compared as written), or <paramref name="settings"/> itself, kept.</summary>
    public static IReadOnlyDictionary<string, string> Of(Dictionary<string, string> settings)
    {
        var signature = Signature(settings);
        if (Kept.TryGetValue(signature, out var kept))
        {
            return kept;
        }

        return Kept.Count >= MostKept ? settings : Kept.GetOrAdd(signature, settings);
    }

    /// <summary>Names and values in name order, split by characters no startup packet carries (it is NUL-separated).</summary>
    private static string Signature(Dictionary<string, string> settings)
    {
        var names = settings.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        return string.Join('\0', names.Select(name => $"{name}\u0001{settings[name]}"));
    }
}
