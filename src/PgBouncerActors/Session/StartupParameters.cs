using System.Text;

namespace PgBouncerActors.Session;

/// <summary>
/// The settings a client asked for in its startup packet, applied to every server connection it
/// uses. PgBouncer refuses most startup parameters with 08P01; this pooler applies them all
/// (including <c>options=-c key=value</c>) and only the server's own refusal is an error.
/// </summary>
internal static class StartupParameters
{
    private static readonly HashSet<string> NotSettings = new(StringComparer.OrdinalIgnoreCase) { "user", "database", "options", "replication" };

    /// <summary>
    /// The replication startup parameter as the server reads it: "database" (logical), "true"
    /// (physical, any of PostgreSQL's spellings of true), "" for false; null when it is neither.
    /// </summary>
    public static string? ReplicationMode(string value) => value switch
    {
        "database" => "database",
        _ when value.ToLowerInvariant() is "true" or "on" or "yes" or "1" or "t" or "y" => "true",
        _ when value.ToLowerInvariant() is "false" or "off" or "no" or "0" or "f" or "n" => "",
        _ => null,
    };

    /// <summary>
    /// What a replication connection to the server is opened with: the client's startup parameters
    /// as it sent them (options included, not parsed), all but those the pooler sets itself.
    /// </summary>
    public static List<KeyValuePair<string, string>> ForReplication(IEnumerable<KeyValuePair<string, string>> parameters) =>
        parameters.Where(p => p.Key is not ("user" or "database" or "replication")).ToList();

    /// <summary>The settings to apply: plain parameters, then those from <c>options</c> (a later one wins).</summary>
    /// <exception cref="FormatException">an <c>options</c> value with something other than -c settings.</exception>
    public static Dictionary<string, string> SettingsOf(IEnumerable<KeyValuePair<string, string>> parameters, IReadOnlySet<string> ignored)
    {
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in parameters)
        {
            var given = name.Equals("options", StringComparison.OrdinalIgnoreCase) ? ParseOptions(value)
                : NotSettings.Contains(name) ? [] : [new KeyValuePair<string, string>(name, value)];
            foreach (var setting in given.Where(setting => !ignored.Contains(setting.Key)))
            {
                settings[setting.Key] = setting.Value;
            }
        }

        return settings;
    }

    /// <summary>
    /// A new client's settings: the server's defaults as a fresh server connection reported them
    /// (the settings a client may change), with the client's startup settings over them.
    /// </summary>
    public static Dictionary<string, string> OverServerDefaults(IReadOnlyDictionary<string, string> serverDefaults,
        IReadOnlyDictionary<string, string> startup)
    {
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in serverDefaults)
        {
            if (Proxy.TrackedParameters.IsTracked(name))
            {
                settings[name] = value;
            }
        }

        foreach (var (name, value) in startup)
        {
            settings[name] = value;
        }

        return settings;
    }

    /// <summary>
    /// The parameters a pooled client is welcomed with without a server connection: those the
    /// pool's server reported at its last login, with the client's startup settings over them. Null
    /// when they cannot stand for what a server would answer: a reported setting the client changes
    /// (the server may spell it otherwise, or refuse it) other than an application_name the server
    /// keeps as given (printable ASCII, under its 64 bytes). Settings the server does not report
    /// go out with the client's first transaction, as every setting of a pooled client does.
    /// </summary>
    public static Dictionary<string, string>? WelcomeWithoutServer(IReadOnlyDictionary<string, string> serverParameters,
        IReadOnlyDictionary<string, string> startup)
    {
        var welcome = new Dictionary<string, string>(serverParameters, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in startup)
        {
            if (!welcome.TryGetValue(name, out var reported) || string.Equals(reported, value, StringComparison.Ordinal))
            {
                continue;
            }

            if (!name.Equals("application_name", StringComparison.OrdinalIgnoreCase) || value.Length >= 64 || value.Any(c => c is < ' ' or > '~'))
            {
                return null;
            }

            welcome[name] = value;
        }

        return welcome;
    }

    /// <summary>
    /// What a server connection must change to carry a client's settings: each setting whose value
    /// differs from the server's reported one (or from what the pooler applied before), and, with a
    /// null value, each setting applied for an earlier client that this one did not ask for.
    /// </summary>
    public static List<(string Name, string? Value)> SettingChanges(IReadOnlyDictionary<string, string> desired,
        IReadOnlyDictionary<string, string> reported, IReadOnlyDictionary<string, string> applied)
    {
        var changes = new List<(string, string?)>();
        foreach (var (name, value) in desired)
        {
            var current = reported.TryGetValue(name, out var known) ? known : applied.GetValueOrDefault(name);
            if (current != value)
            {
                changes.Add((name, value));
            }
        }

        foreach (var name in applied.Keys)
        {
            if (!desired.ContainsKey(name))
            {
                changes.Add((name, null));
            }
        }

        return changes;
    }

    /// <summary>
    /// One statement that makes the changes (<see cref="SettingChanges"/>), or null when there are
    /// none: set_config for each change, and set_config(name, NULL), which is RESET, for a setting
    /// to drop. set_config takes any name, custom <c>a.b</c> ones included, and quotes nothing into
    /// SQL syntax.
    /// </summary>
    public static string? SetQuery(List<(string Name, string? Value)> changes) => changes.Count == 0 ? null
        : "SELECT " + string.Join(", ", changes.Select(change =>
            $"pg_catalog.set_config({QuoteLiteral(change.Name)}, {(change.Value is null ? "NULL" : QuoteLiteral(change.Value))}, false)"));

    /// <summary>The changes as PgBouncer's varcache_apply debug line shows the statement it sends ("SET DateStyle='ISO';").</summary>
    public static string AsPgBouncerSets(List<(string Name, string? Value)> changes) =>
        string.Concat(changes.Select(change => change.Value is null ? $"RESET {change.Name};" : $"SET {change.Name}={QuoteLiteral(change.Value)};"));

    /// <summary>
    /// The statement that puts back the startup settings a reset touched (RESET ALL and DISCARD
    /// ALL touch all of them), so that, as on a direct connection, they stay the client's defaults;
    /// null when the resets touch none.
    /// </summary>
    public static string? BuildReapplyQuery(IReadOnlyDictionary<string, string> startup, IReadOnlyList<SettingsReset> resets)
    {
        if (resets.Count == 0)
        {
            return null;
        }

        var local = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase); // setting -> only for this transaction
        foreach (var reset in resets)
        {
            foreach (var name in reset.Name is null ? startup.Keys : startup.ContainsKey(reset.Name) ? [reset.Name] : [])
            {
                local[name] = reset.Local;
            }
        }

        return local.Count == 0 ? null
            : "SELECT " + string.Join(", ", local.Select(setting =>
                $"pg_catalog.set_config({QuoteLiteral(setting.Key)}, {QuoteLiteral(startup[setting.Key])}, {(setting.Value ? "true" : "false")})"));
    }

    /// <summary>A string literal safe whatever standard_conforming_strings is (as libpq's PQescapeLiteral).</summary>
    public static string QuoteLiteral(string value)
    {
        var builder = new StringBuilder(value.Length + 4);
        if (value.Contains('\\'))
        {
            builder.Append(" E");
        }

        builder.Append('\'');
        foreach (var c in value)
        {
            builder.Append(c switch { '\'' => "''", '\\' => @"\\", _ => c.ToString() });
        }

        return builder.Append('\'').ToString();
    }

    /// <summary>PgBouncer's words for any other switch, or a setting without a value, in the options startup parameter.</summary>
    private const string UnsupportedOptions = "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed";

    /// <summary>The backend command-line switches PGOPTIONS carries: <c>-c a=b</c>, <c>-ca=b</c>, <c>--a=b</c>; backslash escapes a space.</summary>
    public static IEnumerable<KeyValuePair<string, string>> ParseOptions(string options)
    {
        var words = SplitWords(options);
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            string assignment;
            if (word == "-c" && i + 1 < words.Count)
            {
                assignment = words[++i];
            }
            else if (word.StartsWith("--", StringComparison.Ordinal))
            {
                assignment = word[2..];
            }
            else if (word.StartsWith("-c", StringComparison.Ordinal) && word.Length > 2)
            {
                assignment = word[2..];
            }
            else
            {
                throw new FormatException(UnsupportedOptions);
            }

            var equals = assignment.IndexOf('=');
            if (equals <= 0)
            {
                throw new FormatException(UnsupportedOptions);
            }

            // The server folds '-' to '_' in setting names given on its command line.
            yield return new(assignment[..equals].Replace('-', '_'), assignment[(equals + 1)..]);
        }
    }

    private static List<string> SplitWords(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                current.Append(text[++i]);
            }
            else if (char.IsWhiteSpace(c))
            {
                if (current.Length > 0)
                {
                    words.Add(current.ToString());
                    current.Clear();
                }
            }
            else
            {
                current.Append(c);
            }
        }

        if (current.Length > 0)
        {
            words.Add(current.ToString());
        }

        return words;
    }
}
