using System.Buffers;
using System.Text;

namespace PgBouncerActors.Session;

/// <summary>
/// A statement that puts settings back to their session defaults: RESET name, RESET ALL,
/// DISCARD ALL, SET [SESSION | LOCAL] name {TO | =} DEFAULT, SET TIME ZONE DEFAULT. On a direct
/// connection the default of a startup parameter is the client's own value; the pooler applies
/// startup parameters with SET, so after one of these it must apply them again.
/// </summary>
/// <param name="Name">The setting, or null for all of them.</param>
/// <param name="Local">SET LOCAL: only until the transaction ends.</param>
internal readonly record struct SettingsReset(string? Name, bool Local)
{
    /// <summary>Longer query strings are passed on unread; a reset statement is short.</summary>
    public const int LongestQueryLooked = 8 * 1024;

    private static readonly byte[] Reset = "reset"u8.ToArray();
    private static readonly byte[] Discard = "discard"u8.ToArray();
    private static readonly byte[] Set = "set"u8.ToArray();
    private static readonly byte[] DefaultWord = "default"u8.ToArray();
    private static readonly byte[] LocalWord = "local"u8.ToArray();

    /// <summary>The resets in a simple Query's text (a NUL-terminated string), in order; empty when there are none.</summary>
    public static IReadOnlyList<SettingsReset> FindIn(ReadOnlySequence<byte> queryText)
    {
        Span<byte> copy = queryText.IsSingleSegment ? default : new byte[queryText.Length];
        if (!queryText.IsSingleSegment)
        {
            queryText.CopyTo(copy);
        }

        var bytes = queryText.IsSingleSegment ? queryText.FirstSpan : copy;
        if (!MayContainReset(bytes))
        {
            return [];
        }

        var end = bytes.IndexOf((byte)0);
        return FindIn(Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]));
    }

    public static IReadOnlyList<SettingsReset> FindIn(string sql)
    {
        var resets = new List<SettingsReset>();
        foreach (var statement in SqlStatementWords.Split(sql, wordsPerStatement: 6))
        {
            if (Match(statement) is { } reset)
            {
                resets.Add(reset);
            }
        }

        return resets;
    }

    /// <summary>A cheap first look on the hot path: without these words, no need to read the SQL.</summary>
    private static bool MayContainReset(ReadOnlySpan<byte> text) =>
        Contains(text, Reset) || Contains(text, Discard) || (Contains(text, Set) && (Contains(text, DefaultWord) || Contains(text, LocalWord)));

    /// <summary>Whether <paramref name="text"/> holds <paramref name="word"/> (lower-case ASCII) in any case.</summary>
    internal static bool Contains(ReadOnlySpan<byte> text, byte[] word)
    {
        for (var at = 0; at + word.Length <= text.Length;)
        {
            var next = text[at..].IndexOfAny(word[0], (byte)(word[0] - 32));
            if (next < 0 || at + next + word.Length > text.Length)
            {
                return false;
            }

            at += next;
            if (Ascii.EqualsIgnoreCase(text.Slice(at, word.Length), word))
            {
                return true;
            }

            at++;
        }

        return false;
    }

    private static SettingsReset? Match(IReadOnlyList<SqlWord> words)
    {
        bool Is(int index, string keyword) => index < words.Count && words[index].IsKeyword(keyword);

        if ((Is(0, "discard") || Is(0, "reset")) && Is(1, "all") && words.Count == 2)
        {
            return new SettingsReset(null, Local: false);
        }

        if (Is(0, "reset"))
        {
            return Is(1, "time") && Is(2, "zone") ? new SettingsReset("TimeZone", false)
                : words.Count == 2 && words[1].IsName ? new SettingsReset(words[1].Text, false)
                : null;
        }

        if (!Is(0, "set"))
        {
            return null;
        }

        var local = Is(1, "local");
        var at = local || Is(1, "session") ? 2 : 1;
        if (Is(at, "time") && Is(at + 1, "zone") && (Is(at + 2, "default") || Is(at + 2, "local")) && words.Count == at + 3)
        {
            return new SettingsReset("TimeZone", local);
        }

        if (Is(at, "names") && Is(at + 1, "default") && words.Count == at + 2)
        {
            return new SettingsReset("client_encoding", local);
        }

        return at < words.Count && words[at].IsName && (Is(at + 1, "to") || Is(at + 1, "=")) && Is(at + 2, "default") && words.Count == at + 3
            ? new SettingsReset(words[at].Text, local)
            : null;
    }
}
