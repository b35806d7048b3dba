using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Session;

/// <summary>
/// Transaction and statement modes: the client holds a server connection only from the first
/// message of a transaction (or statement) to the ReadyForQuery that ends it. Between leases its
/// parameters (client_encoding, TimeZone, application_name...) live here and are brought to the
/// next connection before the client's request goes out; its cancel key is its own, routed to
/// whichever connection it holds.
/// </summary>
internal sealed partial class ClientSessionActor
{
    private TaskCompletionSource? _serverWanted;
    private PoolDemand? _demand;
    private ParkTicket? _parkTicket;

    /// <summary>
    /// The login borrowed a server connection to learn the server's parameters as they are for
    /// this client; the client keeps it parked for its first transaction unless someone waits
    /// (then it goes straight back), and gets a random key of its own.
    /// </summary>
    private void StartPooledProxying()
    {
        var connection = _connection!;
        CompleteLogin();
        var welcome = new MessageBuilder().AuthenticationOk();
        foreach (var (name, value) in connection.Parameters)
        {
            welcome.ParameterStatus(name, value);
            if (TrackedParameters.IsTracked(name))
            {
                _settings[name] = value; // the values this client starts with, as the server spells them
            }
        }

        var key = _services.CancelKeys.RegisterRandom(_cancelRoute);
        _cancelKey = key;
        welcome.BackendKeyData(key.ProcessId, key.SecretKey).ReadyForQuery();
        _link = new ServerLinkState(_entry?.Counters) { RefuseSimpleQuery = Settings.DisablePqExec };
        _entry?.Link = _link;
        _parkTicket = new ParkTicket(Self);
        if (Settings.LogConnections)
        {
            _services.Log.Information("client login: db={Database} user={User} addr={Address} pool_mode={Mode}", _database, _user, Address, _mode);
        }

        Become(() =>
        {
            ReceiveCommon();
            Receive<PumpEnded>(OnPumpEnded);
            Receive<ServerWanted>(OnServerWanted);
            Receive<LeaseGranted>(OnLeaseGranted);
            Receive<LeaseFailed>(failed => Finish(failed.Error.Message, failed.Error));
            Receive<Attached>(OnAttached);
            Receive<Terminated>(OnBackendTerminated);
            Receive<ReleaseIfParked>(_ => OnReleaseIfParked());
        });

        var self = Self;
        var link = _link;
        var max = Settings.MaxFrameLength;
        var token = _lifetime.Token;
        // Parked before the client loop starts, so the client's first request finds it.
        CancellationToken? parkedWake;
        lock (link.Gate)
        {
            parkedWake = TryPark(_demand!, _parkTicket, link, connection);
        }

        if (parkedWake is not null)
        {
            StartServerLoop(connection, parkedWake);
        }
        else
        {
            ReturnLease(clean: true);
        }

        _clientPump = SendThenRunClientLoopAsync(welcome.WrittenMemory, link, max, self, token);
        _clientPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: false, end, null), cause => new PumpEnded(false, null, cause));
    }

    /// <summary>
    /// Parks the connection that just became free (see <see cref="PoolDemand"/>): listed first,
    /// then the waiters are counted, so the pool either is seen waiting or sees the listing.
    /// Runs under the link's gate on the server loop's thread: touches only what is shared, never the actor's fields.
    /// </summary>
    /// <returns>The token that wakes the parked connection's server loop, or null when someone waits and it goes back.</returns>
    private static CancellationToken? TryPark(PoolDemand demand, ParkTicket ticket, ServerLinkState link, ServerConnection connection)
    {
        demand.ListParked(ticket);
        return demand.Waiting > 0 ? null : link.Park(connection);
    }

    /// <summary>The pool has waiters: a parked connection goes back (its server loop ends with Released); one in use is released at its transaction's end.</summary>
    private void OnReleaseIfParked()
    {
        if (_link is { } link && !_finishing)
        {
            link.TakeBackParked();
        }
    }

    private async Task<ForwardEnd> SendThenRunClientLoopAsync(ReadOnlyMemory<byte> welcome, ServerLinkState link, long max, IActorRef self,
        CancellationToken token)
    {
        await _client.SendAsync(welcome, token).ConfigureAwait(false);
        var statements = Settings.MaxPreparedStatements > 0 ? new Prepared.StatementRewriter(Settings.MaxPreparedStatements) : null;
        return await PooledClientLoop.RunAsync(_client.Input, link, new ClientToServerInspector(link, _startupSettings, statements), max, _cancelRoute,
            cancellation =>
            {
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                self.Tell(new ServerWanted(ready), self);
                return ready.Task.WaitAsync(cancellation);
            },
            token).ConfigureAwait(false);
    }

    /// <summary>The client loop has a request and no server connection. The last lease may not be back with the pool yet: then ask once it is.</summary>
    private void OnServerWanted(ServerWanted wanted)
    {
        if (_finishing)
        {
            wanted.Ready.TrySetCanceled();
            return;
        }

        if (_link?.HasParked == true)
        {
            wanted.Ready.TrySetResult(); // parked meanwhile: the client loop takes it up
            return;
        }

        _serverWanted = wanted.Ready;
        if (_backend is null)
        {
            RequestLease();
        }
    }

    /// <summary>The connection is attached and carries the client's settings: the server loop starts and the client loop may send.</summary>
    private void BeginLease()
    {
        var connection = _connection!;
        _link!.Server = connection;
        _cancelRoute.Attach(connection);
        StartServerLoop(connection, parkedWake: null);
        _serverWanted?.TrySetResult();
        _serverWanted = null;
    }

    private void StartServerLoop(ServerConnection connection, CancellationToken? parkedWake)
    {
        var link = _link!;
        var demand = _demand!;
        var ticket = _parkTicket!;
        var inspector = new ServerToClientInspector(link, connection.Parameters, _mode, _settings);
        _serverPump = PooledServerLoop.RunAsync(connection, _client.Output, inspector, link, _cancelRoute,
            free => TryPark(demand, ticket, link, free), parkedWake, Settings.MaxFrameLength, _lifetime.Token);
        _serverPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: true, end, null), cause => new PumpEnded(true, null, cause));
    }

    /// <summary>
    /// The server loop gave the connection back at a clean ReadyForQuery (or the pool took back a
    /// parked one); it goes to the pool, no reset query in these modes. A parked connection that
    /// spoke or closed between transactions goes back to be closed.
    /// </summary>
    private void OnLeaseReleased(bool clean)
    {
        _serverPump = null;
        ReturnLease(clean, clean ? null : "it sent something or closed while kept between transactions", cancelFirst: false);
        if (_serverWanted is not null)
        {
            RequestLease();
        }
    }

    /// <summary>Client loop to session: it has a request to send and needs a server connection; completed when it has one.</summary>
    private sealed record ServerWanted(TaskCompletionSource Ready);
}
