using Akka.Actor;
using PgBouncerActors.Configuration;
using PgBouncerActors.Framing;
using PgBouncerActors.Hosting;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Session;

/// <summary>
/// One client connection: startup, authentication, the lease of a server connection and the
/// proxy loops, then a clean goodbye. The socket work runs in tasks outside the actor; the actor
/// sees their outcomes as messages and decides what happens next. Split by phase:
/// <c>.Startup</c>, <c>.Login</c> (authentication and lease), <c>.Proxying</c>, and this file
/// (state, shutdown and the end of the session).
/// </summary>
internal sealed partial class ClientSessionActor : ReceiveActor, IWithTimers
{
    /// <summary>Keyed timers that deliver to this actor; set by Akka once the instance is made (so used from PreStart on), cancelled when it stops.</summary>
    public ITimerScheduler Timers { get; set; } = null!;
    private readonly PoolerServices _services;
    private readonly PgSocket _client;
    private readonly IActorRef _pools;
    private readonly PgError? _refusal;
    private readonly CancellationTokenSource _lifetime = new();
    /// <summary>The Akka.Streams conversation of the startup and the authentication; ended once the client is authenticated.</summary>
    private FrameConversation? _frames;
    private readonly DateTime _connectedAt = DateTime.UtcNow;
    private string _database = "";
    private string _user = "";
    /// <summary>The settings the client asked for in its startup packet: its defaults, put back after RESET and DISCARD ALL.</summary>
    private IReadOnlyDictionary<string, string> _startupSettings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The client's settings: the server's defaults (as its connection reported them at login)
    /// with the startup settings over them, and in pooled modes then every tracked parameter's current value.
    /// </summary>
    private Dictionary<string, string> _settings = new(StringComparer.OrdinalIgnoreCase);
    private IActorRef? _pool;
    private PoolMode _mode = PoolMode.Session;
    private bool _finishing;
    private bool _loggedIn;
    private bool _logFailedLogin = true;
    private string _closeReason = "";

    /// <param name="refusal">When set, the client is answered with this error after its startup packet (max_client_conn).</param>
    public ClientSessionActor(PoolerServices services, PgSocket client, IActorRef pools, PgError? refusal)
    {
        _services = services;
        _client = client;
        _pools = pools;
        _refusal = refusal;
        ReceiveStartup();
    }

    public static Props Props(PoolerServices services, PgSocket client, IActorRef pools, PgError? refusal) =>
        ActorProps.Of(() => new ClientSessionActor(services, client, pools, refusal)).WithMailbox(SessionMailbox.ConfigPath);

    private PoolerSettings Settings => _services.Settings;

    private string Address => _client.RemoteAddress;

    protected override void PreStart()
    {
        Timers.StartSingleTimer("login", LoginTimedOut.Instance, Settings.ClientLoginTimeout);
        _frames = FrameConversation.Open(_client, _services.Streams);
        RunHandshakeAsync(_frames, _lifetime.Token).PipeTo(Self, Self, result => result, cause => new HandshakeResult.Refused(
                PgError.FatalError(SqlStates.ProtocolViolation, $"startup failed: {cause.Message}")));
    }

    /// <summary>The first packets; the conversation goes on into authentication only after a startup packet.</summary>
    private async Task<HandshakeResult> RunHandshakeAsync(FrameConversation frames, CancellationToken cancellationToken)
    {
        var client = _client;
        var streams = _services.Streams;
        var (result, current) = await ClientHandshake.RunAsync(client, frames, _services.ClientTls, () => FrameConversation.Open(client, streams),
            cancellationToken).ConfigureAwait(false);
        if (result is not HandshakeResult.Startup)
        {
            await current.DisposeAsync().ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>Messages every phase answers the same way.</summary>
    private void ReceiveCommon()
    {
        Receive<LoginTimedOut>(_ => Finish("client_login_timeout", PgError.FatalError(SqlStates.QueryCanceled,
            $"client_login_timeout: login not completed within {Settings.ClientLoginTimeout.TotalSeconds:0.#}s")));
        Receive<ShutdownSession>(_ => Finish("pooler shutdown", PgError.FatalError(SqlStates.AdminShutdown,
            "terminating connection because the pooler is shutting down")));
        Receive<SessionFinished>(OnFinished);
        Receive<KillSession>(kill => Finish(kill.Reason, kill.Error));
        Receive<ClientWatchTick>(_ => WatchClient());
        Receive<ServerCloseNeeded>(_ =>
        {
            _serverCloseNeeded = true;
            Timers.StartPeriodicTimer("fast-close", ClientWatchTick.Instance, FastCloseCheck);
        });
    }

    /// <summary>
    /// Ends the session once: stops the proxy loops, tells the client why when there is something
    /// to tell, gives a held server connection back (clean or not), then stops the actor.
    /// </summary>
    /// <param name="answerFirst">
    /// The client broke the protocol after valid requests: as PostgreSQL, which answers those
    /// before it reads the bad message, let the server finish answering them first (briefly).
    /// </param>
    private void Finish(string reason, PgError? tellClient, bool answerFirst = false)
    {
        if (_finishing)
        {
            return;
        }

        _finishing = true;
        _closeReason = reason;
        Timers.Cancel("login");
        Timers.Cancel("watch");
        _serverWanted?.TrySetCanceled();
        FinishAsync(tellClient, _link, _serverPump, answerFirst)
            .PipeTo(Self, Self, serverEnd => new SessionFinished(serverEnd), _ => new SessionFinished(null));
    }

    /// <returns>How the server loop ended (Cancelled when we stopped it), or null when none ran.</returns>
    private async Task<ForwardEnd?> FinishAsync(PgError? tellClient, ServerLinkState? link, Task<ForwardEnd>? serverPump, bool answerFirst)
    {
        var patience = Environment.TickCount64 + 1000;
        while (answerFirst && link is not null && serverPump is { IsCompleted: false } && link.Tracker.AnswerComing &&
               Environment.TickCount64 < patience)
        {
            await Task.Delay(5).ConfigureAwait(false);
        }

        var serverEnd = await StopServerLoopAsync(link, serverPump, tellClient is not null).ConfigureAwait(false);
        if (tellClient is not null && (link is null || link.ToClient.AtFrameBoundary))
        {
            // A client whose own loop has ended (it broke the protocol, or before login) may still be writing: linger for it.
            await _client.CloseWithAsync(tellClient.ToErrorResponse(), lingerForPeer: _clientPump is null or { IsCompleted: true })
                .ConfigureAwait(false);
        }
        else
        {
            _client.Abort();
        }

        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (_clientPump is not null)
        {
            await Quietly(_clientPump).ConfigureAwait(false);
        }

        return serverEnd;
    }

    private void OnFinished(SessionFinished finished)
    {
        // Judged only now that both loops stopped: the client loop may have forwarded one more request until it did.
        // A server that closed or said FATAL is gone: no cancel for it. One that may still be working gets one before the close.
        var serverGone = finished.ServerEnd == ForwardEnd.SourceClosed || _link?.ServerFatal is not null;
        ReturnLease(ServerConnectionIsClean(finished.ServerEnd), cancelFirst: serverGone ? false : null);
        _pool?.Tell(LeaseWithdrawn.Instance, Self); // in case it was still waiting; a no-op otherwise
        LeaveStatistics();

        if (_loggedIn && Settings.LogDisconnections)
        {
            _services.Log.Information("client logout: db={Database} user={User} addr={Address} duration={Duration:0.0}s reason={Reason}",
                _database, _user, Address, (DateTime.UtcNow - _connectedAt).TotalSeconds, _closeReason);
        }
        else if (!_loggedIn && _logFailedLogin && Settings.LogPoolerErrors)
        {
            _services.Log.Information("client login failed: db={Database} user={User} addr={Address} reason={Reason}",
                _database, _user, Address, _closeReason);
        }

        Context.Stop(Self);
    }

    /// <summary>
    /// The timeouts that watch a logged-in client: idle_transaction_timeout (holds a server
    /// connection inside a transaction and sends nothing), query_timeout (the server has owed it
    /// an answer too long) and client_idle_timeout (idle outside a transaction too long).
    /// </summary>
    private void WatchClient()
    {
        if (_link is not { } link)
        {
            return;
        }

        var now = Environment.TickCount64;
        if (_serverCloseNeeded && link.OutsideTransaction)
        {
            Finish("server_fast_close", PgError.FatalError(SqlStates.AdminShutdown,
                "server connection closed at the end of the transaction: RECONNECT or a reload asked for a new one (server_fast_close)"));
        }
        else if (Settings.IdleTransactionTimeout is var idleInTransaction && idleInTransaction > TimeSpan.Zero &&
            link.IdleInTransaction(now) > idleInTransaction)
        {
            Finish("idle_transaction_timeout", PgError.FatalError(SqlStates.IdleInTransactionSessionTimeout,
                $"idle_transaction_timeout: the client sent nothing for {idleInTransaction.TotalSeconds:0.#}s inside a transaction"));
        }
        else if (Settings.QueryTimeout is var query && query > TimeSpan.Zero && link.Busy() > query)
        {
            Finish("query_timeout", PgError.FatalError(SqlStates.QueryCanceled,
                $"query_timeout: the server did not finish answering within {query.TotalSeconds:0.#}s; the query was canceled and the connection closed"));
        }
        else if (Settings.ClientIdleTimeout is var idle && idle > TimeSpan.Zero && link.IdleOutsideTransaction(now) > idle)
        {
            Finish("client_idle_timeout", PgError.FatalError(SqlStates.IdleSessionTimeout,
                $"terminating connection due to client_idle_timeout: idle for more than {idle.TotalSeconds:0.#}s"));
        }
    }

    protected override void PostStop()
    {
        _client.Abort();
        _lifetime.Cancel();
        _lifetime.Dispose();
        _serverWanted?.TrySetCanceled();
        _link?.Stop(); // a server loop still waiting on a parked connection ends
        _ = _frames?.DisposeAsync().AsTask(); // a session that ended during its login: its graph ends too
        UnregisterCancelKey();
        LeaveStatistics();
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // the outcome was already reported by the pump's own completion message
        }
    }

    private sealed record LoginTimedOut
    {
        public static readonly LoginTimedOut Instance = new();
    }

    private sealed record SessionFinished(ForwardEnd? ServerEnd);

    /// <summary>How often a session told <see cref="ServerCloseNeeded"/> looks whether its transaction has ended.</summary>
    private static readonly TimeSpan FastCloseCheck = TimeSpan.FromMilliseconds(50);

    private bool _serverCloseNeeded;

    private sealed record ClientWatchTick
    {
        public static readonly ClientWatchTick Instance = new();
    }
}

/// <summary>The admin console to a session (KILL, KILL_CLIENT, a removed database): end now, telling the client why.</summary>
internal sealed record KillSession(string Reason, PgError Error);

/// <summary>Sessions actor to session: the pooler is stopping; end now with 57P01.</summary>
internal sealed record ShutdownSession
{
    public static readonly ShutdownSession Instance = new();
}
