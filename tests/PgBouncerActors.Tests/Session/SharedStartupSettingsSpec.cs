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
    public void Past_the_bound_the_kept_sets_are_forgotten_and_the_sets_in_use_now_are_shared()
    {
        var shared = new SharedStartupSettings(mostKept: 2);
        var old = shared.Of(Settings(("application_name", "one")));
        shared.Of(Settings(("application_name", "two")));

        var now = shared.Of(Settings(("application_name", "three")));
        Assert.Same(now, shared.Of(Settings(("application_name", "three"))));
        Assert.NotSame(old, shared.Of(Settings(("application_name", "one")))); // forgotten: a client of it keeps its own
        Assert.Equal("one", old["application_name"]);
    }

    [Fact]
    public void A_value_holding_what_could_separate_a_name_from_a_value_is_not_mistaken_for_another_set()
    {
        var shared = new SharedStartupSettings();
        var first = shared.Of(Settings(("a", "b\u0001c")));
        var second = shared.Of(Settings(("a\u0001b", "c")));
        Assert.NotSame(first, second);
        Assert.Equal("c", second["a\u0001b"]);
    }
}
