using Akka.Actor;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Backend;

/// <summary>
/// Owns one server connection's life: connects and logs in, starts its reader (which watches it
/// while idle and forwards for its lessees), runs server_reset_query when a session-mode client
/// gives it back, and closes it when it stops. Every socket operation runs as a task whose result
/// comes back as a message; the actor never blocks its turn on I/O.
/// </summary>
internal sealed class BackendConnectionActor : ReceiveActor
{
    private readonly PoolerServices _services;
    private readonly PoolDefinition _pool;
    private readonly ReplicationStartup? _replication;
    private readonly ServerEndpoint _endpoint; // the pool's, or the host of its host list this connection goes to
    private ServerConnection? _connection;
    private string _closeReason = "pool stopped";
    private bool _cancelBeforeClose;

    /// <param name="replication">A replication connection for one client (its pool closes it when the client leaves); null: a pooled one.</param>
    /// <param name="endpoint">Where it connects: one host of the pool's host list; null: the pool's endpoint.</param>
    public BackendConnectionActor(PoolerServices services, PoolDefinition pool, ReplicationStartup? replication = null, ServerEndpoint? endpoint = null)
    {
        _services = services;
        _pool = pool;
        _replication = replication;
        _endpoint = endpoint ?? pool.Endpoint;
        Receive<Connected>(OnConnected);
        // The pool stops it once it has counted the failure: stopping here, its Terminated (a system message)
        // could reach the pool first, and the failure would then count against a later wave of logins.
        Receive<ConnectFailed>(failed => Context.Parent.Tell(new BackendConnectFailed(Self, failed.Error, failed.Closing), Self));
        Receive<ResetBackend>(_ => Reset());
        Receive<ResetDone>(OnResetDone);
        Receive<ConnectionLost>(lost => Close($"lost: {lost.Reason}"));
        Receive<CloseBackend>(close =>
        {
            _cancelBeforeClose = close.CancelFirst;
            Close(close.Reason);
        });
    }

    public static Props Props(PoolerServices services, PoolDefinition pool, ReplicationStartup? replication = null, ServerEndpoint? endpoint = null) =>
        ActorProps.Of(() => new BackendConnectionActor(services, pool, replication, endpoint));

    protected override void PreStart()
    {
        var settings = _services.Settings;
        _services.Stats.ServerLoginAttempted();
        // As PgBouncer, a Unix socket never carries TLS (server_tls_sslmode is for TCP).
        ServerLogin.ConnectAsync(_endpoint, CurrentCredentials(), settings.MaxFrameLength, settings.ServerConnectTimeout, _services.Conversations,
                Net.PgSocket.IsUnixSocketDirectory(_endpoint.Host) ? null : _services.ServerTls,
                _replication is null ? settings.FindDatabase(_pool.Key.Database)?.ConnectQuery : null, // a walsender runs no SQL of the pooler's
                _replication)
            .PipeTo(Self, Self, connection => new Connected(connection), cause => cause is ServerLoginException login
                ? new ConnectFailed(login.Error, login.Closing)
                : new ConnectFailed(PgError.FatalError(SqlStates.UnableToConnect, cause.Message), "connect failed"));
    }

    /// <summary>Credentials as of now: a SCRAM client key may have been learned since the pool was defined.</summary>
    private ServerCredentials CurrentCredentials() =>
        _pool.Credentials is { ScramSecret: not null, ScramClientKey: null } credentials
            ? credentials with { ScramClientKey = _services.ScramKeys.ClientKeyOf(credentials.User) }
            : _pool.Credentials;

    private DateTime _openedAt;

    private void OnConnected(Connected connected)
    {
        var connection = _connection = connected.Connection;
        connection.Backend = Self;
        _openedAt = DateTime.UtcNow;
        // "host:port new connection to server (from ...)" and "closing because: ... (age=Ns)" are PgBouncer's words, which operators grep.
        _services.Log.Information("server connection opened: pool={Pool} pid={Pid} server={Server} new connection to server (from {Local}){Replication}",
            _pool.Key, connection.ProcessId, $"{_endpoint.Host}:{_endpoint.Port}", connection.Socket.LocalAddress,
            _replication is null ? "" : $" replication={_replication.Mode}");
        if (connection.ConnectQueryError is { } refused)
        {
            _services.Log.Warning("server connection pool={Pool} pid={Pid}: error while executing connect_query: {Error} (ignored, as PgBouncer)",
                _pool.Key, connection.ProcessId, refused.ToString());
        }

        Context.System.EventStream.Publish(new ServerConnectionEvent(_pool.Key, Self.Path.Name, Opened: true, "login ok"));
        var self = Self;
        _ = connection.StartReader(reason => self.Tell(new ConnectionLost(reason), self));
        Context.Parent.Tell(new BackendIdle(Self, connection), Self);
    }

    /// <summary>A session-mode connection back from its client: server_reset_query, then it is ready to lend again (as PgBouncer).</summary>
    private void Reset()
    {
        var connection = _connection!;
        var query = _services.Settings.ServerResetQuery;
        if (query.Length == 0)
        {
            Context.Parent.Tell(new BackendIdle(Self, connection), Self);
            return;
        }

        RunResetAsync(connection, query).PipeTo(Self, Self, error => new ResetDone(error?.ToString()), cause => new ResetDone(cause.Message));
    }

    private async Task<PgError?> RunResetAsync(ServerConnection connection, string query)
    {
        using var timeout = new CancellationTokenSource(_services.Settings.ServerConnectTimeout);
        return await connection.RunSilentlyAsync(query, timeout.Token).ConfigureAwait(false);
    }

    private void OnResetDone(ResetDone done)
    {
        if (done.Error is null)
        {
            _connection!.Applied.Clear(); // the reset query put every setting back to its default
            _connection.CarriedSettings = null;
            Context.Parent.Tell(new BackendIdle(Self, _connection), Self);
        }
        else
        {
            Close($"server_reset_query failed: {done.Error}");
        }
    }

    private void Close(string reason)
    {
        _closeReason = reason;
        Context.Stop(Self);
    }

    protected override void PostStop()
    {
        if (_connection is { } connection)
        {
            _ = connection.CloseAsync(_cancelBeforeClose);
            _services.Log.Information("server connection closed: pool={Pool} server={Server} pid={Pid} closing because: {Reason} (age={Age:0}s)",
                _pool.Key, _endpoint, connection.ProcessId, _closeReason, (DateTime.UtcNow - _openedAt).TotalSeconds);
            Context.System.EventStream.Publish(new ServerConnectionEvent(_pool.Key, Self.Path.Name, Opened: false, _closeReason));
        }
    }

    private sealed record Connected(ServerConnection Connection);

    private sealed record ConnectFailed(PgError Error, string Closing);

    private sealed record ResetDone(string? Error);

    private sealed record ConnectionLost(string Reason);
}
