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
public sealed partial class ServiceManagerSpec(PostgresFixture postgres)
{
    private string Configuration(string logFile, string more = "") => $$"""
        pgbouncer {
          listen_port = {port}, auth_type = scram-sha-256, auth_file = "{{postgres.UserListPath}}"
          pool_mode = transaction, logfile = "{{logFile}}", admin_users = "{{PostgresFixture.ScramUser}}"
          {{more}}
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
            await using var pooler = await PoolerProcess.StartAsync(Configuration(log, "stats_period = 1"),
                new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath });
            var states = new NotifyReader(notifications);
            Assert.Equal("READY=1", await states.NextAsync());
            await LogInAsync(pooler.Port); // ready means clients are served
            Assert.StartsWith("STATUS=stats: ", await states.NextStatusAsync()); // `systemctl status` shows the last stats line

            await pooler.SignalAsync("HUP");
            var reloading = await states.NextAsync();
            var fields = reloading.Split('\n');
            Assert.Equal("RELOADING=1", fields[0]);
            // MONOTONIC_USEC is CLOCK_MONOTONIC (what a Type=notify-reload unit compares with its own): within a minute of this process's reading.
            var monotonic = long.Parse(Assert.Single(fields, field => field.StartsWith("MONOTONIC_USEC=", StringComparison.Ordinal))["MONOTONIC_USEC=".Length..]);
            var ours = (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));
            Assert.InRange(ours - monotonic, 0, 60_000_000);
            Assert.Equal("READY=1", await states.NextAsync());

            await pooler.SignalAsync("TERM");
            Assert.Equal("STOPPING=1", await states.NextAsync());
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
        // As systemd starts a service: JOURNAL_STREAM names the stream its standard output is (here the test's pipe).
        string[] asSystemdWould = ["bash", "-c", "export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1); exec \"$0\" \"$@\"",
            .. PoolerProcess.BesideTheTests()];
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

    [Fact]
    public async Task With_log_format_json_every_line_on_the_console_and_in_the_file_is_one_JSON_object_with_its_values_by_name()
    {
        var log = Path.Combine(Path.GetTempPath(), $"pgba-json-{Guid.NewGuid():N}.log");
        var configuration = Configuration(log) + "\npgbouncer-actors { log_format = json }";
        await using (var pooler = await PoolerProcess.StartAsync(configuration))
        {
            await LogInAsync(pooler.Port);
            var login = await pooler.WaitForLineAsync("client login: ");
            using var line = System.Text.Json.JsonDocument.Parse(login);
            Assert.Equal(PostgresFixture.ScramUser, line.RootElement.GetProperty("User").GetString());
            Assert.Equal("postgres", line.RootElement.GetProperty("Database").GetString());
            Assert.StartsWith($"client login: db=postgres user={PostgresFixture.ScramUser} ", line.RootElement.GetProperty("@m").GetString());
            Assert.True(DateTimeOffset.TryParse(line.RootElement.GetProperty("@t").GetString(), out _));
            Assert.Equal("Information", line.RootElement.GetProperty("@l").GetString());
        }

        var written = File.ReadAllLines(log);
        Assert.NotEmpty(written);
        Assert.All(written, text => System.Text.Json.JsonDocument.Parse(text).Dispose()); // the file too, every line
        Assert.Contains(written, text => text.Contains("client login: ", StringComparison.Ordinal));
        File.Delete(log);
    }

    [Fact]
    public async Task The_stats_line_is_PgBouncer_1_25s_every_stats_period_and_log_stats_0_stops_it()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler("stats_period = 1, pool_mode = transaction, max_prepared_statements = 10", log: log);
        await using (var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port)))
        {
            await connection.OpenAsync();
            await using var select = new NpgsqlCommand("select $1::int", connection) { Parameters = { new() { Value = 1 } } };
            await select.PrepareAsync();
            for (var i = 0; i < 20; i++)
            {
                await select.ExecuteScalarAsync();
            }
        }

        // The period that saw the Binds: "stats: 20 xacts/s, 20 queries/s, 1 client parses/s, 1 server parses/s, 20 binds/s, in ... us"
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!log.Lines.Any(line => StatsLine().Match(line) is { Success: true } m && int.Parse(m.Groups["binds"].Value) > 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains(log.Lines, line => StatsLine().Match(line) is { Success: true } m && int.Parse(m.Groups["binds"].Value) > 0);

        pooler.Apply(pooler.Settings with { LogStats = false });
        await Task.Delay(1200); // a period that may have begun before
        var silenced = log.Count("stats: ");
        await Task.Delay(2500);
        Assert.Equal(silenced, log.Count("stats: "));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^stats: \d+ xacts/s, \d+ queries/s, \d+ client parses/s, \d+ server parses/s, (?<binds>\d+) binds/s, in \d+ B/s, out \d+ B/s, xact \d+ us, query \d+ us, wait \d+ us$")]
    private static partial System.Text.RegularExpressions.Regex StatsLine();

    /// <summary>What the pooler tells systemd, one datagram at a time.</summary>
    private sealed class NotifyReader(Socket socket)
    {
        /// <summary>The next change of state (READY, RELOADING, STOPPING); STATUS lines in between are skipped.</summary>
        public async Task<string> NextAsync()
        {
            while (true)
            {
                var message = await ReceiveAsync();
                if (!message.StartsWith("STATUS=", StringComparison.Ordinal))
                {
                    return message;
                }
            }
        }

        public async Task<string> NextStatusAsync()
        {
            while (true)
            {
                var message = await ReceiveAsync();
                if (message.StartsWith("STATUS=", StringComparison.Ordinal))
                {
                    return message;
                }
            }
        }

        private async Task<string> ReceiveAsync()
        {
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var received = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return Encoding.UTF8.GetString(buffer, 0, received);
        }
    }
}
