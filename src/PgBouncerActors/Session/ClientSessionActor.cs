using PgBouncerActors.Actors;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

/// <summary>
/// One client connection: startup, authentication, the lease of a server connection and the
/// proxy loops, then a clean goodbye. The socket work runs in tasks outside the actor; the actor
/// sees their outcomes as messages and decides what happens next. Split by phase:
/// <c>.Startup</c>, <c>.Login</c> (authentication and lease), <c>.Proxying</c>, and this file
/// (state, shutdown and the end of the session).
/// </summary>
internal sealed partial class ClientSessionActor : ReceiveActor
{
    private readonly PoolerServices _services;
    private readonly PgSocket _client;
    private readonly IActorRef _pools;
    private readonly PgError? _refusal;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly DateTime _connectedAt = DateTime.UtcNow;
    private string _database = "";
    private string _user = "";
    private List<KeyValuePair<string, string>> _settings = [];
    private IActorRef? _pool;
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
        Actors.Props.Create(() => new ClientSessionActor(services, client, pools, refusal));

    private PoolerSettings Settings => _services.Settings;

    private string Address => _client.RemoteAddress;

    protected override void PreStart()
    {
        Timers.StartSingleTimer("login", LoginTimedOut.Instance, Settings.ClientLoginTimeout);
        ClientHandshake.RunAsync(_client, _lifetime.Token)
            .PipeTo(Self, Self, result => result, cause => new HandshakeResult.Refused(
                PgError.FatalError(SqlStates.ProtocolViolation, $"startup failed: {cause.Message}")));
    }

    /// <summary>Messages every phase answers the same way.</summary>
    private void ReceiveCommon()
    {
        Receive<LoginTimedOut>(_ => Finish("client_login_timeout", PgError.FatalError(SqlStates.QueryCanceled,
            $"client_login_timeout: login not completed within {Settings.ClientLoginTimeout.TotalSeconds:0.#}s")));
        Receive<ShutdownSession>(_ => Finish("pooler shutdown", PgError.FatalError(SqlStates.AdminShutdown,
            "terminating connection because the pooler is shutting down")));
        Receive<SessionFinished>(OnFinished);
    }

    /// <summary>
    /// Ends the session once: stops the proxy loops, tells the client why when there is something
    /// to tell, gives a held server connection back (clean or not), then stops the actor.
    /// </summary>
    private void Finish(string reason, PgError? tellClient)
    {
        if (_finishing)
        {
            return;
        }

        _finishing = true;
        _closeReason = reason;
        Timers.Cancel("login");
        FinishAsync(tellClient).PipeTo(Self, Self, clean => new SessionFinished(clean), _ => new SessionFinished(false));
    }

    private async Task<bool> FinishAsync(PgError? tellClient)
    {
        var serverEnd = await StopServerLoopAsync(tellClient is not null).ConfigureAwait(false);
        if (tellClient is not null && (_link is null || _link.ToClient.AtFrameBoundary))
        {
            await _client.CloseWithAsync(tellClient.ToErrorResponse()).ConfigureAwait(false);
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

        // Judged only now: the client loop may have forwarded one more request until it stopped.
        return ServerConnectionIsClean(serverEnd);
    }

    private void OnFinished(SessionFinished finished)
    {
        ReturnLease(finished.Clean);
        _pool?.Tell(LeaseWithdrawn.Instance, Self); // in case it was still waiting; a no-op otherwise

        if (_loggedIn)
        {
            _services.Log.Information("client logout: db={Database} user={User} addr={Address} duration={Duration:0.0}s reason={Reason}",
                _database, _user, Address, (DateTime.UtcNow - _connectedAt).TotalSeconds, _closeReason);
        }
        else if (_logFailedLogin)
        {
            _services.Log.Information("client login failed: db={Database} user={User} addr={Address} reason={Reason}",
                _database, _user, Address, _closeReason);
        }

        Context.Stop(Self);
    }

    protected override void PostStop()
    {
        _client.Abort();
        _lifetime.Cancel();
        _lifetime.Dispose();
        UnregisterCancelKey();
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

    private sealed record SessionFinished(bool Clean);
}

/// <summary>Sessions actor to session: the pooler is stopping; end now with 57P01.</summary>
internal sealed record ShutdownSession
{
    public static readonly ShutdownSession Instance = new();
}
