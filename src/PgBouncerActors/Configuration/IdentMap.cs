using System.Text.RegularExpressions;

namespace PgBouncerActors.Configuration;

/// <summary>
/// auth_ident_file: pg_ident.conf's user name maps, which an hba line's <c>map=NAME</c> names for
/// peer and cert authentication. A line is <c>MAPNAME SYSTEM-USERNAME PG-USERNAME</c>; the system
/// user may be quoted, or a regular expression after a slash (<c>/^(.*)@example\.com$</c>) whose
/// first group replaces <c>\1</c> in the PostgreSQL user; a PostgreSQL user of <c>all</c> (not
/// quoted) is any user. Without a map, the system user must be the user logging in.
/// </summary>
public sealed class IdentMap
{
    private readonly Dictionary<string, List<Entry>> _maps;

    private IdentMap(Dictionary<string, List<Entry>> maps) => _maps = maps;

    public static IdentMap Empty { get; } = new([]);

    private sealed record Entry(string? SystemUser, Regex? SystemPattern, string PgUser, bool AnyPgUser);

    /// <summary>Whether <paramref name="systemUser"/> (the OS user, a certificate's common name) may log in as <paramref name="pgUser"/>.</summary>
    public bool Allows(string? map, string? systemUser, string pgUser)
    {
        if (systemUser is null)
        {
            return false;
        }

        if (map is null)
        {
            return systemUser == pgUser;
        }

        foreach (var entry in _maps.GetValueOrDefault(map) ?? [])
        {
            if (entry.SystemPattern is { } pattern)
            {
                Match match;
                try
                {
                    match = pattern.Match(systemUser);
                }
                catch (RegexMatchTimeoutException)
                {
                    continue; // a pattern that takes too long on this name matches nothing: the login is refused, the pooler goes on
                }

                if (match.Success && (entry.AnyPgUser || entry.PgUser.Replace(@"\1", match.Groups.Count > 1 ? match.Groups[1].Value : "") == pgUser))
                {
                    return true;
                }
            }
            else if (entry.SystemUser == systemUser && (entry.AnyPgUser || entry.PgUser == pgUser))
            {
                return true;
            }
        }

        return false;
    }

    /// <exception cref="ConfigurationException">The file cannot be read, or a line is not MAPNAME SYSTEM-USERNAME PG-USERNAME (with its line number).</exception>
    public static IdentMap Load(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"{path}: cannot read auth_ident_file: {e.Message}");
        }

        var maps = new Dictionary<string, List<Entry>>(StringComparer.Ordinal);
        for (var number = 1; number <= lines.Length; number++)
        {
            var fields = Fields(lines[number - 1]);
            if (fields.Count == 0)
            {
                continue;
            }

            if (fields.Count != 3)
            {
                throw new ConfigurationException($"{path}:{number}: expected MAPNAME SYSTEM-USERNAME PG-USERNAME");
            }

            var (system, systemQuoted) = fields[1];
            var (pgUser, pgQuoted) = fields[2];
            Regex? pattern = null;
            if (!systemQuoted && system.StartsWith('/'))
            {
                try
                {
                    pattern = new Regex(system[1..], RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
                }
                catch (ArgumentException e)
                {
                    throw new ConfigurationException($"{path}:{number}: invalid regular expression \"{system[1..]}\": {e.Message}");
                }
            }

            var entries = maps.TryGetValue(fields[0].Text, out var list) ? list : maps[fields[0].Text] = [];
            entries.Add(new Entry(pattern is null ? system : null, pattern, pgUser, AnyPgUser: !pgQuoted && pgUser == "all"));
        }

        return new IdentMap(maps);
    }

    /// <summary>A line's fields at blanks, double quotes keeping blanks (and "" a quote); # starts a comment.</summary>
    private static List<(string Text, bool Quoted)> Fields(string line)
    {
        var fields = new List<(string, bool)>();
        var current = new System.Text.StringBuilder();
        bool inQuotes = false, quoted = false, any = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (inQuotes)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    inQuotes = false;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '#')
            {
                break;
            }
            else if (char.IsWhiteSpace(c))
            {
                End();
            }
            else if (c == '"')
            {
                inQuotes = quoted = any = true;
            }
            else
            {
                current.Append(c);
                any = true;
            }
        }

        End();
        return fields;

        void End()
        {
            if (any)
            {
                fields.Add((current.ToString(), quoted));
            }

            current.Clear();
            any = quoted = false;
        }
    }
}
