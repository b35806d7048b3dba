using System.Diagnostics;
using Npgsql;
using PgBouncerActors.Demo;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The executable started exactly as PgBouncer is (its test suite, init scripts, service units):
/// <c>-d</c> with a pidfile, <c>-q</c>, <c>--version</c>, and SIGQUIT's immediate exit.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PgBouncerCommandLineSpec(PostgresFixture postgres)
{
    private static readonly string Executable = Path.Combine(AppContext.BaseDirectory, "pgbouncer-actors.dll");

    /// <summary>Runs the executable to its end: exit status, standard output, standard error. Reading both to their end also proves nothing left behind holds them open.</summary>
    private static async Task<(int Status, string Output, string Errors)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Executable);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output.WaitAsync(TimeSpan.FromSeconds(10)), await errors.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task<T> EventuallyAsync<T>(Func<T?> probe, string what) where T : class
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (probe() is { } found)
            {
                return found;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException(what);
    }

    /// <summary>Running: a daemon whose parent is gone is reaped by init, which a container may not do, so an exited one can stay a zombie (Z).</summary>
    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Started_with_d_it_returns_at_once_serves_in_the_background_from_its_pidfile_and_SIGQUIT_ends_it_at_once()
    {
        var folder = Directory.CreateTempSubdirectory("pgba-daemon-").FullName;
        var port = ScratchCluster.FreePort();
        var pidFile = Path.Combine(folder, "pgbouncer.pid");
        var logFile = Path.Combine(folder, "pgbouncer.log");
        var ini = Path.Combine(folder, "pgbouncer.ini");
        await File.WriteAllTextAsync(Path.Combine(folder, "userlist.txt"), await File.ReadAllTextAsync(postgres.UserListPath));
        await File.WriteAllTextAsync(ini, $"""
            [databases]
            * = host=127.0.0.1 port={postgres.Cluster.Port}
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir = {folder}
            auth_type = scram-sha-256
            auth_file = {folder}/userlist.txt
            admin_users = {PostgresFixture.ScramUser}
            logfile = {logFile}
            pidfile = {pidFile}
            """);
        int? pid = null;
        try
        {
            var started = await RunAsync("-d", "-q", ini);
            Assert.Equal((0, "", ""), started); // back at once, nothing on the terminal, the terminal's pipes not held

            var text = await EventuallyAsync(() => File.Exists(pidFile) ? File.ReadAllText(pidFile) : null, "no pidfile written");
            pid = int.Parse(text.Trim());
            Assert.True(Alive(pid.Value));
            await using (var client = new NpgsqlConnection(PostgresFixture.ConnectionString(port)))
            {
                await client.OpenAsync();
                await using var select = new NpgsqlCommand("select 1", client);
                Assert.Equal(1, await select.ExecuteScalarAsync());
            }

            // SHOW VERSION and --version agree (PgBouncer's test_show_version).
            var version = (await RunAsync("--version")).Output.Split('\n')[0];
            var shown = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", port.ToString(), "-U", PostgresFixture.ScramUser,
                "-c", "SHOW VERSION", "pgbouncer"]);
            Assert.Equal(version, shown.Trim());

            var second = await RunAsync("-d", ini);
            Assert.Equal(1, second.Status);
            Assert.Contains($"pidfile '{pidFile}' exists, another instance running?", second.Errors);

            await using var inTransaction = new NpgsqlConnection(PostgresFixture.ConnectionString(port));
            await inTransaction.OpenAsync();
            await using (var begin = new NpgsqlCommand("begin; select 1", inTransaction))
            {
                await begin.ExecuteNonQueryAsync();
            }

            var quit = Stopwatch.StartNew();
            await ScratchCluster.RunAsync("kill", ["-s", "QUIT", pid.Value.ToString()]);
            await EventuallyAsync(() => Alive(pid.Value) ? null : "gone", "SIGQUIT did not end the process");
            Assert.True(quit.Elapsed < TimeSpan.FromSeconds(10), $"SIGQUIT took {quit.Elapsed} (no draining: an open transaction does not hold it)");
            Assert.False(File.Exists(pidFile));
            Assert.Contains("got SIGQUIT, fast exit", await File.ReadAllTextAsync(logFile));
            await using var after = new NpgsqlCommand("select 1", inTransaction);
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => after.ExecuteScalarAsync());
        }
        finally
        {
            if (pid is { } running && Alive(running))
            {
                Process.GetProcessById(running).Kill();
            }

            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_daemon_without_a_pidfile_and_a_bare_invocation_are_refused_on_the_terminal()
    {
        var ini = Path.Combine(Path.GetTempPath(), $"pgba-nopid-{Guid.NewGuid():N}.ini");
        await File.WriteAllTextAsync(ini, "[databases]\n[pgbouncer]\nlisten_port = 1\n");
        try
        {
            var daemon = await RunAsync("-d", ini);
            Assert.Equal(1, daemon.Status);
            Assert.Contains("daemon needs pidfile configured", daemon.Errors);
        }
        finally
        {
            File.Delete(ini);
        }

        var bare = await RunAsync();
        Assert.Equal(1, bare.Status);
        Assert.Contains("no configuration file specified", bare.Errors);
        Assert.Contains("--help", bare.Errors);
        var help = await RunAsync("--help");
        Assert.Equal(0, help.Status);
        Assert.Contains("-d, --daemon", help.Output);
    }

    /// <summary>
    /// PgBouncer 1.25's SIGTERM (SHUTDOWN WAIT_FOR_CLIENTS): no new client over TCP, the admin
    /// console still over the Unix socket, connected clients served on; a second SIGTERM exits at once.
    /// </summary>
    [Fact]
    public async Task SIGTERM_waits_for_the_clients_keeps_the_console_on_the_Unix_socket_and_a_second_SIGTERM_exits_at_once()
    {
        var folder = Directory.CreateTempSubdirectory("pgba-sigterm-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "userlist.txt"), await File.ReadAllTextAsync(postgres.UserListPath));
            await using var pooler = await PoolerProcess.StartAsync($$"""
                [databases]
                * = host=127.0.0.1 port={{postgres.Cluster.Port}}
                [pgbouncer]
                listen_addr = 127.0.0.1
                listen_port = {port}
                unix_socket_dir = {{folder}}
                auth_type = scram-sha-256
                auth_file = {{folder}}/userlist.txt
                admin_users = {{PostgresFixture.ScramUser}}
                pool_mode = transaction
                [pgbouncer-actors]
                shutdown_timeout = 60
                """, extension: ".ini", folder: folder);
            await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await client.OpenAsync();

            var before = pooler.Lines.Count;
            await pooler.SignalAsync("TERM");
            await pooler.WaitForLineAsync("got SIGTERM, shutting down, waiting for all clients disconnect", before);
            await pooler.WaitForLineAsync("shutting down: no new clients over TCP", before);
            await using (var select = new NpgsqlCommand("select 1", client))
            {
                Assert.Equal(1, await select.ExecuteScalarAsync()); // the connected client goes on
            }

            await using (var late = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port)))
            {
                await Assert.ThrowsAnyAsync<NpgsqlException>(() => late.OpenAsync()); // the TCP port is closed
            }

            var overSocket = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { Host = folder }.ConnectionString;
            await using (var refused = new NpgsqlConnection(overSocket))
            {
                var error = await Assert.ThrowsAsync<PostgresException>(() => refused.OpenAsync());
                Assert.Equal(("57P03", "pooler is shutting down"), (error.SqlState, error.MessageText));
            }

            var shown = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", folder, "-p", pooler.Port.ToString(), "-U", PostgresFixture.ScramUser,
                "-c", "SHOW VERSION", "pgbouncer"]);
            Assert.StartsWith("PgBouncer 1.25.2", shown.Trim()); // the console is still reached over the Unix socket
            Assert.False(pooler.HasExited); // a client is still connected: it waits for it (up to shutdown_timeout, 60 s here)

            var second = Stopwatch.StartNew();
            await pooler.SignalAsync("TERM");
            await pooler.WaitForExitAsync(TimeSpan.FromSeconds(10));
            Assert.True(second.Elapsed < TimeSpan.FromSeconds(10));
            Assert.Contains(pooler.Lines, line => line.Contains("got SIGTERM while shutting down, fast exit"));
            await using var after = new NpgsqlCommand("select 1", client);
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => after.ExecuteScalarAsync());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
