using System.Collections.Concurrent;

namespace PgBouncerActors.Session;

/// <summary>
/// One copy of each set of startup settings clients log in with. An application's clients send the
/// same few (client_encoding, DateStyle, application_name...), and every idle client kept its own
/// dictionary of them, about 400 bytes; now they share one. Bounded: once <paramref name="mostKept"/>
/// different sets are kept (an application_name per client, say, or per deployment over months), the
/// kept ones are forgotten and keeping starts again from the next login, so the sets in use now are
/// the ones shared. Forgetting takes nothing from a client: the sets are read, never changed, once a
/// client has one. One per pooler (<c>PoolerServices</c>).
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

        if (_kept.Count >= mostKept)
        {
            _kept.Clear(); // two logins may both clear: each still gets a set equal to its own
        }

        return _kept.GetOrAdd(signature, settings);
    }

    /// <summary>Names and values in name order, each ended by a NUL, which no name or value can hold (the startup packet ends each with one).</summary>
    private static string Signature(Dictionary<string, string> settings)
    {
        var names = settings.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        return string.Concat(names.Select(name => $"{name}\0{settings[name]}\0"));
    }
}
