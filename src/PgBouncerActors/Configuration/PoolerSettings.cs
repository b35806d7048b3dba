namespace PgBouncerActors.Configuration;

public enum PoolMode
{
    Session,
    Transaction,
    Statement,
}

/// <summary>client_tls_sslmode, PgBouncer's modes in rising strictness (verify-ca and verify-full require a client certificate).</summary>
public enum ClientTlsMode
{
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// <summary>server_tls_sslmode, libpq's modes, in rising strictness.</summary>
public enum ServerTlsMode
{
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

public enum AuthType
{
    Trust,
    Any,
    Plain,
    Md5,
    ScramSha256,

    /// <summary>A TLS client certificate whose common name is the user name.</summary>
    Cert,

    /// <summary>Each connection's method from auth_hba_file.</summary>
    Hba,
}

/// <summary>The validated configuration. Immutable: a reload builds a new one.</summary>
public sealed record PoolerSettings
{
    public required string ListenAddress { get; init; }
    public required int ListenPort { get; init; }
    public required AuthType AuthType { get; init; }
    public required string? AuthFile { get; init; }
    public required PoolMode PoolMode { get; init; }
    public required int DefaultPoolSize { get; init; }
    public required int MinPoolSize { get; init; }
    public required int MaxClientConnections { get; init; }
    public required string ServerResetQuery { get; init; }
    public required TimeSpan ServerConnectTimeout { get; init; }
    public required TimeSpan ServerIdleTimeout { get; init; }
    public required TimeSpan ServerLifetime { get; init; }
    public required TimeSpan ClientLoginTimeout { get; init; }
    public required TimeSpan QueryWaitTimeout { get; init; }

    /// <summary>A client queued for a server connection longer than this is told so with a NOTICE, once per wait (0: never).</summary>
    public TimeSpan QueryWaitNotify { get; init; } = TimeSpan.FromSeconds(5);
    public required TimeSpan IdleTransactionTimeout { get; init; }

    /// <summary>PgBouncer 1.25's transaction_timeout: how long a transaction (or a statement outside one) may run (zero: no limit).</summary>
    public TimeSpan TransactionTimeout { get; init; }

    /// <summary>How long the server may take to answer a client before the query is canceled and both connections closed (0: no limit).</summary>
    public required TimeSpan QueryTimeout { get; init; }

    /// <summary>How long a client may stay idle outside a transaction before it is disconnected (0: no limit).</summary>
    public required TimeSpan ClientIdleTimeout { get; init; }

    /// <summary>A server connection idle longer than this is checked with <see cref="ServerCheckQuery"/> before it is lent (0: always).</summary>
    public required TimeSpan ServerCheckDelay { get; init; }

    /// <summary>The do-nothing query that checks an idle server connection; empty: no checks.</summary>
    public required string ServerCheckQuery { get; init; }

    /// <summary>What the check sends: null when server_check_query is empty (no checks), an empty query for PgBouncer's <c>&lt;empty&gt;</c> (its default).</summary>
    public string? ServerCheckSql => ServerCheckQuery switch
    {
        "" => null,
        "<empty>" => "",
        var query => query,
    };

    /// <summary>Transaction and statement modes: the pooler's prepared statements per server connection (0: clients' named statements pass as they are).</summary>
    public int MaxPreparedStatements { get; init; } = 200;

    /// <summary>Users who may run every admin console command (the virtual database pgbouncer).</summary>
    public IReadOnlySet<string> AdminUsers { get; init; } = new HashSet<string>();

    /// <summary>Users who may run the admin console's SHOW commands.</summary>
    public IReadOnlySet<string> StatsUsers { get; init; } = new HashSet<string>();

    /// <summary>How often the averages of SHOW STATS are computed and the stats line is logged.</summary>
    public TimeSpan StatsPeriod { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The file the settings were read from, for RELOAD and SHOW CONFIG (null when they came from a string).</summary>
    public string? ConfigFile { get; init; }

    /// <summary>Server connections one database may have over all its pools (0: no limit).</summary>
    public required int MaxDbConnections { get; init; }

    /// <summary>Server connections one (server) user may have over all its pools (0: no limit).</summary>
    public int MaxUserConnections { get; init; }

    /// <summary>Clients logged in to one database at once (0: no limit).</summary>
    public int MaxDbClientConnections { get; init; }

    /// <summary>Clients logged in as one user at once (0: no limit).</summary>
    public int MaxUserClientConnections { get; init; }

    /// <summary>Connections a pool may open past its size for a client that waited <see cref="ReservePoolTimeout"/>.</summary>
    public int ReservePoolSize { get; init; }

    public TimeSpan ReservePoolTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Idle server connections are lent oldest first (FIFO) instead of warmest first.</summary>
    public bool ServerRoundRobin { get; init; }

    /// <summary>Session mode: a client whose connection must be replaced is ended at its transaction's end.</summary>
    public bool ServerFastClose { get; init; }

    public bool LogConnections { get; init; } = true;

    /// <summary>log_stats: the stats line every stats_period.</summary>
    public bool LogStats { get; init; } = true;

    public bool LogDisconnections { get; init; } = true;

    public bool LogPoolerErrors { get; init; } = true;

    /// <summary>The server sees "application_name - host:port".</summary>
    public bool ApplicationNameAddHost { get; init; }

    /// <summary>Query (simple protocol) messages are refused.</summary>
    public bool DisablePqExec { get; init; }

    /// <summary>PgBouncer's list; every reported parameter is kept per client anyway (see reference.conf), so it is shown, not used.</summary>
    public IReadOnlySet<string> TrackExtraParameters { get; init; } = new HashSet<string>();

    /// <summary>PgBouncer's -v count: 1 debug, 2 verbose.</summary>
    public int Verbose { get; init; }
    public required IReadOnlySet<string> IgnoreStartupParameters { get; init; }
    public required string? LogFile { get; init; }

    /// <summary>Where the process id is written while the pooler runs; null: nowhere.</summary>
    public string? PidFile { get; init; }

    /// <summary>The user to become when started as root; null: stay who started it.</summary>
    public string? RunAsUser { get; init; }
    public required IReadOnlyDictionary<string, DatabaseSettings> Databases { get; init; }
    public required IReadOnlyDictionary<string, UserSettings> Users { get; init; }
    public required UserList UserList { get; init; }
    public required string LogLevel { get; init; }

    /// <summary>log_format: text (PgBouncer's lines) or json (one object per line).</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;
    public required TimeSpan ShutdownTimeout { get; init; }

    /// <summary>How long a client may have a request without a server connection and without being queued before it is logged as a bug (0: never).</summary>
    public TimeSpan LinkWatchdog { get; init; } = TimeSpan.FromSeconds(5);
    public required long MaxFrameLength { get; init; }
    public required int ScramIterations { get; init; }
    /// <summary>PgBouncer's peer_id: this instance's number among several (1 to 16383), carried in the cancel keys it hands out; 0: alone.</summary>
    public int PeerId { get; init; }

    /// <summary>so_reuseport: several processes listen on one address and port, and the kernel spreads new connections over them.</summary>
    public bool SoReusePort { get; init; }

    /// <summary>Several instances as one pooler (Akka.Cluster); <see cref="ClusterSettings.None"/>: a single instance.</summary>
    public ClusterSettings Cluster { get; init; } = ClusterSettings.None;

    /// <summary>The file's resolved <c>akka</c> section as HOCON text, handed to the actor system.</summary>
    public required string Akka { get; init; }
    public required BackoffSettings ServerBackoff { get; init; }

    /// <summary>Folder of the Unix socket .s.PGSQL.port; empty: none.</summary>
    public string UnixSocketDirectory { get; init; } = "";

    /// <summary>Permission bits of the socket file.</summary>
    public int UnixSocketMode { get; init; } = Convert.ToInt32("777", 8);

    /// <summary>Group of the socket file; empty: the pooler's.</summary>
    public string UnixSocketGroup { get; init; } = "";

    public ClientTlsMode ClientTlsMode { get; init; }

    /// <summary>PEM certificate (chain) and key the pooler shows clients; required unless client_tls_sslmode is disable.</summary>
    public string? ClientTlsCertFile { get; init; }

    public string? ClientTlsKeyFile { get; init; }

    public ServerTlsMode ServerTlsMode { get; init; }

    /// <summary>PEM CA certificates that client certificates must chain to; set, TLS clients are asked for one.</summary>
    public string? ClientTlsCaFile { get; init; }

    /// <summary>client_tls_protocols as written (secure, all, legacy, or a list of tlsv1.2 and tlsv1.3).</summary>
    public string ClientTlsProtocols { get; init; } = "secure";

    /// <summary>client_tls_ciphers as written (default, or IANA cipher suite names).</summary>
    public string ClientTlsCiphers { get; init; } = "default";

    /// <summary>client_tls13_ciphers as written (default, or IANA TLS 1.3 cipher suite names).</summary>
    public string ClientTls13Ciphers { get; init; } = "default";

    /// <summary>PEM CA certificates that server certificates must chain to (verify-ca, verify-full); null: the system's roots.</summary>
    public string? ServerTlsCaFile { get; init; }

    /// <summary>A certificate and key shown to servers that ask for one; null: none.</summary>
    public string? ServerTlsCertFile { get; init; }

    public string? ServerTlsKeyFile { get; init; }

    public string ServerTlsProtocols { get; init; } = "secure";

    public string ServerTlsCiphers { get; init; } = "default";

    /// <summary>auth_hba_file's path, or null.</summary>
    public string? AuthHbaFile { get; init; }

    /// <summary>auth_hba_file as last read (auth_type = hba); empty when none.</summary>
    public HbaRules HbaRules { get; init; } = HbaRules.Empty;

    /// <summary>auth_ident_file's path, or null.</summary>
    public string? AuthIdentFile { get; init; }

    /// <summary>auth_ident_file as last read: the maps of the hba lines' map= options; empty when none.</summary>
    public IdentMap IdentMap { get; init; } = IdentMap.Empty;

    /// <summary>The user auth_query runs as; empty: no auth_query (unless a database entry sets its own).</summary>
    public string AuthUser { get; init; } = "";

    public string AuthQuery { get; init; } = "";

    /// <summary>The database entry auth_query runs in; empty: the one the client asked for.</summary>
    public string AuthDbName { get; init; } = "";

    /// <summary>How many auth_query answers are kept, and for how long (ttl 0: none).</summary>
    public AuthQueryCacheSettings AuthQueryCache { get; init; } = new(10000, TimeSpan.FromSeconds(30));

    /// <summary>What the file asked for that this pooler ignores (PgBouncer settings it lacks): logged once at startup.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Where /metrics and the dashboard listen (port 0: off).</summary>
    public MetricsSettings Metrics { get; init; } = new("127.0.0.1", 0);

    /// <summary>A pool's size: its database entry's, else its user's ([users]), else default_pool_size (PgBouncer's order).</summary>
    /// <summary>A pool's size: its server user's entry, then its database's, then default_pool_size (PgBouncer's order).</summary>
    public int PoolSizeFor(DatabaseSettings? database, string user) => Users.GetValueOrDefault(user)?.PoolSize ?? database?.PoolSize ?? DefaultPoolSize;

    /// <summary>A pool's reserve: its server user's entry, then its database's, then reserve_pool_size (PgBouncer's order).</summary>
    public int ReservePoolSizeFor(DatabaseSettings? database, string user) =>
        Users.GetValueOrDefault(user)?.ReservePoolSize ?? database?.ReservePoolSize ?? ReservePoolSize;

    /// <summary>A database's own server_lifetime, else the pgbouncer section's.</summary>
    public TimeSpan ServerLifetimeFor(DatabaseSettings? database) => database?.ServerLifetime ?? ServerLifetime;

    /// <summary>The entry for a database name, or the "*" fallback, or null (SQLSTATE 3D000).</summary>
    public DatabaseSettings? FindDatabase(string name) =>
        Databases.GetValueOrDefault(name) ?? (Databases.TryGetValue("*", out var fallback) ? fallback with { Name = name } : null);

    public PoolMode PoolModeFor(DatabaseSettings database, string user) =>
        Users.GetValueOrDefault(user)?.PoolMode ?? database.PoolMode ?? PoolMode;
}

/// <summary>PgBouncer's load_balance_hosts: which host of a database's host list a new server connection goes to.</summary>
public enum LoadBalanceHosts
{
    /// <summary>round-robin: each new connection the next host of the list.</summary>
    RoundRobin,

    /// <summary>disable: the same host until a connection to it fails, then the next.</summary>
    Disable,
}

/// <summary>One entry of the databases section.</summary>
public sealed record DatabaseSettings(string Name)
{
    /// <summary>A host, or PgBouncer's comma-separated host list (see <see cref="Hosts"/>, <see cref="LoadBalanceHosts"/>).</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 5432;

    /// <summary>The hosts of <see cref="Host"/>, in order: one, or several that new server connections are spread over.</summary>
    public IReadOnlyList<string> Hosts => SplitHosts(Host);

    /// <summary>PgBouncer's host list (host=a,b): its hosts in order, blanks around the commas dropped.</summary>
    public static string[] SplitHosts(string host) => host.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>How new server connections choose from a host list (PgBouncer's load_balance_hosts).</summary>
    public LoadBalanceHosts LoadBalanceHosts { get; init; } = LoadBalanceHosts.RoundRobin;

    /// <summary>The database name on the server; defaults to the name clients use.</summary>
    public string? DbName { get; init; }

    /// <summary>A fixed server user for every client of this database; null: the client's own user.</summary>
    public string? User { get; init; }
    public string? Password { get; init; }
    public int? PoolSize { get; init; }
    public int? MinPoolSize { get; init; }
    public PoolMode? PoolMode { get; init; }
    public int? MaxDbConnections { get; init; }
    public int? MaxDbClientConnections { get; init; }

    /// <summary>This database's own reserve_pool_size (PgBouncer's older name: reserve_pool).</summary>
    public int? ReservePoolSize { get; init; }

    /// <summary>This database's own server_lifetime.</summary>
    public TimeSpan? ServerLifetime { get; init; }

    /// <summary>This database's own auth_user, auth_query and auth_dbname (null: the pgbouncer section's).</summary>
    public string? AuthUser { get; init; }

    public string? AuthQuery { get; init; }

    public string? AuthDbName { get; init; }

    /// <summary>SQL every new server connection runs once, right after its login (PgBouncer's connect_query); its settings become the connection's defaults.</summary>
    public string? ConnectQuery { get; init; }

    public string ServerDatabase => DbName ?? Name;
}

/// <summary>How a pool retries a database that refuses it: min * 2^n, capped at max, plus up to random_factor of jitter.</summary>
public sealed record BackoffSettings(TimeSpan Min, TimeSpan Max, double RandomFactor);

/// <summary>The bound and lifetime of auth_query's cache.</summary>
public sealed record AuthQueryCacheSettings(int Size, TimeSpan Ttl);

/// <summary>The HTTP listener of /metrics and the dashboard; port 0 turns it off.</summary>
public sealed record MetricsSettings(string ListenAddress, int Port);

public sealed record UserSettings(string Name)
{
    public PoolMode? PoolMode { get; init; }
    public int? MaxUserConnections { get; init; }
    public int? MaxUserClientConnections { get; init; }

    /// <summary>The pool size of this user's pools (as their server user), over its database entry's.</summary>
    public int? PoolSize { get; init; }

    /// <summary>The reserve of this user's pools, over its database entry's.</summary>
    public int? ReservePoolSize { get; init; }

    public TimeSpan? QueryTimeout { get; init; }

    public TimeSpan? IdleTransactionTimeout { get; init; }

    public TimeSpan? TransactionTimeout { get; init; }

    public TimeSpan? ClientIdleTimeout { get; init; }
}

/// <summary>How log lines are written (pgbouncer-actors.log_format).</summary>
public enum LogFormat
{
    Text,
    Json,
}
