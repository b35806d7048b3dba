using PgBouncerActors.Actors;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Session;

internal sealed partial class ClientSessionActor
{
    private IActorRef? _backend;
    private ServerConnection? _connection;
    private ServerLinkState? _link;
    private Task<ForwardEnd>? _clientPump;
    private Task<ForwardEnd>? _serverPump;
    private bool _attachedIdle;
    private (int ProcessId, int SecretKey)? _cancelKey;

    /// <summary>
    /// Session mode: the client gets the server's own BackendKeyData, so pg_backend_pid(),
    /// pg_terminate_backend and cancel behave as without a pooler; then the two loops run until
    /// one side leaves.
    /// </summary>
    private void StartProxying()
    {
        var connection = _connection!;
        Timers.Cancel("login");
        _loggedIn = true;
        _link = new ServerLinkState();
        var answer = new MessageBuilder().AuthenticationOk();
        foreach (var (name, value) in connection.Parameters)
        {
            answer.ParameterStatus(name, value);
        }

        answer.BackendKeyData(connection.ProcessId, connection.SecretKey).ReadyForQuery();
        _cancelKey = (connection.ProcessId, connection.SecretKey);
        _services.CancelKeys.Register(connection.ProcessId, connection.SecretKey,
            new CancelTarget(connection.Endpoint, connection.ProcessId, connection.SecretKey));
        _services.Log.Information("client login: db={Database} user={User} addr={Address} server_pid={Pid}",
            _database, _user, Address, connection.ProcessId);

        Become(() =>
        {
            ReceiveCommon();
            Receive<PumpEnded>(OnPumpEnded);
            Receive<Terminated>(terminated =>
            {
                if (terminated.ActorRef.Equals(_backend))
                {
                    Finish("server connection closed by the pool", LostServer("the pool closed the server connection"));
                }
            });
        });

        var max = Settings.MaxFrameLength;
        var token = _lifetime.Token;
        var client = _client;
        var link = _link;
        _serverPump = SendThenForwardAsync(answer.WrittenMemory, connection, link, max, token);
        _clientPump = FrameForwarder.RunAsync(client.Input, connection.Socket.Output, new ClientToServerInspector(link), max, link.ToServer, token);
        _serverPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: true, end, null), cause => new PumpEnded(true, null, cause));
        _clientPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: false, end, null), cause => new PumpEnded(false, null, cause));
    }

    /// <summary>The login answer goes out on the same writer the server loop then owns, so nothing interleaves with it.</summary>
    private async Task<ForwardEnd> SendThenForwardAsync(ReadOnlyMemory<byte> answer, ServerConnection connection, ServerLinkState link, long max, CancellationToken token)
    {
        await _client.SendAsync(answer, token).ConfigureAwait(false);
        return await FrameForwarder.RunAsync(connection.Socket.Input, _client.Output,
            new ServerToClientInspector(link, connection.Parameters), max, link.ToClient, token).ConfigureAwait(false);
    }

    private void OnPumpEnded(PumpEnded ended)
    {
        if (_finishing)
        {
            return;
        }

        if (!ended.FromServer)
        {
            switch (ended.End)
            {
                case ForwardEnd.Stopped:
                    Finish("client sent Terminate", null);
                    return;
                case ForwardEnd.SourceClosed:
                    Finish("client closed the connection", null);
                    return;
                case ForwardEnd.DestinationClosed:
                    Finish("server connection closed", LostServer("the server closed the connection"));
                    return;
            }

            if (ended.Failure is FramingException framing)
            {
                Finish($"protocol violation: {framing.Message}", PgError.FatalError(SqlStates.ProtocolViolation, framing.Message));
            }
            else
            {
                Finish($"client connection failed: {ended.Failure?.Message}", null);
            }

            return;
        }

        switch (ended.End)
        {
            case ForwardEnd.DestinationClosed:
                Finish("client closed the connection", null);
                return;
            case ForwardEnd.SourceClosed:
            case null when ended.Failure is not FramingException:
                // A server that said FATAL (pg_terminate_backend, shutdown) has already told the client why.
                Finish($"server connection lost: {_link?.ServerFatal?.ToString() ?? ended.Failure?.Message ?? "closed"}",
                    _link?.ServerFatal is null ? LostServer(ended.Failure?.Message ?? "the server closed the connection") : null);
                return;
            default:
                Finish($"server protocol error: {ended.Failure?.Message}", LostServer($"the server broke the protocol: {ended.Failure?.Message}"));
                return;
        }
    }

    private static PgError LostServer(string why) =>
        PgError.FatalError(SqlStates.ConnectionFailure, $"server connection lost: {why}");

    /// <summary>
    /// Stops the server loop at a frame boundary of the server stream, so that nothing else
    /// writes to the client; returns how it ended (Cancelled when we stopped it).
    /// </summary>
    private async Task<ForwardEnd?> StopServerLoopAsync(bool clientStillListening)
    {
        if (_serverPump is null || _connection is null)
        {
            return null;
        }

        if (!clientStillListening)
        {
            _client.Abort(); // a server loop blocked on writing to a gone client must not hold us up
        }

        _connection.Socket.Input.CancelPendingRead();
        if (await Task.WhenAny(_serverPump, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false) != _serverPump)
        {
            _client.Abort(); // the client stopped reading: its session is over either way
        }

        try
        {
            return await _serverPump.ConfigureAwait(false);
        }
        catch (Exception)
        {
            return null; // a failed server loop means a dirty connection
        }
    }

    /// <summary>Whether the server connection may serve another client, judged after both loops stopped.</summary>
    private bool ServerConnectionIsClean(ForwardEnd? serverEnd)
    {
        if (_connection is null || _connection.Socket.IsClosed)
        {
            return false;
        }

        return _link is null
            ? _attachedIdle // not proxying yet: clean only if the attach finished at ReadyForQuery
            : serverEnd is ForwardEnd.Cancelled && _link.IsClean;
    }

    private void ReturnLease(bool clean, string? reason = null)
    {
        if (_backend is null || _pool is null)
        {
            return;
        }

        Context.Unwatch(_backend);
        _pool.Tell(new LeaseReturned(_backend, clean, reason ?? _link?.DescribeState() ?? "before it was used"), Self);
        _backend = null;
        _connection = null;
        _attachedIdle = false;
        UnregisterCancelKey();
    }

    private void UnregisterCancelKey()
    {
        if (_cancelKey is { } key)
        {
            _services.CancelKeys.Unregister(key.ProcessId, key.SecretKey);
            _cancelKey = null;
        }
    }

    private sealed record PumpEnded(bool FromServer, ForwardEnd? End, Exception? Failure);
}
