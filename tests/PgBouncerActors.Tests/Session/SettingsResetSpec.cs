using PgBouncerActors.Session;
using Xunit;

namespace PgBouncerActors.Tests.Session;

public sealed class SettingsResetSpec
{
    [Theory]
    [InlineData("DISCARD ALL", null, false)]
    [InlineData("reset all;", null, false)]
    [InlineData("  RESET TimeZone", "timezone", false)]
    [InlineData("reset \"TimeZone\"", "TimeZone", false)]
    [InlineData("RESET TIME ZONE", "TimeZone", false)]
    [InlineData("set search_path to default", "search_path", false)]
    [InlineData("SET SESSION DateStyle = DEFAULT", "datestyle", false)]
    [InlineData("set local statement_timeout to default", "statement_timeout", true)]
    [InlineData("SET TIME ZONE LOCAL", "TimeZone", false)]
    [InlineData("set names default", "client_encoding", false)]
    [InlineData("reset myapp.tenant", "myapp.tenant", false)]
    [InlineData("/* from the ORM */ -- a comment\n RESET ALL", null, false)]
    public void A_statement_that_returns_settings_to_their_defaults_is_recognised(string sql, string? name, bool local)
    {
        Assert.Equal([new SettingsReset(name, local)], SettingsReset.FindIn(sql));
    }

    [Theory]
    [InlineData("select 'reset all'")]
    [InlineData("set TimeZone = 'UTC'")]
    [InlineData("set search_path to default_schema")]
    [InlineData("select $$ ; discard all $$")]
    [InlineData("-- reset all\nselect 1")]
    [InlineData("reset")]
    [InlineData("insert into t(\"reset\") values (1)")]
    [InlineData("select e'\\'; reset all'")]
    public void Other_statements_and_reset_words_inside_strings_comments_or_names_are_not(string sql)
    {
        Assert.Empty(SettingsReset.FindIn(sql));
    }

    [Fact]
    public void Every_reset_of_a_multi_statement_string_is_found_in_order()
    {
        Assert.Equal([new SettingsReset("timezone", false), new SettingsReset(null, false)],
            SettingsReset.FindIn("select 1; reset TimeZone; select ';'; discard all"));
    }

    [Fact]
    public void The_reapply_query_puts_back_only_startup_settings_the_resets_touched()
    {
        var startup = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["TimeZone"] = "Europe/Berlin", ["search_path"] = "app, public" };
        Assert.Null(StartupParameters.BuildReapplyQuery(startup, SettingsReset.FindIn("reset DateStyle")));
        Assert.Equal("SELECT pg_catalog.set_config('timezone', 'Europe/Berlin', true)",
            StartupParameters.BuildReapplyQuery(startup, SettingsReset.FindIn("set local timezone to default")));
        Assert.Equal("SELECT pg_catalog.set_config('TimeZone', 'Europe/Berlin', false), pg_catalog.set_config('search_path', 'app, public', false)",
            StartupParameters.BuildReapplyQuery(startup, SettingsReset.FindIn("DISCARD ALL")));
    }
}
