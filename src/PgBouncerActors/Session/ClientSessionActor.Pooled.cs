using PgBouncerActors.Actors;
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

    /// <summary>
    /// The login borrowed a server connection to learn the server's parameters as they are for
    /// this client; it goes straight back, and the client gets a random key of its own.
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
        ReturnLease(clean: true);
        _link = new ServerLinkState();
        _services.Log.Information("client login: db={Database} user={User} addr={Address} pool_mode={Mode}", _database, _user, Address, _mode);

        Become(() =>
        {
            ReceiveCommon();
            Receive<PumpEnded>(OnPumpEnded);
            Receive<ServerWanted>(OnServerWanted);
            Receive<LeaseGranted>(OnLeaseGranted);
            Receive<LeaseFailed>(failed => Finish(failed.Error.Message, failed.Error));
            Receive<Attached>(OnAttached);
            Receive<Terminated>(OnBackendTerminated);
        });

        var self = Self;
        var link = _link;
        var max = Settings.MaxFrameLength;
        var token = _lifetime.Token;
        _clientPump = SendThenRunClientLoopAsync(welcome.WrittenMemory, link, max, self, token);
        _clientPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: false, end, null), cause => new PumpEnded(false, null, cause));
    }

    private async Task<ForwardEnd> SendThenRunClientLoopAsync(ReadOnlyMemory<byte> welcome, ServerLinkState link, long max, IActorRef self,
        CancellationToken token)
    {
        await _client.SendAsync(welcome, token).ConfigureAwait(false);
        return await PooledClientLoop.RunAsync(_client.Input, link, new ClientToServerInspector(link), max,
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

        _serverWanted = wanted.Ready;
        if (_backend is null)
        {
            _pool!.Tell(new LeaseRequest(), Self);
        }
    }

    /// <summary>The connection is attached and carries the client's settings: the server loop starts and the client loop may send.</summary>
    private void BeginLease()
    {
        var connection = _connection!;
        var link = _link!;
        link.Server = connection;
        _cancelRoute.Attach(connection);
        var inspector = new ServerToClientInspector(link, connection.Parameters, _mode, _settings);
        _serverPump = PooledServerLoop.RunAsync(connection, _client.Output, inspector, link, _cancelRoute, Settings.MaxFrameLength, _lifetime.Token);
        _serverPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: true, end, null), cause => new PumpEnded(true, null, cause));
        _serverWanted?.TrySetResult();
        _serverWanted = null;
    }

    /// <summary>The server loop gave the connection back at a clean ReadyForQuery; it goes to the pool (no reset query in these modes).</summary>
    private void OnLeaseReleased()
    {
        _serverPump = null;
        ReturnLease(clean: true);
        if (_serverWanted is not null)
        {
            _pool!.Tell(new LeaseRequest(), Self);
        }
    }

    /// <summary>Client loop to session: it has a request to send and needs a server connection; completed when it has one.</summary>
    private sealed record ServerWanted(TaskCompletionSource Ready);
}
