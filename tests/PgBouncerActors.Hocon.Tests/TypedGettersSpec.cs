using Xunit;

namespace PgBouncerActors.Hocon.Tests;

public sealed class TypedGettersSpec
{
    private static Config Parse(string text) => ConfigFactory.ParseString(text, "test.conf", environment: _ => null);

    [Fact]
    public void Scalars_must_convert_to_the_asked_type()
    {
        var config = Parse("""
            port = 6432
            big = 9000000000
            ratio = 0.75
            name = pgbouncer-actors
            quoted-number = "42"
            """);
        Assert.Equal(6432, config.GetInt("port"));
        Assert.Equal(9_000_000_000L, config.GetLong("big"));
        Assert.Equal(0.75, config.GetDouble("ratio"));
        Assert.Equal("pgbouncer-actors", config.GetString("name"));
        Assert.Equal(42, config.GetInt("quoted-number"));
        Assert.Equal("6432", config.GetString("port"));
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("yes", true)]
    [InlineData("on", true)]
    [InlineData("false", false)]
    [InlineData("no", false)]
    [InlineData("off", false)]
    public void Booleans_must_accept_true_yes_on_and_their_opposites(string text, bool expected) =>
        Assert.Equal(expected, Parse($"flag = {text}").GetBoolean("flag"));

    [Theory]
    [InlineData("30s", 30_000)]
    [InlineData("500ms", 500)]
    [InlineData("5 minutes", 300_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1 day", 86_400_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("250", 250)]
    [InlineData("\"10 seconds\"", 10_000)]
    [InlineData("1500us", 1.5)]
    public void Durations_must_read_HOCON_units_and_a_bare_number_as_milliseconds(string text, double milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), Parse($"timeout = {text}").GetTimeSpan("timeout"));

    [Theory]
    [InlineData("512K", 524_288)]
    [InlineData("1MB", 1_000_000)]
    [InlineData("64MiB", 67_108_864)]
    [InlineData("1kB", 1_000)]
    [InlineData("2G", 2_147_483_648)]
    [InlineData("100", 100)]
    [InlineData("10 bytes", 10)]
    public void Sizes_must_read_decimal_and_binary_units(string text, long bytes) =>
        Assert.Equal(bytes, Parse($"size = {text}").GetByteSize("size"));

    [Fact]
    public void Lists_and_objects_must_be_readable_and_quoted_keys_addressable()
    {
        var config = Parse("""
            ignore = [extra_float_digits, options]
            databases { "*" { host = fallback }, appdb { host = 127.0.0.1, port = 5432 } }
            """);
        Assert.Equal(["extra_float_digits", "options"], config.GetStringList("ignore"));
        Assert.Equal("fallback", config.GetString("databases.\"*\".host"));
        Assert.Equal(["*", "appdb"], config.GetObject("databases").Keys);
        var appdb = config.GetConfig("databases.appdb");
        Assert.Equal(5432, appdb.GetInt("port"));
        Assert.Equal(2, config.GetList("ignore").Count);
    }

    [Fact]
    public void A_default_must_apply_only_when_the_setting_is_absent()
    {
        var config = Parse("port = not-a-number");
        Assert.Equal(20, config.GetInt("default_pool_size", 20));
        Assert.Equal(TimeSpan.FromSeconds(15), config.GetTimeSpan("server_connect_timeout", TimeSpan.FromSeconds(15)));
        Assert.Throws<HoconException>(() => config.GetInt("port", 6432)); // present but wrong: an error, not the default
        Assert.False(config.HasPath("default_pool_size"));
        Assert.True(config.HasPath("port"));
        Assert.Empty(config.GetConfig("nothing").Keys);
    }
}
