using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// What the tools around a production pooler do to the process: logrotate moves its log file and
/// sends SIGHUP; systemd starts it under Type=notify and waits for it to say it is ready.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ServiceManagerSpec(PostgresFixture postgres)
{
    private string Configuration(string logFile) => $$"""
        pgbouncer {
          listen_port = {port}, auth_type = scram-sha-256, auth_file = "{{postgres.UserListPath}}"
          pool_mode = transaction, logfile = "{{logFile}}", admin_users = "{{PostgresFixture.ScramUser}}"
        }
        databases { "*" { host = 127.0.0.1, port = {{postgres.Cluster.Port}} } }
        """;

    private static async Task LogInAsync(int port)
    {
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port) + ";Pooling=false");
        await connection.OpenAsync();
        await using var select = new NpgsqlCommand("select 1", connection);
        Assert.Equal(1, await select.ExecuteScalarAsync());
    }

    private static int LoginLines(string file) =>
        File.Exists(file) ? File.ReadLines(file).Count(line => line.Contains("client login: ", StringComparison.Ordinal)) : 0;

    /// <summary>Waits for the login lines of <paramref name="files"/> to reach the counts given (a login is logged just after the client is answered).</summary>
    private static async Task ExpectLoginLinesAsync(params (string File, int Lines)[] files)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (files.Any(file => LoginLines(file.File) != file.Lines) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(files.Select(file => (Path.GetFileName(file.File), file.Lines)), files.Select(file => (Path.GetFileName(file.File), LoginLines(file.File))));
    }

    [Fact]
    public async Task After_logrotate_moves_the_log_file_SIGHUP_starts_a_new_one_and_a_changed_logfile_is_followed_on_reload()
    {
        var folder = Directory.CreateTempSubdirectory("pgba-logrotate-").FullName;
        var log = Path.Combine(folder, "pgbouncer.log");
        var rotated = log + ".1";
        var moved = Path.Combine(folder, "elsewhere.log");
        try
        {
            await using var pooler = await PoolerProcess.StartAsync(Configuration(log));
            await LogInAsync(pooler.Port);
            await ExpectLoginLinesAsync((log, 1));

            File.Move(log, rotated); // logrotate's first step: the pooler still holds the moved file
            await LogInAsync(pooler.Port);
            await ExpectLoginLinesAsync((rotated, 2), (log, 0));

            var beforeHangup = pooler.Lines.Count;
            await pooler.SignalAsync("HUP"); // its postrotate step
            await pooler.WaitForLineAsync("reload: reloaded", beforeHangup);
            await LogInAsync(pooler.Port);
            await ExpectLoginLinesAsync((log, 1), (rotated, 2)); // a new file by the old name; the moved one is let go

            await File.WriteAllTextAsync(pooler.ConfigFile, Configuration(moved).Replace("{port}", pooler.Port.ToString()));
            var beforeReload = pooler.Lines.Count;
            await pooler.SignalAsync("HUP");
            await pooler.WaitForLineAsync($"changed: logfile {log} -> {moved}", beforeReload);
            await LogInAsync(pooler.Port);
            await ExpectLoginLinesAsync((moved, 1), (log, 1), (rotated, 2));

            var set = Path.Combine(folder, "set.log");
            await postgres.RunToolAsync("psql", ["-X", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", PostgresFixture.ScramUser,
                "-c", $"SET logfile = '{set}'", "pgbouncer"]);
            await LogInAsync(pooler.Port);
            await ExpectLoginLinesAsync((set, 1), (moved, 1)); // the console's SET as well
            Assert.False(pooler.HasExited);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Under_systemd_Type_notify_it_says_READY_once_it_listens_RELOADING_around_a_SIGHUP_and_STOPPING_at_SIGTERM()
    {
        var socketPath = Path.Combine(Path.GetTempPath(), $"pgba-notify-{Guid.NewGuid():N}.sock");
        using var notifications = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notifications.Bind(new UnixDomainSocketEndPoint(socketPath));
        try
        {
            var log = Path.Combine(Path.GetTempPath(), $"pgba-notify-{Guid.NewGuid():N}.log");
            await using var pooler = await PoolerProcess.StartAsync(Configuration(log),
                new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath });
            Assert.Equal("READY=1", await NextAsync(notifications));
            await LogInAsync(pooler.Port); // ready means clients are served

            await pooler.SignalAsync("HUP");
            var reloading = await NextAsync(notifications);
            var fields = reloading.Split('\n');
            Assert.Equal("RELOADING=1", fields[0]);
            // MONOTONIC_USEC is CLOCK_MONOTONIC (what a Type=notify-reload unit compares with its own): within a minute of this process's reading.
            var monotonic = long.Parse(Assert.Single(fields, field => field.StartsWith("MONOTONIC_USEC=", StringComparison.Ordinal))["MONOTONIC_USEC=".Length..]);
            var ours = (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));
            Assert.InRange(ours - monotonic, 0, 60_000_000);
            Assert.Equal("READY=1", await NextAsync(notifications));

            await pooler.SignalAsync("TERM");
            Assert.Equal("STOPPING=1", await NextAsync(notifications));
            await pooler.WaitForExitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(0, pooler.ExitCode);
            File.Delete(log);
        }
        finally
        {
            File.Delete(socketPath);
        }
    }

    [Fact]
    public async Task When_its_standard_output_is_the_journal_each_line_carries_its_syslog_priority_and_no_timestamp_of_its_own()
    {
        var log = Path.Combine(Path.GetTempPath(), $"pgba-journal-{Guid.NewGuid():N}.log");
        var dotnet = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        // As systemd starts a service: JOURNAL_STREAM names the stream its standard output is (here the test's pipe).
        string[] asSystemdWould = ["bash", "-c", "export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1); exec \"$0\" \"$@\"",
            dotnet, Path.Combine(AppContext.BaseDirectory, "pgbouncer-actors.dll"), "--config"];
        await using var pooler = await PoolerProcess.StartAsync(Configuration(log), command: asSystemdWould);
        var listening = await pooler.WaitForLineAsync("listening on");
        Assert.StartsWith("<6>", listening); // information
        Assert.DoesNotMatch(@"\d{4}-\d\d-\d\d \d\d:", listening); // journald stamps it

        await File.WriteAllTextAsync(pooler.ConfigFile, "pgbouncer { listen_port = ");
        var before = pooler.Lines.Count;
        await pooler.SignalAsync("HUP");
        Assert.StartsWith("<3>", await pooler.WaitForLineAsync("not reloaded", before)); // an error: `journalctl -p err` shows it
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d ERR ", File.ReadLines(log).Last(line => line.Contains("not reloaded")));
        File.Delete(log);
    }

    private static async Task<string> NextAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, received);
    }
}
