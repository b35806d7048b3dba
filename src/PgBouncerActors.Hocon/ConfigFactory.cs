using PgBouncerActors.Hocon.Parsing;

namespace PgBouncerActors.Hocon;

public static class ConfigFactory
{
    /// <summary>
    /// Parses a document. <paramref name="origin"/> names it in error messages; relative includes
    /// are found under <paramref name="baseDirectory"/> (the current directory when null).
    /// <paramref name="environment"/> replaces the process environment for <c>${?VAR}</c> lookups.
    /// </summary>
    public static Config ParseString(string text, string origin = "(string)", string? baseDirectory = null,
        Func<string, string?>? environment = null) =>
        new([Parser.ParseDocument(text, origin, baseDirectory)], origin, environment);

    /// <summary>Parses a file; its includes are relative to its own folder.</summary>
    public static Config ParseFile(string path, Func<string, string?>? environment = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new HoconException(SourceLocation.Unknown(path), $"cannot read configuration file: {exception.Message}", exception);
        }

        return ParseString(text, path, Path.GetDirectoryName(Path.GetFullPath(path)), environment);
    }
}
