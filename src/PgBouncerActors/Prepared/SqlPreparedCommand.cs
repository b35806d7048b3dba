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
/// A simple query whose whole text is one statement about prepared statements, read as
/// PostgreSQL reads it (comments, case, quoted names). <see cref="Rest"/> is the text after the
/// name, which the pooler puts after a name of its own. In a longer query string only
/// <c>DEALLOCATE ALL</c> is recognised; the rest passes unchanged.
/// </summary>
internal readonly record struct SqlPreparedCommand(SqlPreparedVerb Verb, string Name, string Rest)
{
    private static readonly byte[][] Keywords = ["prepare"u8.ToArray(), "execute"u8.ToArray(), "deallocate"u8.ToArray(), "discard"u8.ToArray()];

    public static SqlPreparedCommand? Recognize(ReadOnlySequence<byte> queryText)
    {
        var bytes = queryText.IsSingleSegment ? queryText.FirstSpan : queryText.ToArray();
        var end = bytes.IndexOf((byte)0);
        bytes = end < 0 ? bytes : bytes[..end];
        if (!MayBeOne(bytes))
        {
            return null; // the hot path: most queries do not contain these words
        }

        var sql = Encoding.UTF8.GetString(bytes);
        var statements = SqlStatementWords.Split(sql, wordsPerStatement: 4);
        if (statements.Count == 1)
        {
            return Match(sql, statements[0]);
        }

        // Inside a longer string only DEALLOCATE ALL matters, as it empties the server connection (DISCARD ALL fails there:
        // a query string is one transaction block).
        return statements.Any(words => words[0].IsKeyword("deallocate") && Match(sql, words) is { Verb: SqlPreparedVerb.ForgetAll })
            ? new SqlPreparedCommand(SqlPreparedVerb.ForgetAll, "", "")
            : null;
    }

    private static SqlPreparedCommand? Match(string sql, List<SqlWord> words)
    {
        bool Is(int index, string keyword) => index < words.Count && words[index].IsKeyword(keyword);
        bool IsName(int index) => index < words.Count && words[index].IsName;
        string After(int index) => sql[words[index].End..];

        if (Is(0, "discard") && Is(1, "all") && words.Count == 2)
        {
            return new SqlPreparedCommand(SqlPreparedVerb.ForgetAll, "", "");
        }

        if (Is(0, "deallocate"))
        {
            var at = Is(1, "prepare") && IsName(2) ? 2 : 1;
            return Is(at, "all") && words.Count == at + 1 ? new SqlPreparedCommand(SqlPreparedVerb.ForgetAll, "", "")
                : IsName(at) && words.Count == at + 1 ? new SqlPreparedCommand(SqlPreparedVerb.Deallocate, words[at].Text, "")
                : null;
        }

        if (Is(0, "prepare") && IsName(1) && !Is(1, "transaction"))
        {
            return new SqlPreparedCommand(SqlPreparedVerb.Prepare, words[1].Text, After(1));
        }

        return Is(0, "execute") && IsName(1) ? new SqlPreparedCommand(SqlPreparedVerb.Execute, words[1].Text, After(1)) : null;
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
