using System.Net;
using PgBouncerActors.Configuration;
using Xunit;

namespace PgBouncerActors.Tests.Configuration;

/// <summary>The hba file as PgBouncer reads pg_hba.conf: what each line matches, and lines it refuses with their line number.</summary>
public sealed class HbaRulesSpec : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-hba-unit-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private HbaRules Load(string text)
    {
        var path = Path.Combine(_folder, "hba.conf");
        File.WriteAllText(path, text);
        return HbaRules.Load(path);
    }

    private static HbaMethod? MethodFor(HbaRules rules, string address, string database = "app", string user = "alice", bool tls = false) =>
        rules.Match(new HbaConnectionInfo(false, tls, IPAddress.Parse(address), database, user))?.Method;

    [Fact]
    public void Addresses_match_by_CIDR_and_by_mask_in_IPv4_and_IPv6_and_the_first_matching_line_wins()
    {
        var rules = Load("""
            host all all 192.168.1.0 255.255.255.0 trust   # the mask form
            host all all 192.168.7.7/16 reject              # host bits are masked off, as PostgreSQL does
            host all all fd00::/8 md5
            host all all 0.0.0.0/0 scram-sha-256
            """);
        Assert.Equal(HbaMethod.Trust, MethodFor(rules, "192.168.1.77"));
        Assert.Equal(HbaMethod.Reject, MethodFor(rules, "192.168.2.1"));
        Assert.Equal(HbaMethod.Md5, MethodFor(rules, "fd12::5"));
        Assert.Equal(HbaMethod.ScramSha256, MethodFor(rules, "10.1.2.3"));
        Assert.Null(MethodFor(rules, "2001:db8::1")); // no line: refused
    }

    [Fact]
    public void Database_and_user_columns_take_lists_quoted_names_sameuser_and_names_from_a_file()
    {
        File.WriteAllText(Path.Combine(_folder, "admins"), "# one per line or comma-separated\nroot, ops\n");
        var rules = Load("""
            host sameuser      all      127.0.0.1/32 trust
            host "all"         bob      127.0.0.1/32 password
            host app, reports  @admins  127.0.0.1/32 cert
            hostssl all        all      127.0.0.1/32 md5
            """);
        Assert.Equal(HbaMethod.Trust, MethodFor(rules, "127.0.0.1", database: "alice", user: "alice"));
        Assert.Equal(HbaMethod.Password, MethodFor(rules, "127.0.0.1", database: "all", user: "bob")); // quoted: a database named all
        Assert.Null(MethodFor(rules, "127.0.0.1", database: "app", user: "bob"));
        Assert.Equal(HbaMethod.Cert, MethodFor(rules, "127.0.0.1", database: "reports", user: "ops"));
        Assert.Equal(HbaMethod.Md5, MethodFor(rules, "127.0.0.1", database: "app", user: "bob", tls: true));
    }

    [Fact]
    public void Local_lines_match_only_the_Unix_socket_and_hostnossl_only_plaintext_TCP()
    {
        var rules = Load("local all all peer\nhostnossl all all all reject\nhost all all all trust\n");
        Assert.Equal(HbaMethod.Peer, rules.Match(new HbaConnectionInfo(true, false, null, "app", "alice"))?.Method);
        Assert.Equal(HbaMethod.Reject, MethodFor(rules, "127.0.0.1"));
        Assert.Equal(HbaMethod.Trust, MethodFor(rules, "127.0.0.1", tls: true));
    }

    [Fact]
    public void Physical_replication_matches_only_lines_that_say_replication_and_logical_replication_matches_by_database_as_PostgreSQL()
    {
        var rules = Load("""
            host replication  alice 127.0.0.1/32 scram-sha-256
            host all          all   127.0.0.1/32 trust
            """);
        var physical = new HbaConnectionInfo(false, false, IPAddress.Loopback, "app", "alice", PhysicalReplication: true);
        Assert.Equal(HbaMethod.ScramSha256, rules.Match(physical)?.Method);
        Assert.Null(rules.Match(physical with { User = "bob" })); // "all" is no replication line
        Assert.Equal(HbaMethod.Trust, MethodFor(rules, "127.0.0.1", database: "app", user: "alice")); // normal and logical: by the database's name
        Assert.Equal(HbaMethod.Trust, MethodFor(rules, "127.0.0.1", database: "replication", user: "bob")); // a database named replication is not the keyword's
    }

    [Fact]
    public void A_map_option_goes_with_peer_and_cert_and_a_list_may_have_blanks_around_its_commas()
    {
        var rules = Load("""
            local   all               all                 peer map=osusers
            hostssl tmp1 , app        user1,user2 , bob   127.0.0.1/32 cert map=certs
            host    all               all                 127.0.0.1/32 md5
            """);
        Assert.Equal("osusers", rules.Match(new HbaConnectionInfo(true, false, null, "app", "alice"))?.Map);
        var cert = rules.Match(new HbaConnectionInfo(false, true, IPAddress.Loopback, "app", "bob"));
        Assert.Equal((HbaMethod.Cert, "certs"), (cert?.Method, cert?.Map));
        Assert.Null(rules.Match(new HbaConnectionInfo(false, false, IPAddress.Loopback, "app", "bob"))?.Map);
    }

    [Theory]
    [InlineData("host all +admins 127.0.0.1/32 trust", "role membership (+group, samerole) is not supported")]
    [InlineData("host all all samenet trust", "samenet is not supported")]
    [InlineData("host all all db.example.com trust", "host names are not supported")]
    [InlineData("host all all 127.0.0.1/32 ident", "authentication method \"ident\" is not supported")]
    [InlineData("host all all 127.0.0.1/32 cert clientcert=verify-full", "options after the method are not supported")]
    [InlineData("host all all 127.0.0.1/32 md5 map=users", "only map= with peer or cert")]
    [InlineData("hostgssenc all all 127.0.0.1/32 trust", "invalid connection type \"hostgssenc\"")]
    [InlineData("host all all 127.0.0.1 255.0.255.0 trust", "invalid mask")]
    [InlineData("local all all 127.0.0.1/32 trust", "authentication method \"127.0.0.1/32\" is not supported")]
    [InlineData("host all all 127.0.0.1/32 peer", "peer works only on local lines")]
    public void What_PgBouncer_does_not_support_is_refused_with_the_file_and_line(string line, string message)
    {
        var error = Assert.Throws<ConfigurationException>(() => Load($"# header\n\n{line}\n"));
        Assert.Contains("hba.conf:3: ", error.Message);
        Assert.Contains(message, error.Message);
    }
}
