namespace PgBouncerActors.Admin;

/// <summary>
/// One console query as PgBouncer reads it: a verb and its words, case-insensitive, one trailing
/// semicolon allowed; more than one statement is not (PgBouncer refuses it as an invalid command).
/// </summary>
internal sealed record ConsoleCommand(string Text, string Verb, IReadOnlyList<string> Arguments)
{
    /// <summary>More than one statement: refused as an invalid command, as PgBouncer does.</summary>
    public bool Several { get; init; }

    /// <summary>SET's key, when the command is SET key = value (or key TO value).</summary>
    public string? SetKey { get; init; }

    public string? SetValue { get; init; }

    /// <returns>Null for an empty query.</returns>
    public static ConsoleCommand? Parse(string query)
    {
        var text = query.Trim();
        if (text.EndsWith(';'))
        {
            text = text[..^1].TrimEnd();
        }

        if (text.Length == 0)
        {
            return null;
        }

        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var command = new ConsoleCommand(text, words[0].ToUpperInvariant(), words[1..]) { Several = text.Contains(';') };
        return command.Verb == "SET" ? command.WithAssignment(text[words[0].Length..].Trim()) : command;
    }

    /// <summary>key = value, key=value or key TO value; the value may be quoted ('...' with '' for a quote).</summary>
    private ConsoleCommand WithAssignment(string assignment)
    {
        var equals = assignment.IndexOf('=');
        string key, value;
        if (equals > 0)
        {
            (key, value) = (assignment[..equals].Trim(), assignment[(equals + 1)..].Trim());
        }
        else if (assignment.Split((char[]?)null, 3, StringSplitOptions.RemoveEmptyEntries) is [var name, var to, var rest]
                 && to.Equals("TO", StringComparison.OrdinalIgnoreCase))
        {
            (key, value) = (name, rest.Trim());
        }
        else
        {
            return this;
        }

        if (value.Length >= 2 && value[0] == '\'' && value[^1] == '\'')
        {
            value = value[1..^1].Replace("''", "'");
        }

        return key.Length == 0 ? this : this with { SetKey = key, SetValue = value };
    }
}
