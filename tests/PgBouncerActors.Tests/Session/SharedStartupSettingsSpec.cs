using PgBouncerActors.Session;
using Xunit;

namespace PgBouncerActors.Tests.Session;

/// <summary>Clients that log in with the same startup settings share one copy of them; a bounded number of different sets is kept.</summary>
public sealed class SharedStartupSettingsSpec
{
    private static Dictionary<string, string> Settings(params (string Name, string Value)[] settings) =>
        settings.ToDictionary(setting => setting.Name, setting => setting.Value, StringComparer.OrdinalIgnoreCase);

    [Fact]
    public void Equal_sets_in_any_order_are_one_copy_and_a_different_value_is_another()
    {
        var shared = new SharedStartupSettings();
        var first = shared.Of(Settings(("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"), ("application_name", "shared-spec")));
        var same = shared.Of(Settings(("application_name", "shared-spec"), ("DateStyle", "ISO, MDY"), ("client_encoding", "UTF8")));
        var other = shared.Of(Settings(("client_encoding", "UTF8"), ("DateStyle", "ISO, DMY"), ("application_name", "shared-spec")));

        Assert.Same(first, same);
        Assert.NotSame(first, other);
        Assert.Equal("ISO, DMY", other["datestyle"]); // still read by any case of the name, as PostgreSQL's settings are
    }

    [Fact]
    public void Once_the_bound_is_reached_a_new_set_stays_its_clients_own()
    {
        var shared = new SharedStartupSettings(mostKept: 2);
        var kept = shared.Of(Settings(("application_name", "one")));
        shared.Of(Settings(("application_name", "two")));

        var mine = Settings(("application_name", "three"));
        Assert.Same(mine, shared.Of(mine));
        Assert.NotSame(mine, shared.Of(Settings(("application_name", "three"))));
        Assert.Same(kept, shared.Of(Settings(("application_name", "one")))); // what was kept still is
    }
}
