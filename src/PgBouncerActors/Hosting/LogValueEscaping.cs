using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace PgBouncerActors.Hosting;

/// <summary>
/// Escapes every text value a log event carries before any sink renders it: user and database
/// names, application names and message type bytes come from clients before they authenticate,
/// and server errors carry newlines. A value with a newline would let a client forge a whole log
/// line ("... client login: db=prod user=admin"); escaped, it stays inside its own line. Control
/// characters become \n, \r, \t or \xNN (a backslash \\), and very long values are cut short.
/// </summary>
internal sealed class LogValueEscaping : ILogEventEnricher
{
    private const int LongestValue = 512;

    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? escaped = null;
        foreach (var (name, value) in logEvent.Properties)
        {
            if (value is ScalarValue { Value: not null and not IFormattable and not bool } scalar &&
                Escape(scalar.Value.ToString() ?? "") is var text && !ReferenceEquals(text, scalar.Value))
            {
                (escaped ??= []).Add(new LogEventProperty(name, new ScalarValue(text)));
            }
        }

        foreach (var property in escaped ?? [])
        {
            logEvent.AddOrUpdateProperty(property);
        }
    }

    /// <summary>The text with its control characters escaped, or the very same string when it has none and is short.</summary>
    public static string Escape(string text)
    {
        var clean = text.Length <= LongestValue;
        foreach (var c in text)
        {
            clean &= !NeedsEscape(c);
        }

        if (clean)
        {
            return text;
        }

        var builder = new StringBuilder(Math.Min(text.Length, LongestValue) + 16);
        foreach (var c in text.Length > LongestValue ? text[..LongestValue] : text)
        {
            builder.Append(c switch
            {
                '\\' => @"\\",
                '\n' => @"\n",
                '\r' => @"\r",
                '\t' => @"\t",
                _ when NeedsEscape(c) => c <= 0xFF ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }

        if (text.Length > LongestValue)
        {
            builder.Append($"...({text.Length - LongestValue} more characters)");
        }

        return builder.ToString();
    }

    /// <summary>Control characters (C0, DEL, C1), the Unicode line and paragraph separators, and the backslash that starts an escape.</summary>
    private static bool NeedsEscape(char c) => c < 0x20 || c is '\\' or (>= '\x7f' and <= '\x9f') or '\u2028' or '\u2029';
}
