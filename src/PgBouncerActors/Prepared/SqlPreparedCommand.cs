using System.Buffers;
using System.Text;
using PgBouncerActors.Session;

namespace PgBouncerActors.Prepared;

internal enum SqlPreparedVerb
{
    /// <summary><c>PREPARE name [(types)] AS statement</c>.</summary>
    Prepare,

    /// <summary><c>EXECUTE name [(arguments)]</c>.</summary>
    Execute,

    /// <summary><c>DEALLOCATE [PREPARE] name</c>.</summary>
    Deallocate,

    /// <summary><c>DEALLOCATE [PREPARE] ALL</c> or <c>DISCARD ALL</c>: every prepared statement of the session goes.</summary>
    ForgetAll,
}

/// <summary>
/// One statement about prepared statements in a query string (a simple Query's, or a Parse's),
/// read as PostgreSQL reads it (comments, case, quoted names). <see cref="Text"/>: for PREPARE,
/// the statement as it can be sent again on another server connection (the whole query string
/// when the PREPARE is all of it, so <c>pg_prepared_statements</c> shows what the client sent).
/// </summary>
internal readonly record struct SqlPreparedCommand(SqlPreparedVerb Verb, string Name, string Text = "")
{
    private static readonly byte[][] Keywords = ["prepare"u8.ToArray(), "execute"u8.ToArray(), "deallocate"u8.ToArray(), "discard"u8.ToArray()];

    /// <summary>The query string's statements about prepared statements, in order; null when it has none (most do not).</summary>
    /// <param name="whole">The query string is that one statement and nothing else.</param>
    public static List<SqlPreparedCommand>? Recognize(ReadOnlySequence<byte> queryText, out bool whole)
    {
        whole = false;
        var bytes = queryText.IsSingleSegment ? queryText.FirstSpan : queryText.ToArray();
        var end = bytes.IndexOf((byte)0);
        bytes = end < 0 ? bytes : bytes[..end];
        if (!MayBeOne(bytes))
        {
            return null; // the hot path: most queries do not contain these words
        }

        var sql = Encoding.UTF8.GetString(bytes);
        var ends = new List<int>();
        var statements = SqlStatementWords.Split(sql, wordsPerStatement: 4, ends);
        List<SqlPreparedCommand>? commands = null;
        for (var i = 0; i < statements.Count; i++)
        {
            if (Match(sql, statements[i], ends[i], statements.Count == 1) is { } command)
            {
                (commands ??= []).Add(command);
            }
        }

        whole = statements.Count == 1 && commands is not null;
        return commands;
    }

    private static SqlPreparedCommand? Match(string sql, List<SqlWord> words, int end, bool whole)
    {
        bool Is(int index, string keyword) => index < words.Count && words[index].IsKeyword(keyword);
        bool IsName(int index) => index < words.Count && words[index].IsName;

        if (Is(0, "discard") && Is(1, "all") && words.Count == 2)
        {
            return new SqlPreparedCommand(SqlPreparedVerb.ForgetAll, "");
        }

        if (Is(0, "deallocate"))
        {
            var at = Is(1, "prepare") && IsName(2) ? 2 : 1;
            return Is(at, "all") && words.Count == at + 1 ? new SqlPreparedCommand(SqlPreparedVerb.ForgetAll, "")
                : IsName(at) && words.Count == at + 1 ? new SqlPreparedCommand(SqlPreparedVerb.Deallocate, words[at].Text)
                : null;
        }

        if (Is(0, "prepare") && IsName(1) && !Is(1, "transaction"))
        {
            // Inside a longer string only the statement itself can be sent again (its leading comments go).
            var text = whole ? sql : $"PREPARE{sql[words[0].End..end]}";
            return new SqlPreparedCommand(SqlPreparedVerb.Prepare, words[1].Text, text);
        }

        return Is(0, "execute") && IsName(1) ? new SqlPreparedCommand(SqlPreparedVerb.Execute, words[1].Text) : null;
    }

    private static bool MayBeOne(ReadOnlySpan<byte> text)
    {
        foreach (var keyword in Keywords)
        {
            if (SettingsReset.Contains(text, keyword))
            {
                return true;
            }
        }

        return false;
    }
}
