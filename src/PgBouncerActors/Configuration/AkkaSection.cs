using System.Text;
using System.Text.Json;
using PgBouncerActors.Hocon;

namespace PgBouncerActors.Configuration;

/// <summary>
/// Hands the file's <c>akka</c> section to Akka.NET. The pooler's reader has already resolved it
/// (includes, env fallbacks, <c>+=</c>, self-references), so what Akka gets is plain data: it is
/// written as JSON, which Akka's parser reads without any of the features it gets wrong.
/// </summary>
internal static class AkkaSection
{
    public static string Render(HoconObject section)
    {
        var text = new StringBuilder("{\"akka\":");
        Write(section, text);
        return text.Append('}').ToString();
    }

    private static void Write(HoconValue value, StringBuilder text)
    {
        switch (value)
        {
            case HoconObject fields:
                text.Append('{');
                var first = true;
                foreach (var (key, field) in fields)
                {
                    text.Append(first ? "" : ",").Append(Quoted(key)).Append(':');
                    Write(field, text);
                    first = false;
                }

                text.Append('}');
                break;
            case HoconArray items:
                text.Append('[');
                for (var i = 0; i < items.Count; i++)
                {
                    text.Append(i == 0 ? "" : ",");
                    Write(items[i], text);
                }

                text.Append(']');
                break;
            case HoconScalar { Kind: HoconScalarKind.Null }:
                text.Append("null");
                break;
            case HoconScalar { Kind: HoconScalarKind.Number or HoconScalarKind.Boolean } raw:
                text.Append(raw.Text);
                break;
            case HoconScalar scalar:
                text.Append(Quoted(scalar.Text ?? ""));
                break;
        }
    }

    private static string Quoted(string text) => JsonSerializer.Serialize(text);
}
