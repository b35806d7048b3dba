using PgBouncerActors.Configuration;
using Xunit;

namespace PgBouncerActors.Tests.Configuration;

/// <summary>auth_ident_file as pg_ident.conf reads: names, quoted names, regular expressions with \1, and all.</summary>
public sealed class IdentMapSpec : IDisposable
{
    private readonly string _file = Path.GetTempFileName();

    public void Dispose() => File.Delete(_file);

    private IdentMap Load(string text)
    {
        File.WriteAllText(_file, text);
        return IdentMap.Load(_file);
    }

    [Fact]
    public void A_map_allows_what_its_lines_say_and_nothing_else()
    {
        var map = Load("""
            # MAPNAME  SYSTEM-USERNAME      PG-USERNAME
            certs      pgbouncer.acme.org   someuser
            certs      pgbouncer.acme.org   "anotheruser"
            anyone     "bouncer"            all
            quoted     bouncer              "all"
            emails     /^(.*)@acme\.org$    \1
            """);
        Assert.True(map.Allows("certs", "pgbouncer.acme.org", "someuser"));
        Assert.True(map.Allows("certs", "pgbouncer.acme.org", "anotheruser"));
        Assert.False(map.Allows("certs", "pgbouncer.acme.org", "postgres"));
        Assert.False(map.Allows("certs", "evil.org", "someuser"));
        Assert.True(map.Allows("anyone", "bouncer", "whoever")); // all: any user
        Assert.False(map.Allows("quoted", "bouncer", "whoever")); // "all" quoted: a user named all
        Assert.True(map.Allows("quoted", "bouncer", "all"));
        Assert.True(map.Allows("emails", "ann@acme.org", "ann"));
        Assert.False(map.Allows("emails", "ann@acme.org", "bob"));
        Assert.False(map.Allows("missing", "ann", "ann")); // a map the file lacks allows nobody
        Assert.True(map.Allows(null, "ann", "ann")); // no map: the name must be the user
        Assert.False(map.Allows(null, "ann", "bob"));
    }

    [Fact]
    public void A_line_that_is_not_three_fields_is_refused_with_its_number()
    {
        var refused = Assert.Throws<ConfigurationException>(() => Load("certs a b\nbroken line\n"));
        Assert.EndsWith(":2: expected MAPNAME SYSTEM-USERNAME PG-USERNAME", refused.Message);
    }
}
