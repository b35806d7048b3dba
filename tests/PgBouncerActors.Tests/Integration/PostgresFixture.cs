using System.Text.RegularExpressions;
using Npgsql;
using PgBouncerActors.Configuration;
using PgBouncerActors.Demo;
using PgBouncerActors.Hosting;
using Serilog;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// One scratch PostgreSQL for every integration spec, started by the fixture itself (no server
/// started by hand). TCP logins need a password (md5 in pg_hba: md5 for md5-stored roles, SCRAM
/// for SCRAM-stored ones), so the pooler's server-side authentication is exercised for real.
/// </summary>
public sealed partial class PostgresFixture : IAsyncLifetime
{
    public const string ScramUser = "scram_user";
    public const string ScramPassword = "scram-pass";
    public const string Md5User = "md5_user";
    public const string Md5Password = "md5-pass";

    private ScratchCluster? _cluster;

    public ScratchCluster Cluster => _cluster ?? throw new InvalidOperationException("not started");

    /// <summary>The user list every test pooler reads, in PgBouncer's userlist.txt format.</summary>
    public string UserListPath { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var cluster = await ScratchCluster.StartAsync("md5");
        _cluster = cluster;
        await cluster.RunSqlAsync($"""
            SET password_encryption = 'scram-sha-256';
            CREATE ROLE {ScramUser} LOGIN PASSWORD '{ScramPassword}';
            SET password_encryption = 'md5';
            CREATE ROLE {Md5User} LOGIN PASSWORD '{Md5Password}';
            GRANT ALL ON SCHEMA public TO PUBLIC;
            CREATE DATABASE bench;
            """);
        UserListPath = Path.Combine(Path.GetTempPath(), $"pgba-userlist-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(UserListPath, $"""
            ;; PgBouncer's userlist.txt format: plaintext secrets for the server login
            "{ScramUser}" "{ScramPassword}"
            "{Md5User}" "{Md5Password}"
            "{ScratchCluster.Superuser}" "{ScratchCluster.SuperuserPassword}"
            """);
    }

    private readonly SemaphoreSlim _pgbenchInit = new(1, 1);
    private bool _pgbenchReady;

    /// <summary>pgbench's tables in the bench database, created once and owned by the SCRAM user.</summary>
    public async Task EnsurePgbenchInitializedAsync()
    {
        await _pgbenchInit.WaitAsync();
        try
        {
            if (!_pgbenchReady)
            {
                await Cluster.RunSqlAsync($"ALTER DATABASE bench OWNER TO {ScramUser}; GRANT ALL ON SCHEMA public TO {ScramUser};", "bench");
                await ScratchCluster.RunAsync(Cluster.BinPath("pgbench"), ["-i", "-q", "-s", "1", "-h", Cluster.SocketDirectory,
                    "-p", Cluster.Port.ToString(), "-U", ScramUser, "bench"]);
                _pgbenchReady = true;
            }
        }
        finally
        {
            _pgbenchInit.Release();
        }
    }

    /// <summary>A pooler in front of the cluster on a free port; <paramref name="pgbouncer"/> adds settings to the pgbouncer section.</summary>
    /// <param name="log">Receives every line from Information up; without it only warnings reach the console.</param>
    /// <param name="own">Settings of the pgbouncer-actors section.</param>
    public PoolerHost StartPooler(string pgbouncer = "", string databases = "", LogCapture? log = null, string own = "", string users = "",
        bool fallback = true, Serilog.Events.LogEventLevel logLevel = Serilog.Events.LogEventLevel.Information)
    {
        var settings = Settings(pgbouncer, databases, own, users, fallback);
        var configuration = Logging.Configure(new LoggerConfiguration()).MinimumLevel.Is(logLevel)
            .WriteTo.Console(restrictedToMinimumLevel: Serilog.Events.LogEventLevel.Warning);
        return PoolerHost.Start(settings, (log is null ? configuration : configuration.WriteTo.Sink(log)).CreateLogger());
    }

    /// <summary>The settings StartPooler starts with (specs of a reload build the next ones with it).</summary>
    /// <param name="fallback">With the "*" entry that sends every other database name to the cluster.</param>
    public PoolerSettings Settings(string pgbouncer = "", string databases = "", string own = "", string users = "", bool fallback = true) =>
        SettingsLoader.LoadString($$"""
            pgbouncer {
              listen_port = 0
              auth_type = scram-sha-256
              auth_file = "{{UserListPath}}"
              {{pgbouncer}}
            }
            databases {
              {{(fallback ? $"\"*\" {{ host = 127.0.0.1, port = {Cluster.Port} }}" : "")}}
              {{databases}}
            }
            users { {{users}} }
            pgbouncer-actors { {{own}} }
            """, "test");

    public static string ConnectionString(int port, string user = ScramUser, string password = ScramPassword, string database = "postgres") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = user,
            Password = password,
            Database = database,
            Pooling = false, // every open is a real login through the pooler
            Timeout = 15,
            CommandTimeout = 30,
        }.ConnectionString;

    /// <summary>
    /// One login attempt per open: with sslmode or gssencmode "prefer" (the defaults), Npgsql, as libpq,
    /// tries a failed login again without them, which hides what the first attempt was told.
    /// </summary>
    public static string SingleAttemptConnectionString(int port, string database = "postgres") =>
        new NpgsqlConnectionStringBuilder(ConnectionString(port, database: database))
        {
            SslMode = SslMode.Disable, GssEncryptionMode = GssEncryptionMode.Disable,
        }.ConnectionString;

    /// <summary>A direct connection to the cluster (not through the pooler), to look at what the server sees.</summary>
    public string DirectConnectionString(string database = "postgres") =>
        ConnectionString(Cluster.Port, ScratchCluster.Superuser, ScratchCluster.SuperuserPassword, database);

    /// <summary>Runs one of PostgreSQL's client programs (psql, pgbench) as the SCRAM user; its standard output.</summary>
    public async Task<string> RunToolAsync(string program, IReadOnlyList<string> arguments, string? input = null) =>
        (await RunToolCapturingAsync(program, arguments, input)).Output;

    /// <summary>Runs one of PostgreSQL's client programs as the SCRAM user; its standard output and standard error.</summary>
    public async Task<(string Output, string Errors)> RunToolCapturingAsync(string program, IReadOnlyList<string> arguments, string? input = null)
    {
        Environment.SetEnvironmentVariable("PGPASSWORD", ScramPassword);
        return await ScratchCluster.RunCapturingAsync(Cluster.BinPath(program), arguments, input);
    }

    /// <summary>pgbench's "number of failed transactions", as printed.</summary>
    public static string FailedTransactions(string pgbenchOutput) => FailedTransactionsLine().Match(pgbenchOutput).Groups[1].Value;

    [GeneratedRegex(@"number of failed transactions: (\d+)")]
    private static partial Regex FailedTransactionsLine();

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        if (UserListPath.Length > 0)
        {
            File.Delete(UserListPath);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "PostgreSQL";
}
