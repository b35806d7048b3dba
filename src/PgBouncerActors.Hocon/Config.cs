using System.Globalization;
using PgBouncerActors.Hocon.Model;
using PgBouncerActors.Hocon.Resolution;

namespace PgBouncerActors.Hocon;

/// <summary>
/// A configuration: a document and its fallbacks. Substitutions are resolved over all of them at
/// first use, so a user file may refer to a default from the reference file. Getters take path
/// expressions (<c>databases."*".host</c>) and fail with the file, line and column of the value.
/// </summary>
public sealed class Config
{
    private readonly IReadOnlyList<ObjectNode> _layers;
    private readonly Func<string, string?> _environment;
    private readonly Lock _resolveLock = new();
    private HoconObject? _root;

    internal Config(IReadOnlyList<ObjectNode> layers, string origin, Func<string, string?>? environment)
    {
        _layers = layers;
        Origin = origin;
        _environment = environment ?? Environment.GetEnvironmentVariable;
    }

    public static Config Empty { get; } = new([], "(empty)", null);

    /// <summary>The file (or name) the top document came from.</summary>
    public string Origin { get; }

    /// <summary>The resolved tree; resolving on first use throws <see cref="HoconException"/> on a bad substitution.</summary>
    public HoconObject Root
    {
        get
        {
            lock (_resolveLock)
            {
                return _root ??= new Resolver(_layers, _environment).ResolveRoot(OriginLocation);
            }
        }
    }

    public IEnumerable<string> Keys => Root.Keys;

    private SourceLocation OriginLocation => SourceLocation.Unknown(Origin);

    /// <summary>This configuration over <paramref name="fallback"/>: its values win, objects in both merge.</summary>
    public Config WithFallback(Config fallback) => new([.. _layers, .. fallback._layers], Origin, _environment);

    /// <summary>Resolves now, so that errors surface at startup rather than at first use.</summary>
    public Config Resolve()
    {
        _ = Root;
        return this;
    }

    public bool HasPath(string path) => GetValue(path) is not (null or HoconScalar { Kind: HoconScalarKind.Null });

    public HoconValue? GetValue(string path)
    {
        HoconValue? current = Root;
        foreach (var key in HoconPath.Parse(path, OriginLocation))
        {
            if (current is not HoconObject node || !node.TryGetValue(key, out current))
            {
                return null;
            }
        }

        return current;
    }

    public string GetString(string path, string? defaultValue = null) =>
        ScalarText(path, "a string") is { } found ? found.Text : defaultValue ?? throw new HoconMissingException(OriginLocation, path);

    public int GetInt(string path, int? defaultValue = null) =>
        Get(path, defaultValue, "an integer",
            static text => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null);

    public long GetLong(string path, long? defaultValue = null) =>
        Get(path, defaultValue, "an integer",
            static text => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null);

    public double GetDouble(string path, double? defaultValue = null) =>
        Get(path, defaultValue, "a number",
            static text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? number : null);

    /// <summary><c>true/yes/on</c> or <c>false/no/off</c>.</summary>
    public bool GetBoolean(string path, bool? defaultValue = null) =>
        Get(path, defaultValue, "a boolean (true/false, yes/no, on/off)", static text => text.ToLowerInvariant() switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => (bool?)null,
        });

    /// <summary>A duration such as <c>30s</c>, <c>500ms</c> or <c>5 minutes</c>; a bare number is milliseconds.</summary>
    public TimeSpan GetTimeSpan(string path, TimeSpan? defaultValue = null) =>
        Get(path, defaultValue, "a duration such as 30s, 500ms or 5 minutes",
            static text => HoconUnits.TryParseDuration(text, out var duration) ? duration : null);

    /// <summary>A size in bytes such as <c>512K</c>, <c>1MB</c> or <c>64MiB</c>; a bare number is bytes.</summary>
    public long GetByteSize(string path, long? defaultValue = null) =>
        Get(path, defaultValue, "a size such as 512K, 1MB or 64MiB",
            static text => HoconUnits.TryParseSize(text, out var bytes) ? bytes : null);

    public IReadOnlyList<HoconValue> GetList(string path) => Require<HoconArray>(path, "a list");

    public IReadOnlyList<string> GetStringList(string path, IReadOnlyList<string>? defaultValue = null)
    {
        var value = GetValue(path);
        if (value is null)
        {
            return defaultValue ?? throw new HoconMissingException(OriginLocation, path);
        }

        if (value is not HoconArray list)
        {
            throw new HoconException(value.Location, $"'{path}': expected a list of strings, got {Resolver.Describe(value)}");
        }

        return list
            .Select(item => item is HoconScalar { Text: { } text }
                ? text
                : throw new HoconException(item.Location, $"'{path}': expected a list of strings, but an element is {Resolver.Describe(item)}"))
            .ToArray();
    }

    public HoconObject GetObject(string path) => Require<HoconObject>(path, "an object");

    /// <summary>The object at <paramref name="path"/> as a configuration of its own; empty when absent.</summary>
    public Config GetConfig(string path) => GetValue(path) switch
    {
        null => new Config([], Origin, _environment),
        HoconObject node => new Config([ToNode(node)], Origin, _environment),
        var other => throw new HoconException(other.Location, $"'{path}': expected an object, got {Resolver.Describe(other)}"),
    };

    public override string ToString() => Root.ToString();

    private T Get<T>(string path, T? defaultValue, string expected, Func<string, T?> convert) where T : struct
    {
        if (ScalarText(path, expected) is not { } found)
        {
            return defaultValue ?? throw new HoconMissingException(OriginLocation, path);
        }

        return convert(found.Text) ?? throw new HoconException(found.Location, $"'{path}': expected {expected}, got '{found.Text}'");
    }

    /// <summary>The text of the scalar at <paramref name="path"/>; null when absent; an error when not a scalar.</summary>
    private (string Text, SourceLocation Location)? ScalarText(string path, string expected) => GetValue(path) switch
    {
        null => null,
        HoconScalar { Text: { } text } scalar => (text, scalar.Location),
        var other => throw new HoconException(other.Location, $"'{path}': expected {expected}, got {Resolver.Describe(other)}"),
    };

    private T Require<T>(string path, string expected) where T : HoconValue => GetValue(path) switch
    {
        null => throw new HoconMissingException(OriginLocation, path),
        T typed => typed,
        var other => throw new HoconException(other.Location, $"'{path}': expected {expected}, got {Resolver.Describe(other)}"),
    };

    private static ObjectNode ToNode(HoconObject value)
    {
        var node = new ObjectNode(value.Location);
        foreach (var (key, child) in value)
        {
            node.Fields[key] = ToNode(child);
        }

        return node;
    }

    private static Node ToNode(HoconValue value) => value switch
    {
        HoconObject objectValue => ToNode(objectValue),
        HoconArray array => new ArrayNode(array.Location, array.Select(ToNode).ToList()),
        HoconScalar scalar => new ScalarNode(scalar.Location, scalar.Kind, scalar.Text),
        _ => throw new InvalidOperationException(value.GetType().Name),
    };
}
