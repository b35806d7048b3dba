using System.Net;
using System.Text;

namespace PgBouncerActors.Configuration;

/// <summary>The connection types of an hba line.</summary>
public enum HbaConnection
{
    /// <summary>The Unix socket.</summary>
    Local,

    /// <summary>TCP, with or without TLS.</summary>
    Host,
    HostSsl,
    HostNoSsl,
}

/// <summary>The methods an hba line may name (PgBouncer's: its auth types, plus reject and peer).</summary>
public enum HbaMethod
{
    Trust,
    Reject,
    Md5,
    Password,
    ScramSha256,
    Cert,

    /// <summary>Unix socket only: the client's OS user must be the user it logs in as.</summary>
    Peer,
}

/// <summary>One connection as hba lines see it.</summary>
/// <param name="PhysicalReplication">A physical replication connection (replication=true): only lines whose database column says replication match it, as in PostgreSQL and PgBouncer.</param>
public sealed record HbaConnectionInfo(bool UnixSocket, bool Tls, IPAddress? Address, string Database, string User, bool PhysicalReplication = false);

/// <summary>One line of the hba file.</summary>
/// <param name="Network">The address column as a network; null for local lines and "all".</param>
public sealed record HbaRule(int Line, HbaConnection Connection, HbaNames Databases, HbaNames Users, IPNetwork? Network, HbaMethod Method)
{
    /// <summary>map=NAME: the auth_ident_file map that says which OS users (peer) or certificate names (cert) may log in as whom.</summary>
    public string? Map { get; init; }

    public bool Matches(HbaConnectionInfo connection) =>
        (Connection switch
        {
            HbaConnection.Local => connection.UnixSocket,
            HbaConnection.Host => !connection.UnixSocket,
            HbaConnection.HostSsl => !connection.UnixSocket && connection.Tls,
            _ => !connection.UnixSocket && !connection.Tls,
        })
        && (Network is not { } network || connection.Address is { } address && network.Contains(address))
        && (connection.PhysicalReplication ? Databases.Replication : Databases.Matches(connection.Database, connection.User))
        && Users.Matches(connection.User, connection.User);
}

/// <summary>A database or user column: all, names (from the line and from @files), sameuser and replication (databases only).</summary>
/// <param name="Replication">The keyword replication: the line is for physical replication connections (and matches no database name).</param>
public sealed record HbaNames(bool All, bool SameUser, IReadOnlySet<string> Names, bool Replication = false)
{
    public bool Matches(string name, string user) => All || (SameUser && name == user) || Names.Contains(name);
}

/// <summary>
/// PgBouncer's subset of pg_hba.conf (auth_hba_file): local, host, hostssl and hostnossl lines;
/// database and user columns with all, sameuser, comma lists, quoted names and @file; addresses
/// in CIDR or address-and-mask form, IPv4 and IPv6, or all; methods trust, reject, md5, password,
/// scram-sha-256, cert and peer. The first line that matches decides. What PostgreSQL has and
/// PgBouncer does not (+group, samehost, host names, options such as map=) is refused when the
/// file is read, naming the line, so nobody runs with a rule that silently means something else.
/// </summary>
public sealed class HbaRules
{
    private HbaRules(IReadOnlyList<HbaRule> rules, string? path)
    {
        Rules = rules;
        Path = path;
    }

    public static HbaRules Empty { get; } = new([], null);

    public IReadOnlyList<HbaRule> Rules { get; }

    /// <summary>The file read, or null when none is configured.</summary>
    public string? Path { get; }

    /// <summary>The first line that matches, or null (the connection is refused).</summary>
    public HbaRule? Match(HbaConnectionInfo connection) => Rules.FirstOrDefault(rule => rule.Matches(connection));

    public static HbaRules Load(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"{path}: cannot read auth_hba_file: {e.Message}");
        }

        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var rules = new List<HbaRule>();
        for (var index = 0; index < lines.Length; index++)
        {
            var fields = Tokenize(lines[index]);
            if (fields.Count > 0)
            {
                rules.Add(ParseLine(fields, index + 1, path, folder));
            }
        }

        return new HbaRules(rules, path);
    }

    private static HbaRule ParseLine(List<Token> fields, int line, string path, string folder)
    {
        ConfigurationException Error(string message) => new($"{path}:{line}: {message}");

        var connection = fields[0].Text switch
        {
            "local" when !fields[0].Quoted => HbaConnection.Local,
            "host" when !fields[0].Quoted => HbaConnection.Host,
            "hostssl" when !fields[0].Quoted => HbaConnection.HostSsl,
            "hostnossl" when !fields[0].Quoted => HbaConnection.HostNoSsl,
            var other => throw Error($"invalid connection type \"{other}\" (local, host, hostssl or hostnossl; hostgssenc is not supported)"),
        };
        var needed = connection == HbaConnection.Local ? 4 : 5;
        if (fields.Count < needed)
        {
            throw Error(connection == HbaConnection.Local ? "expected: local DATABASE USER METHOD" : "expected: host DATABASE USER ADDRESS METHOD");
        }

        var databases = Names(fields[1], "database", line, path, folder, allowSameUser: true);
        var users = Names(fields[2], "user", line, path, folder, allowSameUser: false);
        IPNetwork? network = null;
        var next = 3;
        if (connection != HbaConnection.Local)
        {
            (network, next) = Address(fields, 3, Error);
        }

        if (next >= fields.Count)
        {
            throw Error("no authentication method");
        }

        var method = fields[next].Text switch
        {
            "trust" => HbaMethod.Trust,
            "reject" => HbaMethod.Reject,
            "md5" => HbaMethod.Md5,
            "password" => HbaMethod.Password,
            "scram-sha-256" => HbaMethod.ScramSha256,
            "cert" => HbaMethod.Cert,
            "peer" when connection == HbaConnection.Local => HbaMethod.Peer,
            "peer" => throw Error("peer works only on local lines"),
            var other => throw Error($"authentication method \"{other}\" is not supported (trust, reject, md5, password, scram-sha-256, cert, peer)"),
        };
        if (method == HbaMethod.Cert && connection is HbaConnection.Local or HbaConnection.HostNoSsl)
        {
            throw Error("cert needs TLS: use it on hostssl (or host) lines");
        }

        string? map = null;
        foreach (var option in fields.Skip(next + 1))
        {
            // map=NAME: auth_ident_file's map for peer and cert, as in PostgreSQL; PgBouncer reads no other option.
            if (option.Text.StartsWith("map=", StringComparison.Ordinal) && method is HbaMethod.Peer or HbaMethod.Cert && map is null)
            {
                map = option.Text["map=".Length..];
                continue;
            }

            throw Error($"options after the method are not supported (\"{option.Text}\"; only map= with peer or cert)");
        }

        return new HbaRule(line, connection, databases, users, network, method) { Map = map };
    }

    private static (IPNetwork? Network, int Next) Address(List<Token> fields, int at, Func<string, ConfigurationException> error)
    {
        var text = fields[at].Text;
        if (text == "all")
        {
            return (null, at + 1);
        }

        if (text is "samehost" or "samenet")
        {
            throw error($"{text} is not supported: write the addresses in CIDR form");
        }

        if (text.Contains('/'))
        {
            return IPNetwork.TryParse(text, out var network) ? (network, at + 1)
                : throw error($"invalid address \"{text}\" (CIDR such as 10.0.0.0/8 or fd00::/8)");
        }

        if (!IPAddress.TryParse(text, out var address))
        {
            throw error($"invalid address \"{text}\" (host names are not supported)");
        }

        // pg_hba's other form: an address, then a mask in the next column.
        if (at + 1 < fields.Count && IPAddress.TryParse(fields[at + 1].Text, out var mask) && mask.AddressFamily == address.AddressFamily)
        {
            var bits = MaskLength(mask.GetAddressBytes()) ?? throw error($"invalid mask \"{fields[at + 1].Text}\"");
            return IPNetwork.TryParse($"{address}/{bits}", out var masked) ? (masked, at + 2)
                : throw error($"address \"{text}\" has bits set outside mask \"{fields[at + 1].Text}\"");
        }

        throw error($"address \"{text}\" needs a CIDR length (/32, /128) or a mask column");
    }

    /// <summary>The number of leading one bits of a mask such as 255.255.255.0, or null when its ones are not contiguous.</summary>
    private static int? MaskLength(byte[] mask)
    {
        var bits = 0;
        var ended = false;
        foreach (var part in mask)
        {
            for (var bit = 7; bit >= 0; bit--)
            {
                var one = (part >> bit & 1) == 1;
                if (one && ended)
                {
                    return null;
                }

                ended |= !one;
                bits += one ? 1 : 0;
            }
        }

        return bits;
    }

    private static HbaNames Names(Token field, string column, int line, string path, string folder, bool allowSameUser)
    {
        bool all = false, sameUser = false, replication = false;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in field.Items)
        {
            if (item.Quoted)
            {
                names.Add(item.Text); // "all" in quotes is a name, as in PostgreSQL
            }
            else if (item.Text == "all")
            {
                all = true;
            }
            else if (item.Text == "sameuser" && allowSameUser)
            {
                sameUser = true;
            }
            else if (item.Text is "replication" && allowSameUser)
            {
                replication = true; // matches physical replication connections only, as in PostgreSQL
            }
            else if (item.Text is "samerole" or "samegroup" || item.Text.StartsWith('+'))
            {
                throw new ConfigurationException($"{path}:{line}: {column} \"{item.Text}\": role membership (+group, samerole) is not supported by the pooler");
            }
            else if (item.Text.StartsWith('@'))
            {
                var file = System.IO.Path.Combine(folder, item.Text[1..]);
                string text;
                try
                {
                    text = File.ReadAllText(file);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ConfigurationException($"{path}:{line}: cannot read {item.Text}: {e.Message}");
                }

                foreach (var listed in text.Split('\n').Select(l => l.Split('#')[0])
                    .SelectMany(l => l.Split([' ', '\t', ',', '\r'], StringSplitOptions.RemoveEmptyEntries)))
                {
                    names.Add(listed.Trim('"'));
                }
            }
            else
            {
                names.Add(item.Text);
            }
        }

        return new HbaNames(all, sameUser, names, replication);
    }

    /// <summary>A column: its comma-separated items, each quoted or not.</summary>
    private sealed record Token(IReadOnlyList<Item> Items)
    {
        public string Text => string.Join(",", Items.Select(item => item.Text));

        public bool Quoted => Items.Any(item => item.Quoted);
    }

    private sealed record Item(string Text, bool Quoted);

    /// <summary>Splits a line into columns at blanks and each column into items at commas, as pg_hba.conf does; # starts a comment.</summary>
    private static List<Token> Tokenize(string line)
    {
        var tokens = new List<Token>();
        var items = new List<Item>();
        var current = new StringBuilder();
        bool quoted = false, inQuotes = false, any = false;

        void EndItem()
        {
            if (any)
            {
                items.Add(new Item(current.ToString(), quoted));
            }

            current.Clear();
            quoted = false;
            any = false;
        }

        void EndToken()
        {
            EndItem();
            if (items.Count > 0)
            {
                tokens.Add(new Token(items.ToArray()));
            }

            items.Clear();
        }

        for (var at = 0; at < line.Length; at++)
        {
            var c = line[at];
            if (inQuotes)
            {
                if (c == '"')
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
            else if (c == '"')
            {
                inQuotes = true;
                quoted = true;
                any = true;
            }
            else if (c == ',')
            {
                EndItem();
            }
            else if (char.IsWhiteSpace(c))
            {
                // "a, b" and "a , b" are one column of two items, as PgBouncer reads pg_hba.conf: a blank next to a comma does not end it.
                var next = line.AsSpan(at).TrimStart();
                if (!next.IsEmpty && next[0] == ',')
                {
                    EndItem();
                }
                else if (any || current.Length > 0 || items.Count == 0)
                {
                    EndToken();
                }
            }
            else
            {
                current.Append(c);
                any = true;
            }
        }

        EndToken();
        return tokens;
    }
}
