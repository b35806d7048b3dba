using System.Globalization;
using PgBouncerActors.Configuration;
using Serilog.Events;

namespace PgBouncerActors.Admin;

/// <summary>
/// The settings as SHOW CONFIG lists them (key, value, default, changeable) and as SET names
/// them: PgBouncer's keys, and this pooler's own under their names in pgbouncer-actors.
/// Changeable means RELOAD and SET apply it to the running pooler.
/// </summary>
internal static class ConfigView
{
    /// <summary>Every setting: its key, its HOCON section, how its value reads, and whether it changes at run time.</summary>
    public static readonly IReadOnlyList<Setting> Settings =
    [
        new("admin_users", "pgbouncer", s => string.Join(",", s.AdminUsers.Order(StringComparer.Ordinal)),
            (running, read) => running with { AdminUsers = read.AdminUsers }),
        new("auth_file", "pgbouncer", s => s.AuthFile ?? "",
            (running, read) => running with { AuthFile = read.AuthFile, UserList = read.UserList }),
        new("auth_type", "pgbouncer", s => AuthTypeName(s.AuthType),
            (running, read) => running with { AuthType = read.AuthType }),
        new("client_idle_timeout", "pgbouncer", s => Seconds(s.ClientIdleTimeout),
            (running, read) => running with { ClientIdleTimeout = read.ClientIdleTimeout }),
        new("client_login_timeout", "pgbouncer", s => Seconds(s.ClientLoginTimeout),
            (running, read) => running with { ClientLoginTimeout = read.ClientLoginTimeout }),
        new("default_pool_size", "pgbouncer", s => Number(s.DefaultPoolSize),
            (running, read) => running with { DefaultPoolSize = read.DefaultPoolSize }),
        new("idle_transaction_timeout", "pgbouncer", s => Seconds(s.IdleTransactionTimeout),
            (running, read) => running with { IdleTransactionTimeout = read.IdleTransactionTimeout }),
        new("transaction_timeout", "pgbouncer", s => Seconds(s.TransactionTimeout),
            (running, read) => running with { TransactionTimeout = read.TransactionTimeout }),
        new("ignore_startup_parameters", "pgbouncer", s => string.Join(",", s.IgnoreStartupParameters.Order(StringComparer.Ordinal)),
            (running, read) => running with { IgnoreStartupParameters = read.IgnoreStartupParameters }),
        new("listen_addr", "pgbouncer", s => s.ListenAddress, null),
        new("listen_port", "pgbouncer", s => Number(s.ListenPort), null),
        new("logfile", "pgbouncer", s => s.LogFile ?? "",
            (running, read) => running with { LogFile = read.LogFile }),
        new("pidfile", "pgbouncer", s => s.PidFile ?? "", null),
        new("user", "pgbouncer", s => s.RunAsUser ?? "", null),
        new("max_client_conn", "pgbouncer", s => Number(s.MaxClientConnections),
            (running, read) => running with { MaxClientConnections = read.MaxClientConnections }),
        new("max_db_connections", "pgbouncer", s => Number(s.MaxDbConnections), null),
        new("max_user_connections", "pgbouncer", s => Number(s.MaxUserConnections), null),
        new("max_db_client_connections", "pgbouncer", s => Number(s.MaxDbClientConnections),
            (running, read) => running with { MaxDbClientConnections = read.MaxDbClientConnections }),
        new("max_user_client_connections", "pgbouncer", s => Number(s.MaxUserClientConnections),
            (running, read) => running with { MaxUserClientConnections = read.MaxUserClientConnections }),
        new("reserve_pool_size", "pgbouncer", s => Number(s.ReservePoolSize), (running, read) => running with { ReservePoolSize = read.ReservePoolSize }),
        new("reserve_pool_timeout", "pgbouncer", s => Seconds(s.ReservePoolTimeout),
            (running, read) => running with { ReservePoolTimeout = read.ReservePoolTimeout }),
        new("server_round_robin", "pgbouncer", s => Flag(s.ServerRoundRobin), (running, read) => running with { ServerRoundRobin = read.ServerRoundRobin }),
        new("server_fast_close", "pgbouncer", s => Flag(s.ServerFastClose), (running, read) => running with { ServerFastClose = read.ServerFastClose }),
        new("log_connections", "pgbouncer", s => Flag(s.LogConnections), (running, read) => running with { LogConnections = read.LogConnections }),
        new("log_stats", "pgbouncer", s => Flag(s.LogStats), (running, read) => running with { LogStats = read.LogStats }),
        new("log_disconnections", "pgbouncer", s => Flag(s.LogDisconnections),
            (running, read) => running with { LogDisconnections = read.LogDisconnections }),
        new("log_pooler_errors", "pgbouncer", s => Flag(s.LogPoolerErrors), (running, read) => running with { LogPoolerErrors = read.LogPoolerErrors }),
        new("application_name_add_host", "pgbouncer", s => Flag(s.ApplicationNameAddHost),
            (running, read) => running with { ApplicationNameAddHost = read.ApplicationNameAddHost }),
        new("disable_pqexec", "pgbouncer", s => Flag(s.DisablePqExec), null),
        new("track_extra_parameters", "pgbouncer", s => string.Join(",", s.TrackExtraParameters.Order(StringComparer.OrdinalIgnoreCase)), null),
        new("verbose", "pgbouncer", s => Number(s.Verbose), (running, read) => running with { Verbose = read.Verbose }),
        // max_prepared_statements: 0 or not decides at a client's login; the size of each server connection's cache follows at once.
        new("max_prepared_statements", "pgbouncer", s => Number(s.MaxPreparedStatements),
            (running, read) => running with { MaxPreparedStatements = read.MaxPreparedStatements }),
        new("min_pool_size", "pgbouncer", s => Number(s.MinPoolSize),
            (running, read) => running with { MinPoolSize = read.MinPoolSize }),
        new("peer_id", "pgbouncer", s => Number(s.PeerId), null),
        // pool_mode: clients that log in from now on (a connected client keeps the mode it began with).
        new("pool_mode", "pgbouncer", s => s.PoolMode.ToString().ToLowerInvariant(), (running, read) => running with { PoolMode = read.PoolMode }),
        new("query_timeout", "pgbouncer", s => Seconds(s.QueryTimeout),
            (running, read) => running with { QueryTimeout = read.QueryTimeout }),
        new("query_wait_timeout", "pgbouncer", s => Seconds(s.QueryWaitTimeout),
            (running, read) => running with { QueryWaitTimeout = read.QueryWaitTimeout }),
        new("query_wait_notify", "pgbouncer", s => Seconds(s.QueryWaitNotify),
            (running, read) => running with { QueryWaitNotify = read.QueryWaitNotify }),
        new("server_check_delay", "pgbouncer", s => Seconds(s.ServerCheckDelay),
            (running, read) => running with { ServerCheckDelay = read.ServerCheckDelay }),
        new("server_check_query", "pgbouncer", s => s.ServerCheckQuery,
            (running, read) => running with { ServerCheckQuery = read.ServerCheckQuery }),
        new("server_connect_timeout", "pgbouncer", s => Seconds(s.ServerConnectTimeout),
            (running, read) => running with { ServerConnectTimeout = read.ServerConnectTimeout }),
        new("server_login_retry", "pgbouncer", s => Seconds(s.ServerBackoff.Max),
            (running, read) => running with { ServerBackoff = read.ServerBackoff }),
        new("server_idle_timeout", "pgbouncer", s => Seconds(s.ServerIdleTimeout),
            (running, read) => running with { ServerIdleTimeout = read.ServerIdleTimeout }),
        new("server_lifetime", "pgbouncer", s => Seconds(s.ServerLifetime),
            (running, read) => running with { ServerLifetime = read.ServerLifetime }),
        new("server_reset_query", "pgbouncer", s => s.ServerResetQuery,
            (running, read) => running with { ServerResetQuery = read.ServerResetQuery }),
        // TLS: RELOAD and SET load the files again (a certificate rotates without a restart); new connections use them.
        new("client_tls_sslmode", "pgbouncer", s => Hyphenated(s.ClientTlsMode), (running, read) => running with { ClientTlsMode = read.ClientTlsMode }),
        new("client_tls_cert_file", "pgbouncer", s => s.ClientTlsCertFile ?? "", (running, read) => running with { ClientTlsCertFile = read.ClientTlsCertFile }) { TlsKept = HalfOfPair(s => s.ClientTlsCertFile) },
        new("client_tls_key_file", "pgbouncer", s => s.ClientTlsKeyFile ?? "", (running, read) => running with { ClientTlsKeyFile = read.ClientTlsKeyFile }) { TlsKept = HalfOfPair(s => s.ClientTlsKeyFile) },
        new("client_tls_ca_file", "pgbouncer", s => s.ClientTlsCaFile ?? "", (running, read) => running with { ClientTlsCaFile = read.ClientTlsCaFile }),
        new("client_tls_protocols", "pgbouncer", s => s.ClientTlsProtocols, (running, read) => running with { ClientTlsProtocols = read.ClientTlsProtocols }),
        new("client_tls_ciphers", "pgbouncer", s => s.ClientTlsCiphers, (running, read) => running with { ClientTlsCiphers = read.ClientTlsCiphers }),
        new("client_tls13_ciphers", "pgbouncer", s => s.ClientTls13Ciphers, (running, read) => running with { ClientTls13Ciphers = read.ClientTls13Ciphers })
        {
            // As PgBouncer: the SET is taken, the error logged ("failed to set the TLSv1.3 cipher suites"), the TLS in use stays.
            TlsKept = _ => new TlsKeptNote(LogEventLevel.Error, "the TLS in use stays as it was"),
        },
        new("server_tls_sslmode", "pgbouncer", s => Hyphenated(s.ServerTlsMode), (running, read) => running with { ServerTlsMode = read.ServerTlsMode }),
        new("server_tls_ca_file", "pgbouncer", s => s.ServerTlsCaFile ?? "", (running, read) => running with { ServerTlsCaFile = read.ServerTlsCaFile }),
        new("server_tls_cert_file", "pgbouncer", s => s.ServerTlsCertFile ?? "", (running, read) => running with { ServerTlsCertFile = read.ServerTlsCertFile }) { TlsKept = HalfOfPair(s => s.ServerTlsCertFile) },
        new("server_tls_key_file", "pgbouncer", s => s.ServerTlsKeyFile ?? "", (running, read) => running with { ServerTlsKeyFile = read.ServerTlsKeyFile }) { TlsKept = HalfOfPair(s => s.ServerTlsKeyFile) },
        new("server_tls_protocols", "pgbouncer", s => s.ServerTlsProtocols, (running, read) => running with { ServerTlsProtocols = read.ServerTlsProtocols }),
        new("server_tls_ciphers", "pgbouncer", s => s.ServerTlsCiphers, (running, read) => running with { ServerTlsCiphers = read.ServerTlsCiphers }),
        new("auth_hba_file", "pgbouncer", s => s.AuthHbaFile ?? "", (running, read) => running with { AuthHbaFile = read.AuthHbaFile, HbaRules = read.HbaRules }),
        new("auth_ident_file", "pgbouncer", s => s.AuthIdentFile ?? "", (running, read) => running with { AuthIdentFile = read.AuthIdentFile, IdentMap = read.IdentMap }),
        new("auth_user", "pgbouncer", s => s.AuthUser, (running, read) => running with { AuthUser = read.AuthUser }),
        new("auth_query", "pgbouncer", s => s.AuthQuery, (running, read) => running with { AuthQuery = read.AuthQuery }),
        new("auth_dbname", "pgbouncer", s => s.AuthDbName, (running, read) => running with { AuthDbName = read.AuthDbName }),
        new("unix_socket_dir", "pgbouncer", s => s.UnixSocketDirectory, null),
        new("unix_socket_mode", "pgbouncer", s => "0" + Convert.ToString(s.UnixSocketMode, 8), null),
        new("unix_socket_group", "pgbouncer", s => s.UnixSocketGroup, null),
        new("so_reuseport", "pgbouncer", s => Flag(s.SoReusePort), null),
        new("stats_period", "pgbouncer", s => Seconds(s.StatsPeriod), null),
        new("stats_users", "pgbouncer", s => string.Join(",", s.StatsUsers.Order(StringComparer.Ordinal)),
            (running, read) => running with { StatsUsers = read.StatsUsers }),
        new("cluster.seed_nodes", "pgbouncer-actors", s => string.Join(",", s.Cluster.SeedNodes), null),
        new("cluster.hostname", "pgbouncer-actors", s => s.Cluster.Hostname, null),
        new("cluster.port", "pgbouncer-actors", s => Number(s.Cluster.Port), null),
        new("cluster.down_after", "pgbouncer-actors", s => Seconds(s.Cluster.DownAfter), null),
        new("link_watchdog", "pgbouncer-actors", s => Seconds(s.LinkWatchdog),
            (running, read) => running with { LinkWatchdog = read.LinkWatchdog }),
        new("log_format", "pgbouncer-actors", s => s.LogFormat.ToString().ToLowerInvariant(), null),
        new("log_level", "pgbouncer-actors", s => s.LogLevel,
            (running, read) => running with { LogLevel = read.LogLevel }),
        new("max_frame_length", "pgbouncer-actors", s => Number(s.MaxFrameLength), null),
        new("metrics.listen_addr", "pgbouncer-actors", s => s.Metrics.ListenAddress, null),
        new("metrics.port", "pgbouncer-actors", s => Number(s.Metrics.Port), null),
        new("scram_iterations", "pgbouncer-actors", s => Number(s.ScramIterations), null),
        new("shutdown_timeout", "pgbouncer-actors", s => Seconds(s.ShutdownTimeout),
            (running, read) => running with { ShutdownTimeout = read.ShutdownTimeout }),
    ];

    private static readonly Lazy<PoolerSettings> Defaults = new(() => SettingsLoader.LoadString(""));

    /// <summary>The running settings with every changeable setting, the databases and the users taken from <paramref name="read"/>.</summary>
    public static PoolerSettings TakeChangeable(PoolerSettings running, PoolerSettings read) =>
        Settings.Where(setting => setting.Changeable).Aggregate(running with { Databases = read.Databases, Users = read.Users },
            (settings, setting) => setting.Copy!(settings, read));

    /// <summary>What differs between two settings, as "key old -> new".</summary>
    public static IReadOnlyList<string> Changes(PoolerSettings before, PoolerSettings after) =>
        Settings.Where(setting => setting.Read(before) != setting.Read(after))
            .Select(setting => $"{setting.Key} {setting.Read(before)} -> {setting.Read(after)}").ToList();

    /// <summary>The settings of <paramref name="read"/> that differ from the running ones and cannot change at run time.</summary>
    public static IReadOnlyList<string> ChangedNeedingRestart(PoolerSettings running, PoolerSettings read) =>
        Settings.Where(setting => !setting.Changeable && setting.Read(running) != setting.Read(read)).Select(setting => setting.Key).ToList();

    /// <summary>
    /// SET: <paramref name="value"/> read as the file would read it (so the same checks and units
    /// apply), taken into the running settings.
    /// </summary>
    public static PoolerSettings Set(PoolerSettings running, Setting setting, string value)
    {
        var text = $"{setting.Section} {{ {setting.Key} = \"{value.Replace("\\", "\\\\").Replace("\"", "\\\"")}\" }}";
        return setting.Copy!(running, SettingsLoader.LoadSetting(text));
    }

    public static Setting? Find(string key) => Settings.FirstOrDefault(setting => setting.Key.Equals(key, StringComparison.OrdinalIgnoreCase));

    public static ResultTable Show(PoolerSettings settings)
    {
        var table = new ResultTable("key", "value", "default", "changeable");
        foreach (var setting in Settings.OrderBy(setting => setting.Key, StringComparer.Ordinal))
        {
            table.Row(setting.Key, setting.Read(settings), setting.Read(Defaults.Value), setting.Changeable ? "yes" : "no");
        }

        return table;
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Flag(bool value) => value ? "1" : "0";

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string AuthTypeName(AuthType type) => type == AuthType.ScramSha256 ? "scram-sha-256" : type.ToString().ToLowerInvariant();

    /// <summary>An sslmode as libpq and PgBouncer spell it (VerifyCa: verify-ca).</summary>
    private static string Hyphenated<T>(T mode) where T : struct, Enum =>
        string.Concat(mode.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <param name="Section">Where it lives in the HOCON file (SET reads its value as if the file said it there).</param>
    /// <param name="Copy">For a setting that changes at run time: the running settings with this one taken from newly read ones.</param>
    internal sealed record Setting(string Key, string Section, Func<PoolerSettings, string> Read, Func<PoolerSettings, PoolerSettings, PoolerSettings>? Copy)
    {
        public bool Changeable => Copy is not null;

        /// <summary>
        /// A SET of this setting whose TLS configuration does not load with the new value: whether it is
        /// taken anyway, the TLS in use staying (a note for the log), or refused (null, and for every other setting).
        /// </summary>
        public Func<PoolerSettings, TlsKeptNote?>? TlsKept { get; init; }
    }

    /// <summary>What the log says when a SET is taken and the TLS in use stays.</summary>
    internal sealed record TlsKeptNote(LogEventLevel Level, string Text);

    /// <summary>
    /// One half of a certificate and key pair: the other half comes with the next SET, and the TLS in
    /// use stays meanwhile. A file that is not there is still refused.
    /// </summary>
    private static Func<PoolerSettings, TlsKeptNote?> HalfOfPair(Func<PoolerSettings, string?> file) => settings =>
        file(settings) is { } path && File.Exists(path)
            ? new TlsKeptNote(LogEventLevel.Warning, "the TLS settings do not load together yet, the previous TLS configuration stays until they do")
            : null;
}
