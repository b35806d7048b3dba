using System.Collections.Concurrent;

namespace PgBouncerActors.Session;

/// <summary>
/// One copy of each set of startup settings clients log in with. An application's clients send the
/// same few (client_encoding, DateStyle, application_name...), and every idle client kept its own
/// dictionary of them, about 400 bytes; now they share one. Bounded: once <paramref name="mostKept"/>
/// different sets are kept (an application_name per client, say), a new set stays its client's own.
/// The sets are read, never changed, once a client has them. One per pooler (<c>PoolerServices</c>).
/// </summary>
internal sealed class SharedStartupSettings(int mostKept = 1024)
{
    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> _kept = new(StringComparer.Ordinal);

    /// <summary>The kept set equal to <paramref name="settings"/> (names compared as written), or <paramref name="settings"/> itself, kept.</summary>
    public IReadOnlyDictionary<string, string> Of(Dictionary<string, string> settings)
    {
        var signature = Signature(settings);
        if (_kept.TryGetValue(signature, out var kept))
        {
            return kept;
        }

        return _kept.Count >= mostKept ? settings : _kept.GetOrAdd(signature, settings);
    }

    /// <summary>Names and values in name order, split by characters no startup packet carries (it is NUL-separated).</summary>
    private static string Signature(Dictionary<string, string> settings)
    {
        var names = settings.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        return string.Join('\0', names.Select(name => $"{name}\u0001{settings[name]}"));
    }
}
