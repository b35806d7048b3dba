using System.Globalization;
using PgBouncerActors.Hocon;

namespace PgBouncerActors.Configuration;

/// <summary>
/// Reads a deployment's HOCON file over the embedded reference.conf and validates it: an unknown
/// key, a wrong type or a missing file stops startup with one line naming file, line, key and
/// what was expected.
/// </summary>
public static class SettingsLoader
{
    private static readonly string[] Sections = ["pgbouncer", "databases", "users", "pgbouncer-actors", "akka"];
    private static readonly string[] DatabaseKeys = ["host", "port", "dbname", "user", "password", "pool_size", "min_pool_size", "pool_mode", "max_db_connections",
        "max_db_client_connections", "reserve_pool_size", "reserve_pool", "server_lifetime", "auth_user", "auth_query", "auth_dbname", "connect_query", "load_balance_hosts"];
    private static readonly string[] UserKeys = ["pool_mode", "max_user_connections", "max_user_client_connections", "pool_size", "reserve_pool_size", "query_timeout",
        "idle_transaction_timeout", "client_idle_timeout", "transaction_timeout"];

    public static PoolerSettings LoadFile(string path, Func<string, string?>? environment = null)
    {
        if (!File.Exists(path))
        {
            throw new ConfigurationException($"{path}: configuration file not found");
        }

        if (path.EndsWith(".ini", StringComparison.OrdinalIgnoreCase))
        {
            IReadOnlyList<string> warnings = [];
            return Load(() =>
            {
                (var config, warnings) = PgBouncerIni.Read(path, PooledSettingNames.Value);
                return config;
            }) with { ConfigFile = Path.GetFullPath(path), Warnings = warnings };
        }

        return Load(() => ConfigFactory.ParseFile(path, environment)) with { ConfigFile = Path.GetFullPath(path) };
    }

    /// <summary>The [pgbouncer] settings this pooler has (reference.conf's), which an ini may set; read once.</summary>
    private static readonly Lazy<IReadOnlySet<string>> PooledSettingNames =
        new(() => Reference().GetConfig("pgbouncer").Keys.ToHashSet(StringComparer.Ordinal));

    public static PoolerSettings LoadString(string text, string origin = "(string)", string? baseDirectory = null) =>
        Load(() => ConfigFactory.ParseString(text, origin, baseDirectory));

    /// <summary>
    /// One setting as SET gives it, read as the file would read it, without the checks that need
    /// the rest of a file (an auth_dbname is looked for among the databases at login then, as in PgBouncer).
    /// </summary>
    public static PoolerSettings LoadSetting(string text) => Load(() => ConfigFactory.ParseString(text, "SET"), checkReferences: false);

    public static Config Reference()
    {
        using var stream = typeof(SettingsLoader).Assembly.GetManifestResourceStream("reference.conf")
            ?? throw new InvalidOperationException("reference.conf is not embedded in the build");
        using var reader = new StreamReader(stream);
        return ConfigFactory.ParseString(reader.ReadToEnd(), "reference.conf");
    }

    private static PoolerSettings Load(Func<Config> parse, bool checkReferences = true)
    {
        try
        {
            var reference = Reference();
            var user = parse();
            var config = user.WithFallback(reference).Resolve();
            CheckKnownKeys(user.Resolve().Root, reference.Resolve().Root);
            return Map(config, checkReferences);
        }
        catch (HoconException e)
        {
            throw new ConfigurationException(e.Message, e);
        }
    }

    /// <summary>A key the reference does not know is a typo that would otherwise be silently ignored.</summary>
    private static void CheckKnownKeys(HoconObject user, HoconObject reference)
    {
        foreach (var (section, value) in user)
        {
            if (!Sections.Contains(section))
            {
                throw Unknown(value.Location, section, $"a section: {string.Join(", ", Sections)}");
            }

            if (value is not HoconObject fields)
            {
                throw new HoconException(value.Location, $"'{section}': expected an object");
            }

            switch (section)
            {
                case "databases":
                    CheckEntries(fields, section, DatabaseKeys);
                    break;
                case "users":
                    CheckEntries(fields, section, UserKeys);
                    break;
                case "akka":
                    break; // Akka's own settings: Akka knows them, and there are hundreds

                default:
                    CheckAgainst(fields, (HoconObject)reference[section], section);
                    break;
            }
        }
    }

    private static void CheckAgainst(HoconObject user, HoconObject reference, string path)
    {
        foreach (var (key, value) in user)
        {
            var keyPath = $"{path}.{key}";
            if (!reference.TryGetValue(key, out var known))
            {
                throw Unknown(value.Location, keyPath, $"one of: {string.Join(", ", reference.Keys)}");
            }

            if (known is HoconObject knownObject && value is HoconObject userObject)
            {
                CheckAgainst(userObject, knownObject, keyPath);
            }
        }
    }

    private static void CheckEntries(HoconObject entries, string section, string[] keys)
    {
        foreach (var (name, entry) in entries)
        {
            if (entry is not HoconObject fields)
            {
                throw new HoconException(entry.Location, $"'{section}.{name}': expected an object such as {{ {keys[0]} = ... }}");
            }

            foreach (var (key, value) in fields)
            {
                if (!keys.Contains(key))
                {
                    throw Unknown(value.Location, $"{section}.\"{name}\".{key}", $"one of: {string.Join(", ", keys)}");
                }
            }
        }
    }

    private static HoconException Unknown(SourceLocation location, string path, string expected) =>
        new(location, $"unknown setting '{path}', expected {expected}");

    private static PoolerSettings Map(Config config, bool checkReferences)
    {
        var bouncer = config.GetConfig("pgbouncer");
        var own = config.GetConfig("pgbouncer-actors");
        var authFile = bouncer.GetString("auth_file");
        var authFilePath = authFile.Length == 0 ? null : ResolveRelative(authFile, bouncer.GetValue("auth_file")!.Location);
        var settings = new PoolerSettings
        {
            ListenAddress = bouncer.GetString("listen_addr"),
            ListenPort = Ranged(bouncer, "pgbouncer", "listen_port", 0, 65535), // 0: any free port (tests)
            ClientTlsMode = ReadClientTlsMode(bouncer),
            ClientTlsCertFile = OptionalPath(bouncer, "client_tls_cert_file"),
            ClientTlsKeyFile = OptionalPath(bouncer, "client_tls_key_file"),
            ClientTlsCaFile = OptionalPath(bouncer, "client_tls_ca_file"),
            ClientTlsProtocols = bouncer.GetString("client_tls_protocols"),
            ClientTlsCiphers = bouncer.GetString("client_tls_ciphers"),
            ClientTls13Ciphers = bouncer.GetString("client_tls13_ciphers"),
            ServerTlsMode = Enum(bouncer, "pgbouncer.server_tls_sslmode", ParseServerTlsMode),
            ServerTlsCaFile = OptionalPath(bouncer, "server_tls_ca_file"),
            ServerTlsCertFile = OptionalPath(bouncer, "server_tls_cert_file"),
            ServerTlsKeyFile = OptionalPath(bouncer, "server_tls_key_file"),
            ServerTlsProtocols = bouncer.GetString("server_tls_protocols"),
            ServerTlsCiphers = bouncer.GetString("server_tls_ciphers"),
            AuthHbaFile = OptionalPath(bouncer, "auth_hba_file"),
            HbaRules = ReadHba(bouncer),
            AuthIdentFile = OptionalPath(bouncer, "auth_ident_file"),
            IdentMap = OptionalPath(bouncer, "auth_ident_file") is { } identFile ? IdentMap.Load(identFile) : IdentMap.Empty,
            AuthUser = bouncer.GetString("auth_user"),
            AuthQuery = bouncer.GetString("auth_query"),
            AuthDbName = bouncer.GetString("auth_dbname"),
            AuthQueryCache = new AuthQueryCacheSettings(NonNegative(own.GetConfig("auth_query_cache"), "pgbouncer-actors.auth_query_cache", "size"),
                Seconds(own.GetConfig("auth_query_cache"), "pgbouncer-actors.auth_query_cache", "ttl")),
            UnixSocketDirectory = bouncer.GetString("unix_socket_dir"),
            UnixSocketMode = ReadMode(bouncer, "unix_socket_mode"),
            UnixSocketGroup = bouncer.GetString("unix_socket_group"),
            AuthType = Enum(bouncer, "pgbouncer.auth_type", ParseAuthType),
            AuthFile = authFilePath,
            PoolMode = Enum(bouncer, "pgbouncer.pool_mode", ParsePoolMode),
            DefaultPoolSize = Positive(bouncer, "pgbouncer", "default_pool_size"),
            MinPoolSize = NonNegative(bouncer, "pgbouncer", "min_pool_size"),
            MaxClientConnections = Positive(bouncer, "pgbouncer", "max_client_conn"),
            ServerResetQuery = bouncer.GetString("server_reset_query"),
            ServerConnectTimeout = Seconds(bouncer, "pgbouncer", "server_connect_timeout"),
            ServerIdleTimeout = Seconds(bouncer, "pgbouncer", "server_idle_timeout"),
            ServerLifetime = Seconds(bouncer, "pgbouncer", "server_lifetime"),
            ClientLoginTimeout = Seconds(bouncer, "pgbouncer", "client_login_timeout"),
            QueryWaitTimeout = Seconds(bouncer, "pgbouncer", "query_wait_timeout"),
            QueryWaitNotify = Seconds(bouncer, "pgbouncer", "query_wait_notify"),
            IdleTransactionTimeout = Seconds(bouncer, "pgbouncer", "idle_transaction_timeout"),
            TransactionTimeout = Seconds(bouncer, "pgbouncer", "transaction_timeout"),
            QueryTimeout = Seconds(bouncer, "pgbouncer", "query_timeout"),
            ClientIdleTimeout = Seconds(bouncer, "pgbouncer", "client_idle_timeout"),
            ServerCheckDelay = Seconds(bouncer, "pgbouncer", "server_check_delay"),
            ServerCheckQuery = bouncer.GetString("server_check_query"),
            MaxDbConnections = NonNegative(bouncer, "pgbouncer", "max_db_connections"),
            MaxUserConnections = NonNegative(bouncer, "pgbouncer", "max_user_connections"),
            MaxDbClientConnections = NonNegative(bouncer, "pgbouncer", "max_db_client_connections"),
            MaxUserClientConnections = NonNegative(bouncer, "pgbouncer", "max_user_client_connections"),
            ReservePoolSize = NonNegative(bouncer, "pgbouncer", "reserve_pool_size"),
            ReservePoolTimeout = Seconds(bouncer, "pgbouncer", "reserve_pool_timeout"),
            ServerRoundRobin = Flag(bouncer, "server_round_robin"),
            ServerFastClose = Flag(bouncer, "server_fast_close"),
            LogConnections = Flag(bouncer, "log_connections"),
            LogStats = Flag(bouncer, "log_stats"),
            LogDisconnections = Flag(bouncer, "log_disconnections"),
            LogPoolerErrors = Flag(bouncer, "log_pooler_errors"),
            ApplicationNameAddHost = Flag(bouncer, "application_name_add_host"),
            DisablePqExec = Flag(bouncer, "disable_pqexec"),
            Verbose = NonNegative(bouncer, "pgbouncer", "verbose"),
            TrackExtraParameters = ReadStringSet(bouncer, "track_extra_parameters"),
            MaxPreparedStatements = NonNegative(bouncer, "pgbouncer", "max_prepared_statements"),
            AdminUsers = ReadUserNames(bouncer, "admin_users"),
            StatsUsers = ReadUserNames(bouncer, "stats_users"),
            StatsPeriod = Seconds(bouncer, "pgbouncer", "stats_period") is var period && period > TimeSpan.Zero ? period
                : throw new HoconException(bouncer.GetValue("stats_period")!.Location, "'pgbouncer.stats_period': expected a duration above zero"),
            IgnoreStartupParameters = ReadStringSet(bouncer, "ignore_startup_parameters"),
            LogFile = bouncer.GetString("logfile") is { Length: > 0 } logFile ? logFile : null,
            PidFile = bouncer.GetString("pidfile") is { Length: > 0 } pidFile ? pidFile : null,
            RunAsUser = bouncer.GetString("user") is { Length: > 0 } runAs ? runAs : null,
            Databases = ReadDatabases(config.GetConfig("databases")),
            Users = ReadUsers(config.GetConfig("users")),
            UserList = authFilePath is null ? UserList.Empty : UserList.Load(authFilePath),
            LogLevel = Enum(own, "pgbouncer-actors.log_level", ParseLogLevel),
            LogFormat = Enum(own, "pgbouncer-actors.log_format", text => text switch
            {
                "text" => LogFormat.Text,
                "json" => LogFormat.Json,
                _ => (LogFormat?)null,
            }),
            ShutdownTimeout = Seconds(own, "pgbouncer-actors", "shutdown_timeout"),
            LinkWatchdog = Seconds(own, "pgbouncer-actors", "link_watchdog"),
            MaxFrameLength = own.GetByteSize("max_frame_length"),
            ScramIterations = Positive(own, "pgbouncer-actors", "scram_iterations"),
            PeerId = Ranged(bouncer, "pgbouncer", "peer_id", 0, Auth.CancelKeyRegistry.MaxPeerId),
            SoReusePort = Flag(bouncer, "so_reuseport"),
            Cluster = ReadCluster(own.GetConfig("cluster")),
            Akka = AkkaSection.Render(config.GetObject("akka")),
            ServerBackoff = ReadBackoff(own, bouncer),
            Metrics = new MetricsSettings(own.GetString("metrics.listen_addr"), Ranged(own.GetConfig("metrics"), "pgbouncer-actors.metrics", "port", 0, 65535)),
        };
        if (checkReferences)
        {
            CheckAuthDatabases(settings);
        }

        CheckCluster(settings);
        return settings;
    }

    /// <summary>pgbouncer-actors.cluster; seed nodes are host:port, as the cluster's own endpoint is.</summary>
    private static ClusterSettings ReadCluster(Config cluster)
    {
        var seeds = cluster.GetStringList("seed_nodes");
        foreach (var seed in seeds)
        {
            var colon = seed.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(seed.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
            {
                throw new HoconException(cluster.GetValue("seed_nodes")!.Location,
                    $"'pgbouncer-actors.cluster.seed_nodes': expected host:port entries, got '{seed}'");
            }
        }

        return new ClusterSettings(seeds, cluster.GetString("hostname"), Ranged(cluster, "pgbouncer-actors.cluster", "port", 0, 65535),
            Seconds(cluster, "pgbouncer-actors.cluster", "down_after"));
    }

    /// <summary>An instance of a cluster needs a peer_id of its own: the cancel keys it hands out say where a cancel must go.</summary>
    private static void CheckCluster(PoolerSettings settings)
    {
        if (settings.Cluster.Enabled && settings.PeerId == 0)
        {
            throw new ConfigurationException("pgbouncer-actors.cluster.seed_nodes is set: pgbouncer.peer_id must be set too (1 to 16383, different on every instance), " +
                "so that a cancel request reaches the instance that holds its client");
        }

        if (settings.Cluster.Enabled && settings.Cluster.Port == 0)
        {
            throw new ConfigurationException("pgbouncer-actors.cluster.seed_nodes is set: pgbouncer-actors.cluster.port must be set too (the port the other instances reach this one on)");
        }
    }

    /// <summary>auth_dbname, the pgbouncer section's and each entry's, must name a database the pooler knows (or fall to "*").</summary>
    private static void CheckAuthDatabases(PoolerSettings settings)
    {
        if (settings.AuthDbName == "pgbouncer")
        {
            // PgBouncer's words: the console has no server to run auth_query on. (A database entry's is refused at its logins, as in PgBouncer.)
            throw new ConfigurationException("pgbouncer.auth_dbname: cannot use the reserved \"pgbouncer\" database as an auth_dbname");
        }

        var named = settings.Databases.Values.Where(entry => entry.AuthDbName is { Length: > 0 })
            .Select(entry => (Where: $"databases.\"{entry.Name}\".auth_dbname", Name: entry.AuthDbName!))
            .Prepend(("pgbouncer.auth_dbname", settings.AuthDbName));
        foreach (var (where, name) in named)
        {
            if (name.Length > 0 && settings.FindDatabase(name) is null)
            {
                throw new ConfigurationException($"{where} = {name}: no such database entry (and no \"*\" fallback) to run auth_query in");
            }
        }
    }

    private static Dictionary<string, DatabaseSettings> ReadDatabases(Config section)
    {
        var databases = new Dictionary<string, DatabaseSettings>(StringComparer.Ordinal);
        foreach (var name in section.Keys)
        {
            var entry = Entry(section, name);
            var path = $"databases.\"{name}\"";
            databases[name] = new DatabaseSettings(name)
            {
                Host = entry.GetString("host", "127.0.0.1"),
                Port = entry.HasPath("port") ? Positive(entry, path, "port", max: 65535) : 5432,
                DbName = entry.HasPath("dbname") ? entry.GetString("dbname") : null,
                User = entry.HasPath("user") ? entry.GetString("user") : null,
                Password = entry.HasPath("password") ? entry.GetString("password") : null,
                PoolSize = entry.HasPath("pool_size") ? Positive(entry, path, "pool_size") : null,
                MinPoolSize = entry.HasPath("min_pool_size") ? NonNegative(entry, path, "min_pool_size") : null,
                PoolMode = entry.HasPath("pool_mode") ? Enum(entry, $"{path}.pool_mode", ParsePoolMode) : null,
                MaxDbConnections = entry.HasPath("max_db_connections") ? NonNegative(entry, path, "max_db_connections") : null,
                MaxDbClientConnections = entry.HasPath("max_db_client_connections") ? NonNegative(entry, path, "max_db_client_connections") : null,
                ReservePoolSize = entry.HasPath("reserve_pool_size") ? NonNegative(entry, path, "reserve_pool_size")
                    : entry.HasPath("reserve_pool") ? NonNegative(entry, path, "reserve_pool") : null,
                // As PgBouncer, 0 here means the pgbouncer section's.
                ServerLifetime = entry.HasPath("server_lifetime") && Seconds(entry, path, "server_lifetime") is var lifetime && lifetime > TimeSpan.Zero ? lifetime : null,
                AuthUser = entry.HasPath("auth_user") ? entry.GetString("auth_user") : null,
                AuthQuery = entry.HasPath("auth_query") ? entry.GetString("auth_query") : null,
                AuthDbName = entry.HasPath("auth_dbname") ? entry.GetString("auth_dbname") : null,
                ConnectQuery = entry.HasPath("connect_query") && entry.GetString("connect_query") is { Length: > 0 } connectQuery ? connectQuery : null,
                LoadBalanceHosts = entry.HasPath("load_balance_hosts") ? Enum(entry, $"{path}.load_balance_hosts", ParseLoadBalanceHosts)
                    : LoadBalanceHosts.RoundRobin,
            };
        }

        return databases;
    }

    /// <summary>pgbouncer-actors.server_backoff's start and jitter, capped by server_login_retry (a cap below the start is the start: no busy retry).</summary>
    private static BackoffSettings ReadBackoff(Config own, Config bouncer)
    {
        const string section = "pgbouncer-actors.server_backoff";
        var backoff = own.GetConfig("server_backoff");
        var min = backoff.GetTimeSpan("min");
        var max = Seconds(bouncer, "pgbouncer", "server_login_retry");
        var factor = backoff.GetDouble("random_factor");
        if (min <= TimeSpan.Zero)
        {
            throw new HoconException(backoff.GetValue("min")!.Location, $"'{section}.min': expected more than 0, got {min.TotalMilliseconds}ms");
        }

        return factor is >= 0 and <= 1 ? new BackoffSettings(min, max < min ? min : max, factor)
            : throw new HoconException(backoff.GetValue("random_factor")!.Location, $"'{section}.random_factor': expected a number from 0 to 1, got {factor}");
    }

    private static Dictionary<string, UserSettings> ReadUsers(Config section)
    {
        var users = new Dictionary<string, UserSettings>(StringComparer.Ordinal);
        foreach (var name in section.Keys)
        {
            var entry = Entry(section, name);
            var path = $"users.\"{name}\"";
            users[name] = new UserSettings(name)
            {
                PoolMode = entry.HasPath("pool_mode") ? Enum(entry, $"{path}.pool_mode", ParsePoolMode) : null,
                MaxUserConnections = entry.HasPath("max_user_connections") ? NonNegative(entry, path, "max_user_connections") : null,
                MaxUserClientConnections = entry.HasPath("max_user_client_connections")
                    ? NonNegative(entry, path, "max_user_client_connections") : null,
                PoolSize = entry.HasPath("pool_size") ? NonNegative(entry, path, "pool_size") : null,
                ReservePoolSize = entry.HasPath("reserve_pool_size") ? NonNegative(entry, path, "reserve_pool_size") : null,
                QueryTimeout = entry.HasPath("query_timeout") ? Seconds(entry, path, "query_timeout") : null,
                IdleTransactionTimeout = entry.HasPath("idle_transaction_timeout") ? Seconds(entry, path, "idle_transaction_timeout") : null,
                ClientIdleTimeout = entry.HasPath("client_idle_timeout") ? Seconds(entry, path, "client_idle_timeout") : null,
                TransactionTimeout = entry.HasPath("transaction_timeout") ? Seconds(entry, path, "transaction_timeout") : null,
            };
        }

        return users;
    }

    /// <summary>One entry of a section as a configuration of its own; its values keep their file locations.</summary>
    private static Config Entry(Config section, string name) => section.GetConfig(HoconPath.Render([name]));

    /// <summary>A list of user names, or PgBouncer's comma-separated string; user names are case-sensitive, as in PostgreSQL.</summary>
    private static IReadOnlySet<string> ReadUserNames(Config config, string key) =>
        config.GetValue(key) is HoconScalar { Text: { } text }
            ? text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal)
            : config.GetStringList(key).ToHashSet(StringComparer.Ordinal);

    private static IReadOnlySet<string> ReadStringSet(Config config, string key) =>
        config.GetValue(key) is HoconScalar { Text: { } text }
            ? text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.OrdinalIgnoreCase)
            : config.GetStringList(key).ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>PgBouncer's plain number is seconds; anything else is a HOCON duration.</summary>
    private static TimeSpan Seconds(Config config, string section, string key)
    {
        var value = config.GetValue(key) as HoconScalar;
        if (value?.Text is { } text && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            return seconds >= 0
                ? TimeSpan.FromSeconds(seconds)
                : throw new HoconException(value.Location, $"'{section}.{key}': expected a duration of zero or more, got '{text}'");
        }

        var duration = config.GetTimeSpan(key);
        return duration >= TimeSpan.Zero ? duration : throw new HoconException(value!.Location, $"'{section}.{key}': expected a duration of zero or more");
    }

    private static ClientTlsMode ReadClientTlsMode(Config bouncer)
    {
        var text = bouncer.GetString("client_tls_sslmode").ToLowerInvariant();
        var location = bouncer.GetValue("client_tls_sslmode")!.Location;
        var mode = text switch
        {
            "disable" => ClientTlsMode.Disable,
            "allow" => ClientTlsMode.Allow,
            "prefer" => ClientTlsMode.Prefer,
            "require" => ClientTlsMode.Require,
            "verify-ca" => ClientTlsMode.VerifyCa,
            "verify-full" => ClientTlsMode.VerifyFull,
            _ => throw new HoconException(location, $"'pgbouncer.client_tls_sslmode': expected disable, allow, prefer, require, verify-ca or verify-full, got '{text}'"),
        };
        return mode; // the files it needs are checked as they load (Net.ClientTls), for SET and RELOAD too
    }

    /// <summary>auth_hba_file, read now (so a bad line stops startup or a reload); required by auth_type = hba.</summary>
    private static HbaRules ReadHba(Config bouncer)
    {
        var path = OptionalPath(bouncer, "auth_hba_file");
        if (path is null)
        {
            return bouncer.GetString("auth_type").Equals("hba", StringComparison.OrdinalIgnoreCase)
                ? throw new HoconException(bouncer.GetValue("auth_type")!.Location, "'pgbouncer.auth_type' is hba: auth_hba_file must be set")
                : HbaRules.Empty;
        }

        return HbaRules.Load(path);
    }

    /// <summary>A file path setting, relative to the configuration file; null when empty.</summary>
    private static string? OptionalPath(Config config, string key) =>
        config.GetString(key) is { Length: > 0 } path ? ResolveRelative(path, config.GetValue(key)!.Location) : null;

    /// <summary>A switch: PgBouncer's 1 and 0, or HOCON's true and false (on/off, yes/no too).</summary>
    private static bool Flag(Config config, string key)
    {
        var text = config.GetString(key).ToLowerInvariant();
        return text switch
        {
            "1" or "true" or "on" or "yes" => true,
            "0" or "false" or "off" or "no" => false,
            _ => throw new HoconException(config.GetValue(key)!.Location, $"'pgbouncer.{key}': expected 1 or 0 (true or false), got '{text}'"),
        };
    }

    /// <summary>Permission bits in octal, as chmod and pgbouncer.ini write them (0777, 0700).</summary>
    private static int ReadMode(Config config, string key)
    {
        var text = config.GetString(key);
        try
        {
            var mode = Convert.ToInt32(text, 8);
            return mode is >= 0 and <= 0x1FF ? mode : throw new FormatException();
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new HoconException(config.GetValue(key)!.Location, $"'pgbouncer.{key}': expected permission bits in octal such as 0777, got '{text}'");
        }
    }

    private static int Positive(Config config, string section, string key, int max = int.MaxValue) => Ranged(config, section, key, 1, max);

    private static int NonNegative(Config config, string section, string key) => Ranged(config, section, key, 0, int.MaxValue);

    private static int Ranged(Config config, string section, string key, int min, int max)
    {
        try
        {
            var number = config.GetInt(key);
            return number >= min && number <= max
                ? number
                : throw new HoconException(config.GetValue(key)!.Location, $"'{section}.{key}': expected an integer from {min} to {max}, got {number}");
        }
        catch (HoconException e) when (e is not HoconMissingException && !e.Reason.StartsWith($"'{section}.", StringComparison.Ordinal))
        {
            throw new HoconException(e.Location, $"'{section}.{key}': expected an integer from {min} to {max}, got '{config.GetValue(key)}'");
        }
    }

    private static T Enum<T>(Config config, string path, Func<string, T?> parse) where T : struct
    {
        var key = path[(path.LastIndexOf('.') + 1)..];
        var text = config.GetString(key);
        return parse(text.ToLowerInvariant()) ?? throw new HoconException(config.GetValue(key)!.Location,
            $"'{path}': expected {Expected<T>()}, got '{text}'");
    }

    private static string Expected<T>() => typeof(T) == typeof(PoolMode) ? "session, transaction or statement"
        : typeof(T) == typeof(ServerTlsMode) ? "disable, allow, prefer, require, verify-ca or verify-full"
        : typeof(T) == typeof(AuthType) ? "trust, any, plain, md5, scram-sha-256, cert or hba"
        : typeof(T) == typeof(LoadBalanceHosts) ? "round-robin or disable"
        : typeof(T) == typeof(LogFormat) ? "text or json"
        : "verbose, debug, information, warning, error or fatal";

    private static LoadBalanceHosts? ParseLoadBalanceHosts(string text) => text switch
    {
        "round-robin" => LoadBalanceHosts.RoundRobin,
        "disable" => LoadBalanceHosts.Disable,
        _ => null,
    };

    private static PoolMode? ParsePoolMode(string text) => text switch
    {
        "session" => PoolMode.Session,
        "transaction" => PoolMode.Transaction,
        "statement" => PoolMode.Statement,
        _ => null,
    };

    private static ServerTlsMode? ParseServerTlsMode(string text) => text switch
    {
        "disable" => ServerTlsMode.Disable,
        "allow" => ServerTlsMode.Allow,
        "prefer" => ServerTlsMode.Prefer,
        "require" => ServerTlsMode.Require,
        "verify-ca" => ServerTlsMode.VerifyCa,
        "verify-full" => ServerTlsMode.VerifyFull,
        _ => null,
    };

    private static AuthType? ParseAuthType(string text) => text switch
    {
        "trust" => AuthType.Trust,
        "any" => AuthType.Any,
        "plain" => AuthType.Plain,
        "md5" => AuthType.Md5,
        "scram-sha-256" => AuthType.ScramSha256,
        "cert" => AuthType.Cert,
        "hba" => AuthType.Hba,
        _ => null,
    };

    private static LogLevelName? ParseLogLevel(string text) => text switch
    {
        "verbose" or "debug" or "information" or "info" or "warning" or "error" or "fatal" => new LogLevelName(text == "info" ? "information" : text),
        _ => null,
    };

    /// <summary>
    /// A relative file path: against the folder of the file that names it. In a pgbouncer.ini, a
    /// path that names a file in the working directory is that file, as PgBouncer (which opens paths
    /// as given) reads it; the ini's folder otherwise, as before.
    /// </summary>
    private static string ResolveRelative(string path, SourceLocation location)
    {
        if (Path.IsPathRooted(path))
        {
            return path;
        }

        if (location.File.EndsWith(".ini", StringComparison.OrdinalIgnoreCase) && File.Exists(path))
        {
            return Path.GetFullPath(path);
        }

        var directory = File.Exists(location.File) ? Path.GetDirectoryName(Path.GetFullPath(location.File)) : null;
        return Path.GetFullPath(Path.Combine(directory ?? Directory.GetCurrentDirectory(), path));
    }

    private readonly record struct LogLevelName(string Name)
    {
        public static implicit operator string(LogLevelName level) => level.Name;
    }
}
