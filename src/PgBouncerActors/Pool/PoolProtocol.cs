using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>A (database, user) pool: the name clients used and the user the server sees.</summary>
internal sealed record PoolKey(string Database, string User)
{
    public override string ToString() => $"{Database}/{User}";
}

/// <summary>Everything a pool needs to open and manage its server connections.</summary>
internal sealed record PoolDefinition(PoolKey Key, ServerEndpoint Endpoint, ServerCredentials Credentials, int PoolSize, int MinPoolSize,
    Configuration.PoolMode Mode, int MaxDbConnections = 0, int MaxUserConnections = 0);

// Registry protocol

/// <summary>Session to registry: the pool for this definition, created on first use.</summary>
internal sealed record GetPool(PoolDefinition Definition);

/// <param name="Desk">Where the session's link checks the pool's connections out and in.</param>
internal sealed record PoolFound(IActorRef Pool, PoolKey Key, LendingDesk Desk);

/// <summary>Host to registry: close every pool's server connections (shutdown).</summary>
internal sealed record CloseAllPools
{
    public static readonly CloseAllPools Instance = new();
}

internal sealed record PoolsClosed
{
    public static readonly PoolsClosed Instance = new();
}

// Pool <-> backend protocol

/// <summary>A backend is logged in (or reset) and ready to lend.</summary>
internal sealed record BackendIdle(IActorRef Backend, ServerConnection Connection);

/// <summary>A backend could not log in; the pool stops it once it has counted the failure.</summary>
internal sealed record BackendConnectFailed(IActorRef Backend, PgError Error, string Closing = "login failed");

/// <summary>Pool to backend: run server_reset_query (a session-mode connection back from its client), then report idle again.</summary>
internal sealed record ResetBackend
{
    public static readonly ResetBackend Instance = new();
}

/// <summary>Pool to backend: close the server connection and stop (retired, dirty or shutting down).</summary>
/// <param name="CancelFirst">Send the server a CancelRequest for it first: it may be busy with a request nobody waits for any more.</param>
internal sealed record CloseBackend(string Reason, bool CancelFirst = false);

/// <summary>Published on the event stream when the pool opens or closes a server connection (for tests and stats).</summary>
internal sealed record ServerConnectionEvent(PoolKey Pool, string Backend, bool Opened, string Reason);

// Admin console <-> registry <-> pools

/// <summary>Console to registry: a snapshot of every pool (SHOW POOLS, SERVERS, DATABASES, LISTS); answered with <see cref="PoolsDescribed"/>.</summary>
internal sealed record DescribePools
{
    public static readonly DescribePools Instance = new();
}

/// <param name="PausedAll">A PAUSE of everything is in force (pools made later start paused too, so it holds with no pool yet).</param>
internal sealed record PoolsDescribed(IReadOnlyList<PoolSnapshot> Pools, bool PausedAll = false);

/// <summary>A pool's server connections as they are now, and how long its oldest waiter has waited.</summary>
internal sealed record PoolSnapshot(PoolKey Key, Configuration.PoolMode Mode, int PoolSize, int MinPoolSize, TimeSpan MaxWait,
    bool Paused, IReadOnlyList<ServerSnapshot> Servers, PoolHealth Health)
{
    public int Count(string state) => Servers.Count(server => server.State == state);
}

/// <summary>
/// How the pool's server logins go (the dashboard and /metrics): outage failures in a row (0: the
/// server answers), the last outage's error, how long until the next attempt, and every failed login so far.
/// </summary>
internal sealed record PoolHealth(int BackoffFailures, string? LastError, TimeSpan RetryIn, long LoginErrors);

/// <summary>One server connection for SHOW SERVERS; State is PgBouncer's word (active, idle, used, login).</summary>
/// <param name="Session">The session it is lent to, if any.</param>
internal sealed record ServerSnapshot(long Id, string State, ServerConnection? Connection, DateTime ConnectedAt, DateTime RequestAt,
    bool CloseNeeded, Akka.Actor.IActorRef? Session);

/// <summary>
/// Console to registry, for the pools of one database or of all (Database null): what PAUSE,
/// RESUME, RECONNECT, KILL and WAIT_CLOSE do to them. Answered with <see cref="PoolsCommanded"/>
/// once every pool concerned is done (PAUSE: none has a connection lent; WAIT_CLOSE: none has
/// one opened before the last RECONNECT).
/// </summary>
internal sealed record CommandPools(PoolCommand Command, string? Database);

/// <summary>SHUTDOWN WAIT_FOR_SERVERS, SIGINT: every client queued for a server connection is refused with <paramref name="Error"/> (and closed), as PgBouncer.</summary>
internal sealed record RefuseWaiters(Protocol.Messages.PgError Error);

internal enum PoolCommand
{
    Pause,
    Resume,
    Reconnect,
    Kill,
    WaitClose,

    /// <summary>Answered at once: asked right after new settings were sent, its answer says every pool has them (RELOAD, SET).</summary>
    Settle,
}

internal sealed record PoolsCommanded
{
    public static readonly PoolsCommanded Instance = new();
}

/// <summary>Registry to console: RESUME, but nothing it names was paused (PgBouncer's "not paused" error).</summary>
internal sealed record NothingPaused
{
    public static readonly NothingPaused Instance = new();
}

/// <summary>
/// Pool to a session-mode session, with server_fast_close: the server connection it holds must be
/// replaced (RECONNECT, a changed server); the session ends at its transaction's end instead of at logout.
/// </summary>
internal sealed record ServerCloseNeeded
{
    public static readonly ServerCloseNeeded Instance = new();
}

/// <summary>Host to registry, registry to pools: new settings are in force (RELOAD, SIGHUP, SET); pools take their new sizes.</summary>
internal sealed record SettingsChanged(Configuration.PoolerSettings Settings);

// Replication connections (PgBouncer 1.23+): one server connection per client, opened for it and closed when it leaves.

/// <summary>
/// What a replication connection is opened with: <paramref name="Mode"/> as the server reads the
/// replication parameter ("database": logical, "true": physical) and the client's own startup
/// parameters (options as written), which go in the startup packet instead of SETs.
/// </summary>
internal sealed record ReplicationStartup(string Mode, IReadOnlyList<KeyValuePair<string, string>> Parameters);

/// <summary>Session to pool: open a replication connection for the sender, within the pool's size (an idle connection is evicted for it).</summary>
internal sealed record OpenReplication(ReplicationStartup Startup);

/// <summary>Pool to session: its replication connection, lent to it (claim it with <see cref="ServerConnection.TryClaim"/>).</summary>
internal sealed record ReplicationReady(ServerConnection Connection);

/// <summary>Pool to session: no replication connection (the server refused the login, query_wait_timeout, the pool closes).</summary>
internal sealed record ReplicationRefused(PgError Error);
