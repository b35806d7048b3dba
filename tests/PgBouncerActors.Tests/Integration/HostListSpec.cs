using Npgsql;
using PgBouncerActors.Configuration;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// PgBouncer's host lists (host = a,b) and load_balance_hosts: round-robin spreads new server
/// connections over the hosts, disable stays on one host until a connection to it fails.
/// The two "hosts" here are one PostgreSQL reached two ways: over TCP and over its Unix socket.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HostListSpec(PostgresFixture postgres)
{
    /// <summary>Opens <paramref name="count"/> sessions at once (session mode: a server connection each) and says how each reached the server.</summary>
    private static async Task<List<string>> HowEachReachedTheServerAsync(int port, string database, int count)
    {
        var connections = new List<NpgsqlConnection>();
        try
        {
            var ways = new List<string>();
            for (var i = 0; i < count; i++)
            {
                var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port, database: database));
                connections.Add(connection);
                await connection.OpenAsync();
                // inet_server_addr() is null over a Unix socket.
                await using var how = new NpgsqlCommand("select coalesce(host(inet_server_addr()), 'unix')", connection);
                ways.Add((string)(await how.ExecuteScalarAsync())!);
            }

            return ways;
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Round_robin_gives_each_new_server_connection_the_next_host_of_the_list()
    {
        await using var pooler = postgres.StartPooler(databases:
            $"spread {{ host = \"127.0.0.1,{postgres.Cluster.SocketDirectory}\", port = {postgres.Cluster.Port}, dbname = postgres }}");
        var ways = await HowEachReachedTheServerAsync(pooler.Port, "spread", 4);
        Assert.Equal(["127.0.0.1", "unix", "127.0.0.1", "unix"], ways);
    }

    [Fact]
    public async Task Disable_stays_on_a_host_until_a_login_to_it_fails_and_a_bad_first_host_costs_one_failed_login()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler($"server_login_retry = 1, auth_type = trust, admin_users = {PostgresFixture.ScramUser}", log: log,
            databases: $$"""
                failover { host = "no-such-host.invalid,{{postgres.Cluster.SocketDirectory}},127.0.0.1", port = {{postgres.Cluster.Port}}, dbname = postgres,
                           load_balance_hosts = disable }
                single { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = postgres }
                """);
        var opening = Enumerable.Range(0, 3).Select(_ => HowEachReachedTheServerAsync(pooler.Port, "failover", 1)).ToList();
        var ways = (await Task.WhenAll(opening)).SelectMany(way => way).ToList();
        Assert.Equal(["unix", "unix", "unix"], ways); // the second host for every connection, never the third
        Assert.Equal(1, log.Count("closing because: server DNS lookup failed"));

        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        var databases = await console.ShowAsync("SHOW DATABASES");
        Assert.Equal("disable", databases.Value("load_balance_hosts", "failover"));
        Assert.Equal("", databases.Value("load_balance_hosts", "single") ?? ""); // one host: no list to balance
    }

    [Fact]
    public void Load_balance_hosts_takes_PgBouncer_s_two_words()
    {
        var settings = SettingsLoader.LoadString("databases { a { host = \"h1,h2\" }, b { host = \"h1,h2\", load_balance_hosts = disable } }", "test");
        Assert.Equal(LoadBalanceHosts.RoundRobin, settings.Databases["a"].LoadBalanceHosts);
        Assert.Equal(LoadBalanceHosts.Disable, settings.Databases["b"].LoadBalanceHosts);
        Assert.Equal(["h1", "h2"], settings.Databases["b"].Hosts);
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadString("databases { a { load_balance_hosts = random } }", "test"));
        Assert.Contains("expected round-robin or disable, got 'random'", error.Message);
    }
}
