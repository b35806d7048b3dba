using PgBouncerActors.Configuration;
using Xunit;

namespace PgBouncerActors.Tests.Cluster;

/// <summary>pgbouncer-actors.cluster, peer_id and so_reuseport, from HOCON and from a pgbouncer.ini.</summary>
public sealed class ClusterSettingsSpec
{
    [Fact]
    public void A_single_instance_has_no_cluster_and_hands_the_actor_system_no_cluster_settings()
    {
        var settings = SettingsLoader.LoadString("");
        Assert.False(settings.Cluster.Enabled);
        Assert.Equal((0, false), (settings.PeerId, settings.SoReusePort));
        Assert.Equal("", PgBouncerActors.Cluster.PoolerCluster.Hocon(settings));
        Assert.Equal("local", Hosting.PoolerHost.ActorSystemConfig(settings).GetString("akka.actor.provider", "local"));
    }

    [Fact]
    public void Seed_nodes_make_a_cluster_member_whose_role_says_its_peer_id()
    {
        var settings = SettingsLoader.LoadString("""
            pgbouncer { peer_id = 2, so_reuseport = 1 }
            pgbouncer-actors.cluster { seed_nodes = ["10.0.0.5:4551", "10.0.0.6:4551"], hostname = 10.0.0.6, port = 4551, down_after = 7s }
            """);
        Assert.Equal((2, true), (settings.PeerId, settings.SoReusePort));
        Assert.Equal(("10.0.0.6", 4551, TimeSpan.FromSeconds(7)), (settings.Cluster.Hostname, settings.Cluster.Port, settings.Cluster.DownAfter));
        Assert.Equal(["10.0.0.5:4551", "10.0.0.6:4551"], settings.Cluster.SeedNodes);

        var akka = Hosting.PoolerHost.ActorSystemConfig(settings);
        Assert.Equal("cluster", akka.GetString("akka.actor.provider"));
        Assert.Equal(["akka.tcp://pgbouncer-actors@10.0.0.5:4551", "akka.tcp://pgbouncer-actors@10.0.0.6:4551"], akka.GetStringList("akka.cluster.seed-nodes"));
        Assert.Equal(["peer-2"], akka.GetStringList("akka.cluster.roles"));
        Assert.Equal(("10.0.0.6", 4551), (akka.GetString("akka.remote.dot-netty.tcp.hostname"), akka.GetInt("akka.remote.dot-netty.tcp.port")));
        Assert.Equal(TimeSpan.FromSeconds(7), akka.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
    }

    [Theory]
    [InlineData("pgbouncer-actors.cluster { seed_nodes = [\"a:1\"], port = 4551 }", "pgbouncer.peer_id must be set too")]
    [InlineData("pgbouncer { peer_id = 1 }\npgbouncer-actors.cluster { seed_nodes = [\"a:1\"] }", "pgbouncer-actors.cluster.port must be set too")]
    [InlineData("pgbouncer { peer_id = 16384 }", "'pgbouncer.peer_id': expected an integer from 0 to 16383, got 16384")]
    [InlineData("pgbouncer { peer_id = 1 }\npgbouncer-actors.cluster { seed_nodes = [\"10.0.0.5\"], port = 4551 }", "expected host:port entries, got '10.0.0.5'")]
    public void A_cluster_that_could_not_route_cancels_or_be_reached_is_refused_at_load(string text, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadString(text, "test"));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Peer_id_and_so_reuseport_from_a_pgbouncer_ini_are_read_and_its_peers_section_is_a_warning()
    {
        var ini = Path.Combine(Path.GetTempPath(), $"pgba-{Guid.NewGuid():N}.ini");
        File.WriteAllText(ini, """
            [databases]
            app = host=127.0.0.1
            [pgbouncer]
            peer_id = 3
            so_reuseport = 1
            [peers]
            1 = host=10.0.0.5
            """);
        try
        {
            var settings = SettingsLoader.LoadFile(ini);
            Assert.Equal((3, true), (settings.PeerId, settings.SoReusePort));
            Assert.Contains(settings.Warnings, warning => warning.StartsWith("[peers] is not read: instances forward cancel requests to each other over pgbouncer-actors.cluster"));
        }
        finally
        {
            File.Delete(ini);
        }
    }
}
