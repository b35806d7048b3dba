using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PgBouncerActors.Demo;

/// <summary>
/// A throwaway PostgreSQL cluster in a temp folder on a free port, for the demo and the tests:
/// initdb, pg_ctl start, pg_ctl stop, folder removed. PostgreSQL refuses to run as root, so as
/// root every server command runs through <c>runuser -u postgres</c>.
/// </summary>
public sealed class ScratchCluster : IAsyncDisposable
{
    private const string ServiceUser = "postgres";
    private readonly string _root;
    private readonly string _binDirectory;
    private bool _running;

    private ScratchCluster(string root, string binDirectory, int port)
    {
        _root = root;
        _binDirectory = binDirectory;
        Port = port;
    }

    public int Port { get; }

    public string DataDirectory => Path.Combine(_root, "data");

    public string SocketDirectory => Path.Combine(_root, "socket");

    public string LogFile => Path.Combine(_root, "server.log");

    /// <summary>The superuser every cluster has; its password is <see cref="SuperuserPassword"/>.</summary>
    public const string Superuser = "postgres";

    public const string SuperuserPassword = "postgres";

    public static bool IsRoot => Environment.UserName == "root";

    /// <param name="hostAuth">pg_hba method for TCP connections: trust, md5 or scram-sha-256. Unix-socket connections are always trusted.</param>
    public static async Task<ScratchCluster> StartAsync(string hostAuth = "trust", TextWriter? progress = null)
    {
        var bin = FindBinDirectory();
        var root = Directory.CreateTempSubdirectory("pgba-cluster-").FullName;
        var cluster = new ScratchCluster(root, bin, FreePort());
        try
        {
            Directory.CreateDirectory(cluster.SocketDirectory);
            var passwordFile = Path.Combine(root, "pwfile");
            await File.WriteAllTextAsync(passwordFile, SuperuserPassword + "\n").ConfigureAwait(false);
            if (IsRoot)
            {
                await RunAsync("chown", ["-R", ServiceUser, root]).ConfigureAwait(false);
            }

            progress?.WriteLine($"initdb {cluster.DataDirectory} ...");
            await cluster.RunServerCommandAsync("initdb", ["-D", cluster.DataDirectory, "-U", Superuser, "-E", "UTF8", "--locale=C",
                "--auth-local=trust", $"--auth-host={hostAuth}", $"--pwfile={passwordFile}", "--no-sync"]).ConfigureAwait(false);
            await cluster.StartAgainAsync().ConfigureAwait(false);
            progress?.WriteLine($"PostgreSQL started on 127.0.0.1:{cluster.Port} (data in {cluster.DataDirectory})");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the server (again, after <see cref="StopAsync"/>).</summary>
    public async Task StartAgainAsync()
    {
        // fsync off: a scratch cluster trades durability for speed.
        await RunServerCommandAsync("pg_ctl", ["-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "-o",
            $"-p {Port} -k {SocketDirectory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", "start"]).ConfigureAwait(false);
        _running = true;
    }

    /// <summary>Stops the server, as <c>pg_ctl stop -m fast</c> would in production.</summary>
    public async Task StopAsync()
    {
        if (_running)
        {
            _running = false;
            await RunServerCommandAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "stop"]).ConfigureAwait(false);
        }
    }

    /// <summary>Runs a SQL script as the superuser through psql over the Unix socket; stops at the first error.</summary>
    public Task<string> RunSqlAsync(string sql, string database = "postgres") =>
        RunAsync(Path.Combine(_binDirectory, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SocketDirectory, "-p", Port.ToString(),
            "-U", Superuser, "-d", database, "-f", "-"], standardInput: sql);

    public string BinPath(string program) => Path.Combine(_binDirectory, program);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
                // a log file still held open: the temp folder is cleaned by the OS eventually
            }
        }
    }

    private Task<string> RunServerCommandAsync(string program, IReadOnlyList<string> arguments) =>
        IsRoot
            ? RunAsync("runuser", ["-u", ServiceUser, "--", Path.Combine(_binDirectory, program), .. arguments])
            : RunAsync(Path.Combine(_binDirectory, program), arguments);

    /// <summary>The newest PostgreSQL on the machine: Debian's /usr/lib/postgresql/N/bin, else initdb on PATH.</summary>
    public static string FindBinDirectory()
    {
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(dir => Path.Combine(dir, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "initdb")))
                .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var version) ? version : 0)
                .FirstOrDefault()
            : null;
        if (debian is not null)
        {
            return debian;
        }

        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .FirstOrDefault(dir => File.Exists(Path.Combine(dir, "initdb")));
        return onPath ?? throw new InvalidOperationException(
            "PostgreSQL server programs (initdb, pg_ctl) not found: install them, for example `apt-get install postgresql`");
    }

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public static async Task<string> RunAsync(string file, IReadOnlyList<string> arguments, string? standardInput = null) =>
        (await RunCapturingAsync(file, arguments, standardInput).ConfigureAwait(false)).Output;

    /// <summary>Runs a program to its end; its standard output and standard error (it must exit with 0).</summary>
    public static async Task<(string Output, string Errors)> RunCapturingAsync(string file, IReadOnlyList<string> arguments, string? standardInput = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput).ConfigureAwait(false);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error.ConfigureAwait(false)}{await output.ConfigureAwait(false)}");
        }

        return (await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }
}
