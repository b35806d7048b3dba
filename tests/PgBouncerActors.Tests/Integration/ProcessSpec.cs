using System.Text;
using Npgsql;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>The executable as an operator runs it: signals, reloads, and what ends up in its log.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ProcessSpec(PostgresFixture postgres)
{
    private const string LateUser = "late_user";
    private const string LatePassword = "late-pass";

    private string Configuration(string userList, string logLevel = "information", int poolSize = 20) => $$"""
        pgbouncer {
          listen_port = {port}, auth_type = scram-sha-256, auth_file = "{{userList}}"
          pool_mode = transaction, default_pool_size = {{poolSize}}
        }
        databases { "*" { host = 127.0.0.1, port = {{postgres.Cluster.Port}} } }
        pgbouncer-actors { log_level = {{logLevel}} }
        """;

    private static async Task<int> QueryAsync(int port, string user = PostgresFixture.ScramUser, string password = PostgresFixture.ScramPassword)
    {
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port, user, password));
        await connection.OpenAsync();
        await using var select = new NpgsqlCommand("select 1", connection);
        return (int)(await select.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task SIGHUP_reloads_the_auth_file_pool_size_and_log_level_and_USR1_USR2_pause_and_resume_without_dropping_a_client()
    {
        await postgres.Cluster.RunSqlAsync($"drop role if exists {LateUser}; create role {LateUser} login password '{LatePassword}';");
        var userList = Path.Combine(Path.GetTempPath(), $"pgba-users-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(userList, await File.ReadAllTextAsync(postgres.UserListPath));
        await using var pooler = await PoolerProcess.StartAsync(Configuration(userList));
        try
        {
            await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await client.OpenAsync();
            await using var select = new NpgsqlCommand("select 1", client);
            await Assert.ThrowsAsync<PostgresException>(() => QueryAsync(pooler.Port, LateUser, LatePassword)); // not in auth_file yet

            Assert.Equal(1, await select.ExecuteScalarAsync());
            var beforePause = pooler.Lines.Count;
            await pooler.SignalAsync("USR1"); // PAUSE: transactions finish, then new ones wait
            await pooler.WaitForLineAsync("SIGUSR1: every pool is paused", beforePause); // the parked connection is back and closed
            var paused = select.ExecuteScalarAsync();
            await Task.Delay(500);
            Assert.False(paused.IsCompleted, "a transaction began while every pool was paused");
            await pooler.SignalAsync("USR2"); // RESUME: the waiting one goes on, nobody dropped
            Assert.Equal(1, await paused.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.False(pooler.HasExited);

            await File.AppendAllTextAsync(userList, $"\n\"{LateUser}\" \"{LatePassword}\"\n");
            await File.WriteAllTextAsync(pooler.ConfigFile, Configuration(userList, logLevel: "warning", poolSize: 7)
                .Replace("{port}", pooler.Port.ToString()));
            var beforeReload = pooler.Lines.Count;
            await pooler.SignalAsync("HUP");
            await pooler.WaitForLineAsync("changed: default_pool_size 20 -> 7, log_level information -> warning", beforeReload); // nobody dropped
            Assert.False(pooler.HasExited);
            Assert.Equal(1, await select.ExecuteScalarAsync());
            Assert.Equal(1, await QueryAsync(pooler.Port, LateUser, LatePassword)); // the re-read auth_file

            var afterReload = pooler.Lines.Count;
            Assert.Equal(1, await QueryAsync(pooler.Port)); // log_level is warning now: no "client login" lines
            await Task.Delay(200);
            Assert.DoesNotContain(pooler.Lines.Skip(afterReload), line => line.Contains("client login"));
        }
        finally
        {
            File.Delete(userList);
        }

        await pooler.SignalAsync("TERM");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!pooler.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal((true, 0), (pooler.HasExited, pooler.ExitCode)); // a clean stop, as ever
    }

    [Fact]
    public async Task A_PgBouncer_user_points_it_at_their_pgbouncer_ini_and_userlist_and_psql_and_pgbench_run_through_it()
    {
        await postgres.EnsurePgbenchInitializedAsync();
        var folder = Directory.CreateTempSubdirectory("pgba-ini-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "userlist.txt"), await File.ReadAllTextAsync(postgres.UserListPath));
            await File.WriteAllTextAsync(Path.Combine(folder, "databases.ini"), $"""
                [databases]
                shop = host=127.0.0.1 port={postgres.Cluster.Port} dbname=bench pool_size=3
                """);
            await using var pooler = await PoolerProcess.StartAsync("""
                [pgbouncer]
                listen_addr = 127.0.0.1
                listen_port = {port}
                auth_type = scram-sha-256
                auth_file = userlist.txt
                pool_mode = transaction
                pidfile = PIDFILE
                %include databases.ini
                """.Replace("PIDFILE", Path.Combine(folder, "pgbouncer.pid")), extension: ".ini", folder: folder);

            var pidFile = Path.Combine(folder, "pgbouncer.pid");
            for (var tries = 0; tries < 200 && !File.Exists(pidFile); tries++)
            {
                await Task.Delay(50); // written right after the listening line
            }

            Assert.Equal($"{pooler.ProcessId}\n", await File.ReadAllTextAsync(pidFile));
            var output = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U",
                PostgresFixture.ScramUser, "-c", "select current_database()", "shop"]);
            Assert.Equal("bench", output.Trim());
            var bench = await postgres.RunToolAsync("pgbench", ["-n", "-S", "-c", "4", "-t", "50", "-h", "127.0.0.1", "-p", pooler.Port.ToString(),
                "-U", PostgresFixture.ScramUser, "shop"]);
            Assert.Equal("0", PostgresFixture.FailedTransactions(bench));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_user_name_with_a_newline_cannot_forge_a_log_line()
    {
        await using var pooler = await PoolerProcess.StartAsync(Configuration(postgres.UserListPath));
        const string forged = "2026-12-01 12:00:00.000 INF client login: db=prod user=admin addr=10.0.0.1:5000";
        await using (var client = await PgSocket.ConnectAsync("127.0.0.1", pooler.Port, CancellationToken.None))
        {
            await client.SendAsync(new MessageBuilder().StartupMessage([
                new("user", "mallory\n" + forged),
                new("database", "postgres\r\n" + forged),
                new("application_name", "app\u2028" + forged),
            ]));
            await client.Input.ReadMessageAsync(1 << 16); // the SCRAM request; then it just leaves
        }

        var failed = await pooler.WaitForLineAsync("client login failed");
        Assert.DoesNotContain(pooler.Lines, line => line.StartsWith(forged, StringComparison.Ordinal));
        Assert.Contains(@"user=mallory\n2026-12-01 12:00:00.000 INF client login", failed);
        Assert.Contains(@"db=postgres\r\n2026-12-01", failed);
    }

    /// <summary>
    /// A fresh process on a small machine has as many thread-pool threads as cores, and adds more
    /// only about once a second. Anything that blocks a pool thread while waiting for work queued
    /// behind it (Akka starts its scheduler and its stream supervisor on first use that way) turns
    /// a burst of logins at startup into a stall; on a pool held at two threads, into a hang.
    /// </summary>
    [Fact]
    public async Task Forty_clients_arriving_the_moment_it_listens_log_in_and_query_on_two_threads_that_cannot_grow()
    {
        var twoThreads = new Dictionary<string, string> { ["DOTNET_ThreadPool_ForceMaxWorkerThreads"] = "2" };
        await using var pooler = await PoolerProcess.StartAsync(Configuration(postgres.UserListPath), twoThreads);

        // Each client gives up after Npgsql's 15 s timeout: a thread blocked for good shows as a timeout here.
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => QueryAsync(pooler.Port))));

        Assert.All(answers, answer => Assert.Equal(1, answer));
    }

    [Fact]
    public async Task The_akka_section_configures_the_actor_system_its_lines_reach_the_log_and_SIGTERM_drains_through_coordinated_shutdown()
    {
        // Read by the pooler's own reader (the env fallback Akka's parser would throw on), then handed to Akka.
        var configuration = Configuration(postgres.UserListPath, logLevel: "debug").Replace("pgbouncer-actors { log_level = debug }", """
            pgbouncer-actors { log_level = debug, shutdown_timeout = 1s }
            akka { loglevel = INFO, loglevel = ${?PGBA_SPEC_AKKA_LOGLEVEL}, actor.debug.lifecycle = on }
            """);
        await using var pooler = await PoolerProcess.StartAsync(configuration, new Dictionary<string, string> { ["PGBA_SPEC_AKKA_LOGLEVEL"] = "DEBUG" });
        await pooler.WaitForLineAsync("Started (PgBouncerActors.Net.ListenerActor)"); // Akka's lifecycle debug line, through Serilog

        await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await client.OpenAsync();
        await using var begin = new NpgsqlCommand("begin; select 1", client);
        await begin.ExecuteNonQueryAsync(); // inside a transaction: it will not end by itself

        var before = pooler.Lines.Count;
        await pooler.SignalAsync("TERM");
        await pooler.WaitForLineAsync("shutting down: no new clients", before);
        await pooler.WaitForLineAsync("closed 1 session(s) still open at shutdown_timeout", before);
        await pooler.WaitForLineAsync("shutdown complete", before);
        await using var after = new NpgsqlCommand("select 1", client);
        var ended = await Assert.ThrowsAsync<PostgresException>(() => after.ExecuteScalarAsync());
        Assert.Equal("57P01", ended.SqlState); // told why, as PostgreSQL tells its clients at a fast shutdown
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!pooler.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal((true, 0), (pooler.HasExited, pooler.ExitCode));
    }

    [Fact]
    public async Task SIGTERM_waits_for_the_last_client_and_exits_as_soon_as_it_leaves_not_at_shutdown_timeout()
    {
        var configuration = Configuration(postgres.UserListPath).Replace("pgbouncer-actors { log_level = information }",
            "pgbouncer-actors { log_level = information, shutdown_timeout = 60s }");
        await using var pooler = await PoolerProcess.StartAsync(configuration);
        var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await client.OpenAsync();
        await using (var select = new NpgsqlCommand("select 1", client))
        {
            Assert.Equal(1, await select.ExecuteScalarAsync());
        }

        var before = pooler.Lines.Count;
        await pooler.SignalAsync("TERM");
        await pooler.WaitForLineAsync("shutting down: no new clients", before);
        await Task.Delay(500);
        Assert.False(pooler.HasExited); // the client is still there: the drain waits for it

        await client.DisposeAsync(); // the last client leaves: the drain is over, long before its 60 s
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!pooler.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal((true, 0), (pooler.HasExited, pooler.ExitCode));
        Assert.DoesNotContain(pooler.Lines, line => line.Contains("still open at shutdown_timeout"));
    }
}
