using System.Text;

namespace PgBouncerActors.Hocon;

/// <summary>
/// A path expression such as <c>databases."*".host</c>: dot-separated keys, where a quoted part is
/// one key even if it contains dots.
/// </summary>
public static class HoconPath
{
    public static IReadOnlyList<string> Parse(string expression, SourceLocation location)
    {
        var keys = new List<string>();
        var current = new StringBuilder();
        var sawAny = false;
        for (var i = 0; i < expression.Length; i++)
        {
            var c = expression[i];
            if (c == '"')
            {
                var end = expression.IndexOf('"', i + 1);
                if (end < 0)
                {
                    throw new HoconException(location, $"unterminated quote in path '{expression}'");
                }

                current.Append(expression, i + 1, end - i - 1);
                sawAny = true;
                i = end;
            }
            else if (c == '.')
            {
                Finish();
            }
            else if (!char.IsWhiteSpace(c))
            {
                current.Append(c);
                sawAny = true;
            }
        }

        Finish();
        return keys;

        void Finish()
        {
            if (!sawAny)
            {
                throw new HoconException(location, $"empty key in path '{expression}'");
            }

            keys.Add(current.ToString());
            current.Clear();
            sawAny = false;
        }
    }

    /// <summary>Renders keys back into an expression, quoting keys that need it.</summary>
    public static string Render(IEnumerable<string> keys) =>
        string.Join('.', keys.Select(key => key.Length > 0 && key.All(c => char.IsLetterOrDigit(c) || c is '_' or '-')
            ? key
            : "\"" + key + "\""));
}
