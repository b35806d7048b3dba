using System.Buffers.Binary;
using System.Diagnostics;
using Npgsql;
using PgBouncerActors.Demo;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Three instances of the real executable on loopback, one cluster (pgbouncer-actors.cluster):
/// cancel requests cross between them, max_db_connections holds for all three together, a killed
/// instance's share comes back, and a rolling restart under reconnecting load fails nothing.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusterSpec(PostgresFixture postgres, ITestOutputHelper output)
{
    private const string User = PostgresFixture.ScramUser;

    /// <summary>Instance n (1 to 3) of a cluster whose endpoints are <paramref name="clusterPorts"/>; clients on {port}.</summary>
    private string Configuration(int peerId, int[] clusterPorts, string pgbouncer = "", bool reusePort = false, int metricsPort = 0) => $$"""
        pgbouncer {
          listen_port = {port}, so_reuseport = {{(reusePort ? 1 : 0)}}, peer_id = {{peerId}}
          auth_type = trust, auth_file = "{{postgres.UserListPath}}", admin_users = {{User}}
          pool_mode = transaction, default_pool_size = 10, unix_socket_dir = ""
          {{pgbouncer}}
        }
        databases { "*" { host = 127.0.0.1, port = {{postgres.Cluster.Port}} } }
        pgbouncer-actors {
          log_level = information, shutdown_timeout = 10s, metrics.port = {{metricsPort}}
          cluster {
            seed_nodes = [{{string.Join(", ", clusterPorts.Select(port => $"\"127.0.0.1:{port}\""))}}]
            hostname = 127.0.0.1, port = {{clusterPorts[peerId - 1]}}, down_after = 2s
          }
        }
        """;

    private static int[] ClusterPorts() => [ScratchCluster.FreePort(), ScratchCluster.FreePort(), ScratchCluster.FreePort()];

    /// <param name="metricsPort">/metrics of instance 1 (0: none).</param>
    private async Task<PoolerProcess[]> StartThreeAsync(int[] clusterPorts, string pgbouncer = "", int? sharedPort = null, int metricsPort = 0)
    {
        var instances = new PoolerProcess[3];
        for (var peer = 1; peer <= 3; peer++)
        {
            instances[peer - 1] = await PoolerProcess.StartAsync(
                Configuration(peer, clusterPorts, pgbouncer, sharedPort is not null, peer == 1 ? metricsPort : 0), port: sharedPort);
        }

        await WaitForMembersUpAsync(instances[0].Port, 3);
        return instances;
    }

    /// <summary>SHOW PEERS until it lists this many members up and reachable.</summary>
    private static async Task<List<string?[]>> WaitForMembersUpAsync(int port, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(40));
        List<string?[]> peers = [];
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                await using var console = await ConsoleClient.ConnectAsync(port, User);
                peers = (await console.ShowAsync("SHOW PEERS")).Rows;
                if (peers.Count(row => row[3] == "up" && row[4] == "1") == count)
                {
                    return peers;
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or ConsoleRefusedException)
            {
                // restarting, or another instance of the shared port is: try again
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"SHOW PEERS did not list {count} members up; last: {string.Join("; ", peers.Select(row => string.Join(",", row)))}");
    }

    private static async Task DisposeAllAsync(IEnumerable<PoolerProcess> instances) =>
        await Task.WhenAll(instances.Select(instance => instance.DisposeAsync().AsTask()));

    [Fact]
    public async Task A_cancel_sent_to_another_instance_stops_the_query_running_through_the_first_with_57014_within_a_second()
    {
        var instances = await StartThreeAsync(ClusterPorts());
        try
        {
            var peers = await WaitForMembersUpAsync(instances[1].Port, 3);
            Assert.Equal(["1", "2", "3"], peers.Select(row => row[0]));
            Assert.Equal(["0", "1", "0"], peers.Select(row => row[5])); // instance 2 sees itself as peer 2

            var client = await WireClient.ConnectAsync(instances[0].Port);
            var login = await client.LoginAsync(User, "postgres");
            var key = login.Single(message => message.Type == 'K').Payload;
            var (processId, secretKey) = (BinaryPrimitives.ReadInt32BigEndian(key), BinaryPrimitives.ReadInt32BigEndian(key.AsSpan(4)));
            Assert.Equal(1, Auth.CancelKeyRegistry.PeerOf(processId)); // instance 1 says so in the key it handed out

            await client.SendQueryAsync("select pg_sleep(30)");
            await Task.Delay(300); // the query is running on the server
            var clock = Stopwatch.StartNew();
            var canceller = await WireClient.ConnectAsync(instances[1].Port); // not the instance the client is on
            await canceller.SendAsync(new MessageBuilder().CancelRequest(processId, secretKey));
            var answer = await client.ReadUntilReadyAsync();
            clock.Stop();
            var error = Assert.Single(answer, message => message.Type == 'E');
            Assert.Contains("C57014", System.Text.Encoding.UTF8.GetString(error.Payload));
            output.WriteLine($"cancel through another instance: 57014 after {clock.Elapsed.TotalMilliseconds:0} ms");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"the cancel took {clock.Elapsed.TotalMilliseconds:0}ms");
            Assert.Contains(instances[1].Lines, line => line.Contains("cancel request forwarded to peer 1"));
            Assert.Contains(instances[0].Lines, line => line.Contains("cancel request from peer"));

            // A key naming a peer that is not in the cluster is dropped, and the instance serves on.
            var stray = await WireClient.ConnectAsync(instances[1].Port);
            await stray.SendAsync(new MessageBuilder().CancelRequest((77 << 17) | 5, 1234));
            await instances[1].WaitForLineAsync("cancel request for peer 77 dropped");
            Assert.Equal('Z', (await client.QueryAsync("select 1")).Last().Type);
        }
        finally
        {
            await DisposeAllAsync(instances);
        }
    }

    [Fact]
    public async Task Max_db_connections_holds_for_the_three_together_under_pgbench_and_a_killed_instances_share_comes_back()
    {
        await postgres.EnsurePgbenchInitializedAsync();
        var metricsPort = ScratchCluster.FreePort();
        var instances = await StartThreeAsync(ClusterPorts(), "max_db_connections = 6", metricsPort: metricsPort);
        try
        {
            var most = 0;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
                await direct.OpenAsync();
                await using var count = new NpgsqlCommand(
                    $"select count(*) from pg_stat_activity where datname = 'bench' and usename = '{User}'", direct);
                while (!sampling.IsCancellationRequested)
                {
                    most = Math.Max(most, (int)(long)(await count.ExecuteScalarAsync())!);
                    await Task.Delay(25);
                }
            });

            // Every instance's clients are served, and the server never sees more than 6 connections of bench.
            var outputs = await Task.WhenAll(instances.Select(instance => Pgbench(instance.Port, seconds: 6)));
            foreach (var output in outputs)
            {
                Assert.Equal("0", PostgresFixture.FailedTransactions(output));
                Assert.Matches(@"tps = [1-9]", output);
            }

            Assert.InRange(most, 1, 6);

            // Instance 3 dies with its share; the others keep serving and, once the cluster marked it down, hold all 6.
            var survivors = instances.Take(2).Select(instance => Pgbench(instance.Port, seconds: 15)).ToArray();
            await Task.Delay(2000);
            await instances[2].SignalAsync("KILL");
            var clock = Stopwatch.StartNew();
            var shares = await WaitForSharesAsync(instances[0].Port, members: 2, total: 6, TimeSpan.FromSeconds(30));
            clock.Stop();
            foreach (var output in await Task.WhenAll(survivors))
            {
                Assert.Equal("0", PostgresFixture.FailedTransactions(output));
            }

            output.WriteLine($"most server connections seen: {most}; the killed instance's share came back after {clock.Elapsed.TotalSeconds:0.0} s");
            // A cancel for the dead instance's client is dropped, as PostgreSQL drops an unknown key.
            var late = await WireClient.ConnectAsync(instances[0].Port);
            await late.SendAsync(new MessageBuilder().CancelRequest((3 << 17) | 1, 1));
            await instances[0].WaitForLineAsync("cancel request for peer 3 dropped: no such instance in the cluster");

            sampling.Cancel();
            await sampler;
            Assert.InRange(most, 1, 6);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the killed instance's share came back after {clock.Elapsed.TotalSeconds:0.0}s");
            Assert.All(shares, share => Assert.Equal("db:bench", share[5]));

            // /metrics says the same: two members up, their shares of db:bench, nothing left of peer 3.
            var scrape = await Metrics.PrometheusText.ScrapeAsync(metricsPort);
            Assert.Equal(2, scrape.Series.Count(series => series.StartsWith("pgbouncer_actors_cluster_member_up{", StringComparison.Ordinal)));
            var shareSeries = scrape.Series.Where(series => series.StartsWith("pgbouncer_actors_cluster_share_connections{", StringComparison.Ordinal)).ToList();
            Assert.Equal(6, shareSeries.Sum(scrape.Value));
            Assert.DoesNotContain(shareSeries, series => series.Contains("peer_id=\"3\""));
        }
        finally
        {
            await DisposeAllAsync(instances);
        }
    }

    /// <summary>SHOW CLUSTER until it lists only this many members and their shares of db:bench add up to <paramref name="total"/>.</summary>
    private static async Task<List<string?[]>> WaitForSharesAsync(int port, int members, int total, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        List<string?[]> rows = [];
        while (DateTime.UtcNow < deadline)
        {
            await using (var console = await ConsoleClient.ConnectAsync(port, User))
            {
                rows = (await console.ShowAsync("SHOW CLUSTER")).Rows;
            }

            if (rows.Count == members && rows.Sum(row => int.TryParse(row[7], out var share) ? share : 0) == total)
            {
                return rows;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"SHOW CLUSTER did not settle; last: {string.Join("; ", rows.Select(row => string.Join(",", row)))}");
    }

    private Task<string> Pgbench(int port, int seconds, params string[] extra) => postgres.RunToolAsync("pgbench",
        ["-n", "-S", "-c", "8", "-j", "2", "-T", seconds.ToString(), .. extra, "-h", "127.0.0.1", "-p", port.ToString(), "-U", User, "bench"]);

    [Fact]
    public async Task A_rolling_restart_of_all_three_on_one_port_under_reconnecting_load_fails_no_transaction()
    {
        // A stopping instance's queued connections move to the others only with this (Linux 5.14+); .ci/run sets it.
        var migrate = (await File.ReadAllTextAsync("/proc/sys/net/ipv4/tcp_migrate_req")).Trim();
        Assert.True(migrate == "1", "net.ipv4.tcp_migrate_req must be 1 (sysctl -w net.ipv4.tcp_migrate_req=1), or a stopping instance resets the connections in its accept queue");
        await postgres.EnsurePgbenchInitializedAsync();
        var clusterPorts = ClusterPorts();
        var port = ScratchCluster.FreePort();
        var instances = await StartThreeAsync(clusterPorts, sharedPort: port);
        try
        {
            // -C: a new connection for every transaction, so new clients arrive all through the restarts. pgbench runs
            // in 5-second rounds, one after another, until the restarts are done, however long they take on this machine.
            var restarting = true;
            var load = Task.Run(async () =>
            {
                var rounds = new List<string>();
                while (Volatile.Read(ref restarting) || rounds.Count == 0)
                {
                    rounds.Add(await Pgbench(port, seconds: 5, "-C")); // throws when pgbench exits with an error (a refused or reset connection)
                }

                return rounds;
            });
            await Task.Delay(2000);
            for (var i = 0; i < 3; i++)
            {
                var stopping = instances[i];
                await stopping.SignalAsync("TERM");
                await stopping.WaitForExitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(0, stopping.ExitCode);
                await stopping.DisposeAsync();
                instances[i] = await PoolerProcess.StartAsync(Configuration(i + 1, clusterPorts, reusePort: true), port: port);
                await WaitForMembersUpAsync(instances[(i + 1) % 3].Port, 3);
                Assert.False(load.IsCompleted, $"pgbench failed during the restarts: {(load.IsFaulted ? load.Exception!.GetBaseException().Message : "")}");
            }

            Volatile.Write(ref restarting, false);
            var rounds = await load;
            output.WriteLine($"{rounds.Count} pgbench rounds of 5 s ran through the three restarts");
            Assert.All(rounds, round => Assert.Equal("0", PostgresFixture.FailedTransactions(round)));
            Assert.All(rounds, round => Assert.Matches(@"tps = [1-9]", round));
        }
        finally
        {
            await DisposeAllAsync(instances);
        }
    }
}
