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
/// One client connection: startup, authentication, the link to its pool's server connections and
/// the client loop, then a clean goodbye. The socket work runs in tasks outside the actor; the
/// actor sees their outcomes as messages and decides what happens next. Split by phase, each file
/// with the fields of its phase: <c>.Startup</c>, <c>.Login</c> (authentication and the pool),
/// <c>.Proxying</c> (the link), and this file (what every phase shares, and the end of the session).
/// </summary>
internal sealed partial class ClientSessionActor : UntypedActor
{
    /// <summary>
    /// Where the session stands: which messages it answers. A field and a switch, not Become: a
    /// ReceiveActor builds a handler table per instance and again at every Become, about 1.7 KB per
    /// idle client and four rebuilds per login; the switch is shared code.
    /// </summary>
    private enum Phase
    {
        Startup,
        Authenticating,
        JoiningPool,
        Proxying,
        Console,
        Finishing,
    }

    private Phase _phase = Phase.Startup;

    // The session's timers, on the system's scheduler: Akka's IWithTimers gives every actor a timer table
    // (about 230 bytes per idle client). A message of a timer cancelled too late is judged where it lands:
    // a login timeout after the login changes nothing, and a finishing session answers nothing else.
    private ICancelable? _loginTimer;
    private ICancelable? _startupRecheck;
    private ICancelable? _watchTimer;
    private ICancelable? _fastCloseTimer;
    private readonly PoolerServices _services;
    private readonly PgSocket _client;
    private readonly IActorRef _pools;
    private readonly DateTime _connectedAt = DateTime.UtcNow;

    /// <summary>Cancelled when the session ends: every task of its I/O stops with it.</summary>
    private readonly CancellationTokenSource _lifetime = new();

    // The end of the session.
    private bool _loggedIn;
    private bool _logFailedLogin = true;
    private string _closeReason = "";

    /// <summary>A session for a client its accept has counted in max_client_conn.</summary>
    public ClientSessionActor(PoolerServices services, PgSocket client, IActorRef pools)
    {
        _services = services;
        _client = client;
        _pools = pools;
    }

    public static Props Props(PoolerServices services, PgSocket client, IActorRef pools) => new SessionProps(services, client, pools);

    /// <summary>
    /// A session's props: what it is made from, and one deployment (its mailbox and dispatcher) shared by every
    /// session. Each session's cell keeps its props while the client stays; Akka's own way (a closure, a producer
    /// and a deployment of its own per client) kept about 260 bytes per idle client, this about 120.
    /// </summary>
    private sealed class SessionProps(PoolerServices services, PgSocket client, IActorRef pools)
        : Props(SessionDeploy, typeof(ClientSessionActor), [])
    {
        private static readonly Deploy SessionDeploy =
            Deploy.Local.WithMailbox(SessionMailbox.ConfigPath).WithDispatcher(SessionDispatcher.ConfigPath);

#pragma warning disable AK1000 // these are the session's props: the actor system calls NewActor from ActorOf
        public override ActorBase NewActor() => new ClientSessionActor(services, client, pools);
#pragma warning restore AK1000

        protected override Props Copy() => new SessionProps(services, client, pools) { Deploy = Deploy, SupervisorStrategy = SupervisorStrategy };
    }

    private PoolerSettings Settings => _services.Settings;

    private string Address => _client.RemoteAddress;

    protected override void PreStart()
    {
        _loginTimer = Scheduler.ScheduleTellOnceCancelable(Settings.ClientLoginTimeout, Self, LoginTimedOut.Instance, Self);
        _frames = FrameConversation.Open(_client, _services.Conversations);
        RunHandshakeAsync(_frames, _lifetime.Token).PipeTo(Self, Self, result => result, cause => new HandshakeResult.Refused(
                PgError.FatalError(SqlStates.ProtocolViolation, $"startup failed: {cause.Message}")));
    }

    /// <summary>The first packets; the conversation goes on into authentication only after a startup packet.</summary>
    private async Task<HandshakeResult> RunHandshakeAsync(FrameConversation frames, CancellationToken cancellationToken)
    {
        var client = _client;
        var graphs = _services.Conversations;
        var (result, current) = await ClientHandshake.RunAsync(client, frames, _services.ClientTls, () => FrameConversation.Open(client, graphs),
            cancellationToken).ConfigureAwait(false);
        if (result is not HandshakeResult.Startup)
        {
            await current.DisposeAsync().ConfigureAwait(false);
        }

        return result;
    }

    protected override void OnReceive(object message)
    {
        var handled = _phase switch
        {
            Phase.Startup => ReceiveStartup(message),
            Phase.Authenticating => ReceiveAuthentication(message),
            Phase.JoiningPool => ReceiveJoiningPool(message),
            Phase.Proxying => ReceiveProxying(message),
            Phase.Console => ReceiveConsole(message),
            _ => ReceiveFinishing(message),
        };
        if (!handled)
        {
            Unhandled(message);
        }
    }

    /// <summary>Messages every phase but the last answers the same way.</summary>
    private bool ReceiveCommon(object message)
    {
        switch (message)
        {
            case LoginTimedOut:
                if (_loggedIn)
                {
                    return true; // cancelled as the login ended, but already on its way
                }

                Finish("client_login_timeout", PgError.FatalError(SqlStates.QueryCanceled,
                    $"client_login_timeout: login not completed within {Settings.ClientLoginTimeout.TotalSeconds:0.#}s"));
                return true;
            case ShutdownSession:
                Finish("pooler shutdown", PgError.FatalError(SqlStates.AdminShutdown, "terminating connection because the pooler is shutting down"));
                return true;
            case KillSession kill:
                Finish(kill.Reason, kill.Error);
                return true;
            case ClientWatchTick:
                WatchClient();
                return true;
            case Pool.ReplicationReady late: // the session ends before its replication connection came: nobody else may have it
                if (late.Connection.TryClaim())
                {
                    late.Connection.Desk?.Retire(late.Connection, "replication client disconnected");
                }

                return true;
            case Pool.ReplicationRefused:
                return true; // the session ends already
            case ServerCloseNeeded:
                _serverCloseNeeded = true;
                _fastCloseTimer ??= Scheduler.ScheduleTellRepeatedlyCancelable(FastCloseCheck, FastCloseCheck, Self, ClientWatchTick.Instance, Self);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Finishing: anything else that still arrives changes nothing now.</summary>
    private bool ReceiveFinishing(object message)
    {
        if (message is not SessionFinished finished)
        {
            return false;
        }

        OnFinished(finished);
        return true;
    }

    /// <summary>
    /// Ends the session once: from here on it only waits for its I/O to stop (the link, the client
    /// loop, a reader at a message boundary), tells the client why when there is something to
    /// tell, gives a held server connection back (clean or not), then stops.
    /// </summary>
    /// <param name="answerFirst">The client broke the protocol after valid requests: the server finishes answering those first (briefly).</param>
    private void Finish(string reason, PgError? tellClient, bool answerFirst = false)
    {
        LeaveClientCounts(); // at once: the client's place is free for the next one while this one's I/O winds down
        _closeReason = reason;
        LogClosing(tellClient?.Message ?? reason);
        CancelTimers();
        _phase = Phase.Finishing;
        var pumps = new[] { _loginCheckout, _clientPump }.OfType<Task>().ToList();
        SessionEnding.StopIoAsync(_client, _link, pumps, tellClient, answerFirst, _lifetime)
            .PipeTo(Self, Self, ended => new SessionFinished(ended.ReaderHeld, ended.Untold),
                cause => new SessionFinished(ReaderHeld: false, $"its end failed: {cause.Message}"));
    }

    private void OnFinished(SessionFinished finished)
    {
        if (_link is { } link)
        {
            // Judged only now that the loops stopped: the client loop may have sent one more request until it did.
            SessionEnding.GiveBack(link, _mode == PoolMode.Session, finished.ReaderHeld, serverGone: _serverGone || link.ServerFatal is not null);
        }

        LeaveStatistics();
        if (finished.Untold is { } untold)
        {
            _services.Log.Warning("client cut off without its error: db={Database} user={User} addr={Address} reason={Reason}: {Untold}",
                _database, _user, Address, _closeReason, untold);
        }

        Context.Stop(Self);
    }

    /// <summary>
    /// The client's end in the log, written before the client is told (as PgBouncer writes it, so
    /// the line is there once the client sees its error). "closing because: ... (age=Ns)" is
    /// PgBouncer's wording, which operators' alerts and greps match; <paramref name="told"/> is what
    /// the client is told, or the reason when it is told nothing.
    /// </summary>
    private void LogClosing(string told)
    {
        if (_loggedIn && Settings.LogDisconnections)
        {
            _services.Log.Information("client logout: db={Database} user={User} addr={Address} closing because: {Told} (age={Age:0}s) reason={Reason}",
                _database, _user, Address, told, (DateTime.UtcNow - _connectedAt).TotalSeconds, _closeReason);
        }
        else if (!_loggedIn && _logFailedLogin && Settings.LogPoolerErrors)
        {
            _services.Log.Information("client login failed: db={Database} user={User} addr={Address} closing because: {Told} (age={Age:0}s) reason={Reason}",
                _database, _user, Address, told, (DateTime.UtcNow - _connectedAt).TotalSeconds, _closeReason);
        }
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
                "database configuration changed: the server connection was closed at the end of the transaction, as RECONNECT or a reload asked for a new one (server_fast_close)"));
        }
        else if (_timeouts.IdleTransaction is var idleInTransaction && idleInTransaction > TimeSpan.Zero &&
            link.IdleInTransaction(now) > idleInTransaction)
        {
            // Each message starts with PgBouncer's words, which operators' alerts match.
            Finish("idle_transaction_timeout", PgError.FatalError(SqlStates.IdleInTransactionSessionTimeout,
                $"idle transaction timeout: the client sent nothing for {idleInTransaction.TotalSeconds:0.#}s inside a transaction after the server's answer (idle_transaction_timeout)"));
        }
        else if (_timeouts.Transaction is var transaction && transaction > TimeSpan.Zero && link.InTransaction() > transaction)
        {
            Finish("transaction_timeout", PgError.FatalError(SqlStates.TransactionTimeout,
                $"transaction timeout: the transaction ran longer than {transaction.TotalSeconds:0.#}s (transaction_timeout); it was canceled and the connection closed"));
        }
        else if (_timeouts.Query is var query && query > TimeSpan.Zero && link.Busy() > query)
        {
            Finish("query_timeout", PgError.FatalError(SqlStates.QueryCanceled,
                $"query timeout: the server did not finish answering within {query.TotalSeconds:0.#}s (query_timeout); the query was canceled and the connection closed"));
        }
        else if (_timeouts.ClientIdle is var idle && idle > TimeSpan.Zero && link.IdleOutsideTransaction(now) > idle)
        {
            Finish("client_idle_timeout", PgError.FatalError(SqlStates.IdleSessionTimeout,
                $"terminating connection due to client_idle_timeout: idle for more than {idle.TotalSeconds:0.#}s"));
        }
    }

    private IScheduler Scheduler => Context.System.Scheduler;

    private void CancelTimers()
    {
        _loginTimer?.Cancel();
        _startupRecheck?.Cancel();
        _watchTimer?.Cancel();
        _fastCloseTimer?.Cancel();
        (_loginTimer, _startupRecheck, _watchTimer, _fastCloseTimer) = (null, null, null, null);
    }

    /// <summary>Whatever way the actor stops (a failure included), its I/O stops and a connection it still held goes back to be closed.</summary>
    protected override void PostStop()
    {
        CancelTimers();
        _client.Abort();
        _lifetime.Cancel();
        _lifetime.Dispose();
        if (_link is { } link)
        {
            link.Stop();
            SessionEnding.GiveBack(link, _mode == PoolMode.Session, readerHeld: false, serverGone: false); // nothing when OnFinished gave it back
        }

        _ = _frames?.DisposeAsync().AsTask(); // a session that ended during its login: its graph ends too
        UnregisterCancelKey();
        LeaveStatistics();
    }

    private sealed record LoginTimedOut
    {
        public static readonly LoginTimedOut Instance = new();
    }

    /// <param name="ReaderHeld">The server's reader stopped forwarding at a message boundary (false: it had to be cut off).</param>
    /// <param name="Untold">Why the client was cut off instead of told its error, or null.</param>
    private sealed record SessionFinished(bool ReaderHeld, string? Untold);

    /// <summary>How often a session told <see cref="Pool.ServerCloseNeeded"/> looks whether its transaction has ended.</summary>
    private static readonly TimeSpan FastCloseCheck = TimeSpan.FromMilliseconds(50);

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
