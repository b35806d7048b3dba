using System.Buffers;
using System.Text;
using PgBouncerActors.Session;

namespace PgBouncerActors.Prepared;

/// <summary>
/// A statement that changes the role a session's names resolve for: <c>SET [SESSION | LOCAL] ROLE</c>,
/// <c>RESET ROLE</c>, <c>SET [SESSION | LOCAL] SESSION AUTHORIZATION</c>, <c>RESET SESSION AUTHORIZATION</c>.
/// The same text prepared under another role may read other tables (<c>"$user"</c> in search_path) or other
/// rows (row security). PostgreSQL plans a statement again for the role that runs it, and refuses it with
/// 0A000 when its result changed, so another client's fresh Parse after a role change must not be mapped
/// onto a copy made before: it invalidates the copies as a DDL does (<see cref="StatementInvalidation"/>).
/// A role set inside a query (<c>set_config('role', ...)</c>) is not seen; its out-of-date errors are.
/// </summary>
internal static class RoleChange
{
    private static readonly byte[] Set = "set"u8.ToArray();
    private static readonly byte[] Role = "role"u8.ToArray();
    private static readonly byte[] Authorization = "authorization"u8.ToArray();

    /// <summary>Whether a query string (a simple Query's, or a Parse's, NUL-terminated) holds a statement that changes the role.</summary>
    public static bool In(ReadOnlySequence<byte> queryText)
    {
        if (queryText.Length > SettingsReset.LongestQueryLooked)
        {
            return false; // a role change is short; a long string is passed on unread
        }

        var bytes = queryText.IsSingleSegment ? queryText.FirstSpan : queryText.ToArray();
        if (!SettingsReset.Contains(bytes, Set) || !(SettingsReset.Contains(bytes, Role) || SettingsReset.Contains(bytes, Authorization)))
        {
            return false; // the hot path: no SET or RESET of a role
        }

        var end = bytes.IndexOf((byte)0);
        return In(Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]));
    }

    public static bool In(string sql)
    {
        foreach (var statement in SqlStatementWords.Split(sql, wordsPerStatement: 4))
        {
            if (Changes(statement))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Changes(List<SqlWord> words)
    {
        bool Is(int index, string keyword) => index < words.Count && words[index].IsKeyword(keyword);
        bool SessionAuthorization(int at) => Is(at, "session") && Is(at + 1, "authorization");

        if (Is(0, "reset"))
        {
            return Is(1, "role") || SessionAuthorization(1);
        }

        if (!Is(0, "set"))
        {
            return false;
        }

        // SET SESSION is a scope (SET SESSION ROLE) unless it starts SESSION AUTHORIZATION.
        var at = Is(1, "local") || (Is(1, "session") && !SessionAuthorization(1)) ? 2 : 1;
        return Is(at, "role") || SessionAuthorization(at);
    }
}
