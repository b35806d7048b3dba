namespace PgBouncerActors.Hocon;

/// <summary>Where a piece of configuration came from: file (or origin name), line and column, 1-based.</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public static SourceLocation Unknown(string file) => new(file, 0, 0);

    public override string ToString() => Line == 0 ? File : $"{File}:{Line}:{Column}";
}

/// <summary>Any configuration error: syntax, substitution, include, or a value of the wrong type. The message starts with the location.</summary>
public class HoconException : Exception
{
    public HoconException(SourceLocation location, string message)
        : base($"{location}: {message}")
    {
        Location = location;
        Reason = message;
    }

    public HoconException(SourceLocation location, string message, Exception inner)
        : base($"{location}: {message}", inner)
    {
        Location = location;
        Reason = message;
    }

    public SourceLocation Location { get; }

    /// <summary>The message without the location prefix.</summary>
    public string Reason { get; }
}

/// <summary>A setting that was asked for is not in the configuration.</summary>
public sealed class HoconMissingException(SourceLocation location, string path)
    : HoconException(location, $"no setting at '{path}'")
{
    public string Path { get; } = path;
}
