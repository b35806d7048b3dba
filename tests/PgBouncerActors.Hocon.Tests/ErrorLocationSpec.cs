using Xunit;

namespace PgBouncerActors.Hocon.Tests;

/// <summary>Every error names the file, line and column, so that an operator can go straight to it.</summary>
public sealed class ErrorLocationSpec
{
    private static HoconException ParseError(string text) =>
        Assert.ThrowsAny<HoconException>(() => ConfigFactory.ParseString(text, "pgbouncer.conf", environment: _ => null).Resolve());

    [Theory]
    [InlineData("a = 1\nb {\n  c = 2\n", 2, 3, "never closed")]
    [InlineData("a = 1\nb 2", 2, 4, "expected ':', '=', '+=' or '{'")]
    [InlineData("a = 1,,\n", 1, 7, "unexpected ','")]
    [InlineData("a = \"open\n", 1, 5, "unterminated quoted string")]
    [InlineData("x {\n  url = http://host\n}", 2, 13, "unexpected ':'")]
    [InlineData("a = 1 b = 2", 1, 9, "unexpected '='")]
    [InlineData("a.b..c = 1", 1, 1, "empty key")]
    [InlineData("a = ${b}\n", 1, 5, "cannot resolve ${b}")]
    [InlineData("a = ${b}\nb = ${a}\n", 1, 5, "substitution cycle")]
    [InlineData("a = [1]\nb = ${a} x\n", 2, 5, "cannot concatenate arrays")]
    [InlineData("[1, 2]", 1, 1, "must be an object")]
    [InlineData("a = \"\\q\"", 1, 7, "invalid escape")]
    public void A_syntax_or_substitution_error_must_name_the_file_line_and_column(string text, int line, int column, string reason)
    {
        var error = ParseError(text);
        Assert.Equal("pgbouncer.conf", error.Location.File);
        Assert.Equal((line, column), (error.Location.Line, error.Location.Column));
        Assert.Contains(reason, error.Message);
        Assert.StartsWith($"pgbouncer.conf:{line}:{column}: ", error.Message);
    }

    [Fact]
    public void A_value_of_the_wrong_type_must_be_reported_where_it_was_written()
    {
        var config = ConfigFactory.ParseString("pgbouncer {\n  listen_port = sixty-four\n  pool = { a = 1 }\n}", "pgbouncer.conf");
        var error = Assert.Throws<HoconException>(() => config.GetInt("pgbouncer.listen_port"));
        Assert.Equal("pgbouncer.conf:2:17: 'pgbouncer.listen_port': expected an integer, got 'sixty-four'", error.Message);

        var notScalar = Assert.Throws<HoconException>(() => config.GetString("pgbouncer.pool"));
        Assert.Equal("pgbouncer.conf:3:10: 'pgbouncer.pool': expected a string, got an object", notScalar.Message);

        var duration = Assert.Throws<HoconException>(() => ConfigFactory.ParseString("t = 5 fortnights").GetTimeSpan("t"));
        Assert.Contains("expected a duration", duration.Message);
    }

    [Fact]
    public void A_missing_setting_must_be_named()
    {
        var error = Assert.Throws<HoconMissingException>(() => ConfigFactory.ParseString("a = 1", "app.conf").GetInt("pgbouncer.listen_port"));
        Assert.Equal("pgbouncer.listen_port", error.Path);
        Assert.Contains("app.conf", error.Message);
    }

    [Fact]
    public void A_missing_required_include_must_name_the_include_and_the_path_looked_for()
    {
        using var folder = new TempFolder();
        var main = folder.Write("main.conf", "a = 1\ninclude required(file(\"missing.conf\"))\n");
        var error = Assert.Throws<HoconException>(() => ConfigFactory.ParseFile(main));
        Assert.Equal((main, 2, 1), (error.Location.File, error.Location.Line, error.Location.Column));
        Assert.Contains(Path.Combine(folder.Path, "missing.conf"), error.Message);
    }

    [Fact]
    public void An_error_inside_an_included_file_must_name_that_file()
    {
        using var folder = new TempFolder();
        var part = folder.Write("part.conf", "ok = 1\nbroken = {\n");
        var main = folder.Write("main.conf", "include \"part.conf\"\n");
        var error = Assert.Throws<HoconException>(() => ConfigFactory.ParseFile(main));
        Assert.Equal((part, 2, 10), (error.Location.File, error.Location.Line, error.Location.Column));
    }

    [Fact]
    public void A_file_that_includes_itself_must_fail_instead_of_recursing_forever()
    {
        using var folder = new TempFolder();
        var main = folder.Write("loop.conf", "include \"loop.conf\"\n");
        var error = Assert.Throws<HoconException>(() => ConfigFactory.ParseFile(main));
        Assert.Contains("nested more than", error.Message);
    }

    [Fact]
    public void An_unreadable_configuration_file_must_name_the_file()
    {
        var error = Assert.Throws<HoconException>(() => ConfigFactory.ParseFile("/nonexistent/pgbouncer.conf"));
        Assert.StartsWith("/nonexistent/pgbouncer.conf: ", error.Message);
    }
}

internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = Directory.CreateTempSubdirectory("hocon-spec-").FullName;
    }

    public string Path { get; }

    public string Write(string name, string text)
    {
        var full = System.IO.Path.Combine(Path, name);
        File.WriteAllText(full, text);
        return full;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
