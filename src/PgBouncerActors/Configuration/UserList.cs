using System.Text;

namespace PgBouncerActors.Configuration;

/// <summary>
/// PgBouncer's auth_file (userlist.txt): one <c>"user" "secret"</c> per line, a doubled quote
/// inside quotes for a literal quote, lines starting with anything else ignored as comments.
/// Secrets are plaintext, <c>md5...</c> or <c>SCRAM-SHA-256$...</c>, exactly as PgBouncer reads them.
/// </summary>
public sealed class UserList
{
    private readonly Dictionary<string, string> _secrets;

    private UserList(Dictionary<string, string> secrets, string? path)
    {
        _secrets = secrets;
        Path = path;
    }

    public static UserList Empty { get; } = new([], null);

    /// <summary>The file read, or null when no auth_file is configured.</summary>
    public string? Path { get; }

    public bool IsConfigured => Path is not null;

    public int Count => _secrets.Count;

    public string? SecretOf(string user) => _secrets.GetValueOrDefault(user);

    /// <summary>The user names listed (SHOW USERS).</summary>
    public IEnumerable<string> Users => _secrets.Keys;

    public static UserList Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ConfigurationException($"{path}: auth_file not found");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public static UserList Parse(string text, string path)
    {
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r').TrimStart();
            if (!line.StartsWith('"'))
            {
                continue; // PgBouncer skips every line that does not start with a quote
            }

            var position = 0;
            var user = ReadQuoted(line, ref position, path, lineNumber);
            while (position < line.Length && char.IsWhiteSpace(line[position]))
            {
                position++;
            }

            if (position >= line.Length || line[position] != '"')
            {
                throw new ConfigurationException($"{path}:{lineNumber}: expected a quoted secret after \"{user}\"");
            }

            secrets[user] = ReadQuoted(line, ref position, path, lineNumber);
        }

        return new UserList(secrets, path);
    }

    private static string ReadQuoted(string line, ref int position, string path, int lineNumber)
    {
        var value = new StringBuilder();
        position++; // opening quote
        while (position < line.Length)
        {
            var c = line[position++];
            if (c != '"')
            {
                value.Append(c);
            }
            else if (position < line.Length && line[position] == '"')
            {
                value.Append('"');
                position++;
            }
            else
            {
                return value.ToString();
            }
        }

        throw new ConfigurationException($"{path}:{lineNumber}: unterminated quoted string");
    }
}
