using System.Collections;
using System.Globalization;

namespace PgBouncerActors.Hocon;

public enum HoconScalarKind
{
    String,
    Number,
    Boolean,
    Null,
}

/// <summary>A resolved configuration value, with the place it was written.</summary>
public abstract class HoconValue(SourceLocation location)
{
    public SourceLocation Location { get; } = location;
}

public sealed class HoconScalar(SourceLocation location, HoconScalarKind kind, string? text) : HoconValue(location)
{
    public HoconScalarKind Kind { get; } = kind;

    /// <summary>The text as written (unquoted and unescaped); null for <c>null</c>.</summary>
    public string? Text { get; } = text;

    public override string ToString() => Text ?? "null";
}

public sealed class HoconArray(SourceLocation location, IReadOnlyList<HoconValue> items)
    : HoconValue(location), IReadOnlyList<HoconValue>
{
    public int Count => items.Count;

    public HoconValue this[int index] => items[index];

    public IEnumerator<HoconValue> GetEnumerator() => items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => "[" + string.Join(", ", items) + "]";
}

/// <summary>An object: its keys keep the order in which they were first written.</summary>
public sealed class HoconObject(SourceLocation location, OrderedDictionary<string, HoconValue> fields)
    : HoconValue(location), IReadOnlyDictionary<string, HoconValue>
{
    private readonly OrderedDictionary<string, HoconValue> _fields = fields;

    public int Count => _fields.Count;

    public IEnumerable<string> Keys => _fields.Keys;

    public IEnumerable<HoconValue> Values => _fields.Values;

    public HoconValue this[string key] => _fields[key];

    public bool ContainsKey(string key) => _fields.ContainsKey(key);

    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out HoconValue value) =>
        _fields.TryGetValue(key, out value);

    public IEnumerator<KeyValuePair<string, HoconValue>> GetEnumerator() => _fields.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() =>
        "{" + string.Join(", ", _fields.Select(field => HoconPath.Render([field.Key]) + ": " + field.Value)) + "}";

    /// <summary>Deep merge: fields of <paramref name="overlay"/> win, objects present in both merge.</summary>
    internal static HoconObject Merge(HoconObject fallback, HoconObject overlay)
    {
        var merged = new OrderedDictionary<string, HoconValue>(fallback._fields, StringComparer.Ordinal);
        foreach (var (key, value) in overlay._fields)
        {
            merged[key] = value is HoconObject overlayObject && merged.TryGetValue(key, out var existing) && existing is HoconObject fallbackObject
                ? Merge(fallbackObject, overlayObject)
                : value;
        }

        return new HoconObject(overlay.Location, merged);
    }
}

internal static class HoconScalarText
{
    public static HoconScalarKind Classify(string unquoted) => unquoted switch
    {
        "true" or "false" => HoconScalarKind.Boolean,
        "null" => HoconScalarKind.Null,
        _ when IsNumber(unquoted) => HoconScalarKind.Number,
        _ => HoconScalarKind.String,
    };

    private static bool IsNumber(string text) =>
        text.Length > 0 && (char.IsAsciiDigit(text[0]) || (text[0] == '-' && text.Length > 1)) &&
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
