using System.Text;
using PgBouncerActors.Hocon;

namespace PgBouncerActors.Configuration;

/// <summary>
/// Reads PgBouncer's own pgbouncer.ini, so that a PgBouncer user points this pooler at their files
/// and it runs. Each ini line becomes one HOCON line at the same line number (the values quoted),
/// and the result goes through the same checks as a HOCON file, so an error names the ini file,
/// its line and the setting. <c>%include</c> reads another ini file in place (relative to the
/// including file's folder). A setting PgBouncer has and this pooler lacks is a warning, once;
/// one PgBouncer does not have either is an error, as PgBouncer makes it.
/// </summary>
internal static class PgBouncerIni
{
    /// <summary>[pgbouncer] settings of PgBouncer (1.18 to 1.24) that this pooler does not implement: accepted with a warning.</summary>
    private static readonly HashSet<string> UnsupportedSettings = new(StringComparer.Ordinal)
    {
        "autodb_idle_timeout",
        "client_tls_dheparams", "client_tls_ecdhcurve", "conffile", "dns_max_ttl", "dns_nxdomain_ttl", "dns_zone_check_period", "job_name",
        "listen_backlog", "max_packet_size", "pkt_buf", "resolv_conf",
        "sbuf_loopcnt", "server_reset_query_always",
        "server_tls13_ciphers",
        "suspend_timeout", "syslog", "syslog_facility", "syslog_ident", "tcp_defer_accept", "tcp_keepalive",
        "tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl", "tcp_socket_buffer", "tcp_user_timeout",
    };

    /// <summary>Keys of a [databases] connection string that this pooler reads, under the same names.</summary>
    private static readonly HashSet<string> DatabaseKeys = new(StringComparer.Ordinal)
    {
        "host", "port", "dbname", "user", "password", "pool_size", "min_pool_size", "pool_mode", "max_db_connections",
        "max_db_client_connections", "auth_user", "auth_dbname", "auth_query", "reserve_pool", "reserve_pool_size", "server_lifetime", "connect_query", "load_balance_hosts",
    };

    private static readonly HashSet<string> UnsupportedDatabaseKeys = new(StringComparer.Ordinal)
    {
        "client_encoding", "datestyle", "timezone", "application_name",
    };

    private static readonly HashSet<string> UserKeys = new(StringComparer.Ordinal)
    {
        "pool_mode", "max_user_connections", "max_user_client_connections", "pool_size", "reserve_pool_size", "query_timeout", "idle_transaction_timeout",
        "client_idle_timeout", "transaction_timeout",
    };

    private static readonly HashSet<string> UnsupportedUserKeys = new(StringComparer.Ordinal);

    /// <summary>The file as configuration (to be checked and mapped as a HOCON file is) and the warnings to log once.</summary>
    public static (Config Config, IReadOnlyList<string> Warnings) Read(string path, IReadOnlySet<string> pooledSettings)
    {
        var reader = new Reader(pooledSettings);
        reader.ReadFile(Path.GetFullPath(path), section: null, depth: 0);
        // Later lines win, as PgBouncer applies them in order: each part falls back on those before it.
        var config = reader.Parts.AsEnumerable().Reverse().Aggregate((merged, earlier) => merged.WithFallback(earlier));
        return (config, reader.Warnings);
    }

    private sealed class Reader(IReadOnlySet<string> pooledSettings)
    {
        public List<Config> Parts { get; } = [];

        public List<string> Warnings { get; } = [];

        private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

        public string? ReadFile(string file, string? section, int depth)
        {
            if (depth > 10)
            {
                throw new ConfigurationException($"{file}: %include nested more than 10 deep (does it include itself?)");
            }

            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigurationException($"{file}: cannot read the configuration file: {e.Message}");
            }

            var hocon = new StringBuilder();
            for (var index = 0; index < lines.Length; index++)
            {
                var line = lines[index].Trim();
                var where = $"{file}:{index + 1}";
                if (line.StartsWith("%include", StringComparison.Ordinal))
                {
                    Flush(hocon, file);
                    var included = line["%include".Length..].Trim();
                    section = ReadFile(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, included)), section, depth + 1);
                }
                else if (line.Length == 0 || line[0] is ';' or '#')
                {
                    // a comment
                }
                else if (line[0] == '[')
                {
                    section = line.EndsWith(']') ? line[1..^1].Trim().ToLowerInvariant()
                        : throw new ConfigurationException($"{where}: a section header must end with ']': {line}");
                    if (section is not ("pgbouncer" or "databases" or "users" or "peers" or "pgbouncer-actors"))
                    {
                        throw new ConfigurationException(
                            $"{where}: unknown section [{section}], expected [pgbouncer], [databases], [users] or [pgbouncer-actors]");
                    }

                    if (section == "peers")
                    {
                        Warn("[peers] is not read: instances forward cancel requests to each other over pgbouncer-actors.cluster (README \"Running several instances\"); its lines are ignored");
                    }
                }
                else
                {
                    var equals = line.IndexOf('=');
                    if (equals <= 0)
                    {
                        throw new ConfigurationException($"{where}: expected 'key = value', got: {line}");
                    }

                    hocon.Append(Translate(section, line[..equals].Trim(), line[(equals + 1)..].Trim(), where));
                }

                hocon.Append('\n'); // one HOCON line per ini line, so errors point at the ini's own line
            }

            Flush(hocon, file);
            return section;
        }

        /// <summary>Parses what was gathered so far; the next part keeps the line numbers by starting with as many empty lines.</summary>
        private void Flush(StringBuilder hocon, string file)
        {
            var lines = hocon.ToString().Count(c => c == '\n');
            Parts.Add(ConfigFactory.ParseString(hocon.ToString(), file, Path.GetDirectoryName(file)));
            hocon.Clear().Append('\n', lines + 1);
        }

        private string Translate(string? section, string key, string value, string where)
        {
            switch (section)
            {
                case "pgbouncer":
                    if (pooledSettings.Contains(key))
                    {
                        return $"pgbouncer.{key} = {Quote(value)}";
                    }

                    if (UnsupportedSettings.Contains(key))
                    {
                        Warn($"setting '{key}' is PgBouncer's but not supported here; ignored");
                        return "";
                    }

                    throw new ConfigurationException($"{where}: unknown parameter: pgbouncer/{key}");
                case "databases":
                    return $"databases.{Quote(key)} {{ {Fields(ConnectionString(value, where), DatabaseKeys, UnsupportedDatabaseKeys, $"database '{key}'", where)} }}";
                case "users":
                    return $"users.{Quote(key)} {{ {Fields(ConnectionString(value, where), UserKeys, UnsupportedUserKeys, $"user '{key}'", where)} }}";
                case "peers":
                    return "";
                case "pgbouncer-actors":
                    // This pooler's own settings (log_level, metrics.port...), checked as in a HOCON file.
                    return $"pgbouncer-actors.{key} = {Quote(value)}";
                default:
                    throw new ConfigurationException($"{where}: '{key}' is outside any section; put it under [pgbouncer]");
            }
        }

        private string Fields(IEnumerable<(string Key, string Value)> pairs, HashSet<string> known, HashSet<string> unsupported, string owner,
            string where)
        {
            var fields = new List<string>();
            foreach (var (key, value) in pairs)
            {
                if (known.Contains(key))
                {
                    fields.Add($"{key} = {Quote(value)}");
                }
                else if (unsupported.Contains(key))
                {
                    Warn($"'{key}' of {owner} is PgBouncer's but not supported here; ignored");
                }
                else
                {
                    throw new ConfigurationException($"{where}: unknown parameter '{key}' for {owner}");
                }
            }

            return string.Join(", ", fields);
        }

        private void Warn(string warning)
        {
            if (_warned.Add(warning))
            {
                Warnings.Add(warning);
            }
        }
    }

    /// <summary>libpq's key=value list: values bare or in single quotes, with \' and \\ inside quotes.</summary>
    internal static IEnumerable<(string Key, string Value)> ConnectionString(string text, string where)
    {
        var pairs = new List<(string, string)>();
        var position = 0;
        while (true)
        {
            while (position < text.Length && char.IsWhiteSpace(text[position]))
            {
                position++;
            }

            if (position == text.Length)
            {
                return pairs;
            }

            var equals = text.IndexOf('=', position);
            if (equals < 0)
            {
                throw new ConfigurationException($"{where}: expected key=value in '{text}'");
            }

            var key = text[position..equals].Trim();
            position = equals + 1;
            while (position < text.Length && text[position] == ' ')
            {
                position++;
            }

            var value = new StringBuilder();
            if (position < text.Length && text[position] == '\'')
            {
                position++;
                while (true)
                {
                    if (position == text.Length)
                    {
                        throw new ConfigurationException($"{where}: unterminated quoted value for '{key}'");
                    }

                    var c = text[position++];
                    if (c == '\'')
                    {
                        break;
                    }

                    value.Append(c == '\\' && position < text.Length ? text[position++] : c);
                }
            }
            else
            {
                while (position < text.Length && !char.IsWhiteSpace(text[position]))
                {
                    value.Append(text[position++]);
                }
            }

            pairs.Add((key.ToLowerInvariant(), value.ToString()));
        }
    }

    private static string Quote(string value)
    {
        var quoted = new StringBuilder("\"");
        foreach (var c in value)
        {
            quoted.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                _ => c.ToString(),
            });
        }

        return quoted.Append('"').ToString();
    }
}
