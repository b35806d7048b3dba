using System.Text;

namespace PgBouncerActors.Session;

/// <summary>One word at the start of a SQL statement: a keyword or name (unquoted, folded to lower case, or quoted), or a symbol; <paramref name="End"/> is where it ends in the query string.</summary>
internal readonly record struct SqlWord(string Text, bool IsName, bool Quoted, int End = 0)
{
    public bool IsKeyword(string keyword) => !Quoted && Text.Equals(keyword, StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Splits a query string into its statements at the semicolons that are not inside a string,
/// quoted name, dollar quote or comment, and gives the first few words of each: enough to
/// recognise short commands without parsing SQL.
/// </summary>
internal static class SqlStatementWords
{
    /// <param name="ends">Given, each statement's end is added to it: where its semicolon is, or the end of the string.</param>
    public static List<List<SqlWord>> Split(string sql, int wordsPerStatement, List<int>? ends = null)
    {
        var statements = new List<List<SqlWord>>();
        var words = new List<SqlWord>();
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == ';')
            {
                Flush(i);
                i++;
            }
            else if (c == '-' && At(i + 1) == '-')
            {
                i = sql.IndexOf('\n', i) is var newline and >= 0 ? newline + 1 : sql.Length;
            }
            else if (c == '/' && At(i + 1) == '*')
            {
                i = SkipBlockComment(sql, i);
            }
            else if (c is 'e' or 'E' && At(i + 1) == '\'')
            {
                i = SkipQuoted(sql, i + 1, '\'', backslashEscapes: true);
                Add(new SqlWord("", IsName: false, Quoted: true, i));
            }
            else if (c == '\'')
            {
                i = SkipQuoted(sql, i, '\'', backslashEscapes: false);
                Add(new SqlWord("", IsName: false, Quoted: true, i));
            }
            else if (c == '"' || IsNameStart(c))
            {
                i = ReadName(sql, i, out var name, out var quoted);
                Add(new SqlWord(name, IsName: true, Quoted: quoted, i));
            }
            else if (c == '$' && DollarTag(sql, i) is { } tag)
            {
                var close = sql.IndexOf(tag, i + tag.Length, StringComparison.Ordinal);
                i = close < 0 ? sql.Length : close + tag.Length;
                Add(new SqlWord("", IsName: false, Quoted: true, i));
            }
            else
            {
                i++;
                Add(new SqlWord(c.ToString(), IsName: false, Quoted: false, i));
            }
        }

        Flush(sql.Length);
        return statements;

        char At(int index) => index < sql.Length ? sql[index] : '\0';

        void Add(SqlWord word)
        {
            if (words.Count < wordsPerStatement)
            {
                words.Add(word);
            }
        }

        void Flush(int end)
        {
            if (words.Count > 0)
            {
                statements.Add(words);
                ends?.Add(end);
                words = [];
            }
        }
    }

    private static bool IsNameStart(char c) => char.IsLetter(c) || c == '_';

    private static bool IsNamePart(char c) => char.IsLetterOrDigit(c) || c is '_' or '$';

    /// <summary>A name, with dotted parts joined (custom settings are <c>a.b</c>); unquoted parts fold to lower case.</summary>
    private static int ReadName(string sql, int i, out string name, out bool quoted)
    {
        var builder = new StringBuilder();
        quoted = false;
        while (true)
        {
            if (i < sql.Length && sql[i] == '"')
            {
                var end = SkipQuoted(sql, i, '"', backslashEscapes: false);
                builder.Append(sql.AsSpan(i + 1, Math.Max(0, end - i - 2)).ToString().Replace("\"\"", "\""));
                quoted = true;
                i = end;
            }
            else
            {
                var start = i;
                while (i < sql.Length && IsNamePart(sql[i]))
                {
                    i++;
                }

                builder.Append(sql.AsSpan(start, i - start).ToString().ToLowerInvariant());
            }

            if (i + 1 < sql.Length && sql[i] == '.' && (sql[i + 1] == '"' || IsNameStart(sql[i + 1])))
            {
                builder.Append('.');
                i++;
                continue;
            }

            name = builder.ToString();
            return i;
        }
    }

    /// <summary>Past the closing quote (a doubled quote is part of the text).</summary>
    private static int SkipQuoted(string sql, int open, char quote, bool backslashEscapes)
    {
        for (var i = open + 1; i < sql.Length; i++)
        {
            if (backslashEscapes && sql[i] == '\\')
            {
                i++;
            }
            else if (sql[i] == quote)
            {
                if (i + 1 < sql.Length && sql[i + 1] == quote)
                {
                    i++;
                }
                else
                {
                    return i + 1;
                }
            }
        }

        return sql.Length;
    }

    private static int SkipBlockComment(string sql, int i)
    {
        var depth = 0;
        while (i < sql.Length)
        {
            if (sql[i] == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
            {
                depth++;
                i += 2;
            }
            else if (sql[i] == '*' && i + 1 < sql.Length && sql[i + 1] == '/')
            {
                i += 2;
                if (--depth == 0)
                {
                    return i;
                }
            }
            else
            {
                i++;
            }
        }

        return sql.Length;
    }

    /// <summary>The opening <c>$tag$</c> of a dollar-quoted string at <paramref name="i"/>, or null.</summary>
    private static string? DollarTag(string sql, int i)
    {
        var end = i + 1;
        if (end < sql.Length && char.IsDigit(sql[end]))
        {
            return null; // $1 is a parameter, not a quote
        }

        while (end < sql.Length && sql[end] != '$')
        {
            if (!IsNamePart(sql[end]))
            {
                return null;
            }

            end++;
        }

        return end < sql.Length ? sql[i..(end + 1)] : null;
    }
}
