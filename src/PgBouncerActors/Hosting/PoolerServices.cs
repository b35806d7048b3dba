using Akka.Actor;
using Akka.Streams;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>What every actor of one pooler shares: the settings, the log, and the thread-safe caches.</summary>
internal sealed class PoolerServices(PoolerSettings settings, ILogger log, ActorSystem system)
{
    private volatile UserList _userList = settings.UserList;
    private volatile PoolerSettings _settings = settings;

    /// <summary>The settings in force: replaced whole by RELOAD, SIGHUP and SET, read afresh by every decision.</summary>
    public PoolerSettings Settings
    {
        get => _settings;
        set => _settings = value;
    }

    /// <summary>The auth_file as last read: at start-up, then again on every SIGHUP.</summary>
    public UserList UserList
    {
        get => _userList;
        set => _userList = value;
    }

    public ILogger Log { get; } = log;

    /// <summary>
    /// The monotonic clock pools reckon backoff with. It is the system's (a TestKit's virtual
    /// scheduler moves its <c>Now</c> but not its MonotonicClock, so a spec in virtual time sets this).
    /// </summary>
    public Func<TimeSpan> Monotonic { get; init; } = () => system.Scheduler.MonotonicClock;

    /// <summary>The Akka.Streams graphs of the framing conversations (startup, authentication, server login).</summary>
    public Framing.ConversationGraphs Conversations { get; } = new(system.Materializer(
        Akka.Streams.ActorMaterializerSettings.Create(system).WithDispatcher(SessionDispatcher.ConfigPath), namePrefix: "frames"));

    public ScramKeyStore ScramKeys { get; } = new();

    /// <summary>
    /// The pools the registry has made, for sessions to find without asking it (two actor messages
    /// per login). Only the registry writes it, when it makes a pool and when it closes them all;
    /// a pool not here yet is asked of the registry, which makes it.
    /// </summary>
    public System.Collections.Concurrent.ConcurrentDictionary<Pool.PoolKey, Pool.PoolFound> KnownPools { get; } = new();

    /// <summary>The receive buffers of this pooler's client connections, kept between requests.</summary>
    public Net.ReceiveBufferPool ClientReceiveBuffers { get; } = new(TimeSpan.FromSeconds(10));

    /// <summary>Which prepared statements the servers no longer run as prepared, for every pool (transaction and statement modes).</summary>
    public Prepared.StatementInvalidation StatementInvalidation { get; } = new();

    /// <summary>The startup settings clients logged in with, one copy of each set.</summary>
    public Session.SharedStartupSettings StartupSettings { get; } = new();

    /// <summary>max_prepared_statements as in force now (SET and RELOAD change it), one delegate for every client's statements.</summary>
    public Func<int> MaxPreparedStatements => _maxPreparedStatements ??= () => Settings.MaxPreparedStatements;

    private Func<int>? _maxPreparedStatements;

    /// <summary>/metrics's registry and histograms; null when the metrics port is 0 (nothing is observed then).</summary>
    public Metrics.PoolerMetrics? Metrics { get; } = settings.Metrics.Port == 0 ? null : new Metrics.PoolerMetrics(Admin.ShowTables.VersionText);

    public ScramVerifierCache ScramVerifiers { get; } = new(settings.ScramIterations);

    /// <summary>What auth_query answered lately, per auth pool and user.</summary>
    public AuthQueryCache AuthQueries { get; } = new();

    public CancelKeyRegistry CancelKeys { get; } = new(settings.PeerId);

    /// <summary>The cluster's peers actor (cancel forwarding, SHOW PEERS); null for a single instance (set by the host).</summary>
    public IActorRef? Peers { get; set; }

    /// <summary>The cluster's shared limits on this instance; null for a single instance (set by the host).</summary>
    public IActorRef? Budgets { get; set; }

    /// <summary>The way to the cluster's budget coordinator, wherever it runs (SHOW CLUSTER); null for a single instance.</summary>
    public IActorRef? BudgetCoordinator { get; set; }

    private volatile Net.ClientTls? _clientTls = Net.ClientTls.Load(settings);
    private volatile Net.ServerTls? _serverTls = Net.ServerTls.Load(settings);

    /// <summary>TLS towards clients; null when client_tls_sslmode is disable. Loaded again by every Apply (RELOAD, SET).</summary>
    public Net.ClientTls? ClientTls => _clientTls;

    /// <summary>TLS towards servers; null when server_tls_sslmode is disable.</summary>
    public Net.ServerTls? ServerTls => _serverTls;

    /// <summary>Logged-in clients per database and per user (max_db_client_connections, max_user_client_connections).</summary>
    public Session.ClientLimits ClientLimits { get; } = new();

    public PoolerStats Stats { get; } = new();

    /// <summary>Every pool's clients and traffic (SHOW CLIENTS, POOLS, STATS).</summary>
    public PgBouncerActors.Stats.StatisticsRegistry Statistics { get; } = new();

    /// <summary>The averages of the last stats_period, per database (SHOW STATS's avg_ columns); empty until the first period ends.</summary>
    public volatile PgBouncerActors.Stats.PeriodAverages LastPeriod = PgBouncerActors.Stats.PeriodAverages.None;

    /// <summary>Databases DISABLE closed to new clients (until ENABLE).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, bool> DisabledDatabases { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Puts new settings in force (RELOAD, SIGHUP, SET) and tells those that keep copies (the log
    /// level, the pools' sizes). The TLS certificates and keys are read again first, so a rotated
    /// certificate takes effect for new connections (open ones keep theirs); if one cannot be
    /// read, nothing changes.
    /// </summary>
    /// <exception cref="ConfigurationException">A TLS file could not be loaded; the running settings stay.</exception>
    public void Apply(PoolerSettings settings) => Apply(settings, keepTls: false);

    /// <summary>
    /// Settings in force while the TLS configuration stays as it was: SET changes a certificate and
    /// its key one at a time, and the pair in between (a new key beside the old certificate) loads
    /// as nothing. As in PgBouncer, the SET is taken, and the TLS settings apply once they load together.
    /// </summary>
    public void ApplyKeepingTls(PoolerSettings settings) => Apply(settings, keepTls: true);

    private void Apply(PoolerSettings settings, bool keepTls)
    {
        if (!keepTls)
        {
            var clientTls = Net.ClientTls.Load(settings);
            var serverTls = Net.ServerTls.Load(settings);
            _clientTls = clientTls;
            _serverTls = serverTls;
        }

        Settings = settings;
        AuthQueries.Clear(); // the query, the auth user or their database may have changed
        UserList = settings.UserList;
        SettingsApplied(settings);
    }

    /// <summary>Who hears of new settings (set by the host).</summary>
    public Action<PoolerSettings> SettingsApplied { get; set; } = _ => { };

    /// <summary>What SHUTDOWN on the admin console does, in its mode (set by the host).</summary>
    public Action<ShutdownMode> RequestShutdown { get; set; } = _ => { };

    private int _stopping = -1;

    /// <summary>How the pooler is stopping; null while it runs. New logins other than the console's are refused meanwhile, and RESUME.</summary>
    public ShutdownMode? Stopping => Volatile.Read(ref _stopping) is var mode and >= 0 ? (ShutdownMode)mode : null;

    /// <summary>Marks the stop begun; false when one had begun already (its mode stays).</summary>
    public bool BeginStopping(ShutdownMode mode) => Interlocked.CompareExchange(ref _stopping, (int)mode, -1) == -1;

    /// <summary>Why the pooler stopped itself; null while it runs, or when it was stopped from outside.</summary>
    public string? FatalError { get; private set; }

    /// <summary>The pooler cannot go on (it can listen no more): it stops as SIGTERM stops it, and the process exits with an error.</summary>
    public void StopWithError(string why)
    {
        FatalError ??= why;
        RequestShutdown(ShutdownMode.WaitForClients);
    }

    /// <summary>What RELOAD on the admin console does: the same as SIGHUP (set by the host); returns what it changed, throws when it could not.</summary>
    public Func<string> Reload { get; set; } = () => throw new Configuration.ConfigurationException("no configuration file to reload (the settings did not come from a file)");
}
