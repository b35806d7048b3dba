using Akka.Actor;
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
    private readonly CancelRoute _cancelRoute = new();
    private (int ProcessId, int SecretKey)? _cancelKey;

    /// <summary>
    /// Session mode: the client gets the server's own BackendKeyData, so pg_backend_pid(),
    /// pg_terminate_backend and cancel behave as without a pooler; then the two loops run until
    /// one side leaves.
    /// </summary>
    private void StartProxying()
    {
        var connection = _connection!;
        CompleteLogin();
        _link = new ServerLinkState(_entry?.Counters) { Server = connection, RefuseSimpleQuery = Settings.DisablePqExec };
        _entry?.Link = _link;
        _cancelRoute.Attach(connection);
        var answer = new MessageBuilder().AuthenticationOk();
        foreach (var (name, value) in connection.Parameters)
        {
            answer.ParameterStatus(name, value);
        }

        var keys = _services.CancelKeys;
        if (keys.IssuesOwnKeys)
        {
            _cancelKey = keys.RegisterRandom(_cancelRoute);
        }
        else
        {
            _cancelKey = (connection.ProcessId, connection.SecretKey); // alone, the client sees its server's own key, as without a pooler
            keys.Register(connection.ProcessId, connection.SecretKey, _cancelRoute);
        }

        answer.BackendKeyData(_cancelKey.Value.ProcessId, _cancelKey.Value.SecretKey).ReadyForQuery();
        if (Settings.LogConnections)
        {
            _services.Log.Information("client login: db={Database} user={User} addr={Address} server_pid={Pid}",
                _database, _user, Address, connection.ProcessId);
        }

        Become(() =>
        {
            ReceiveCommon();
            Receive<PumpEnded>(OnPumpEnded);
            Receive<Terminated>(OnBackendTerminated);
        });

        var max = Settings.MaxFrameLength;
        var token = _lifetime.Token;
        var client = _client;
        var link = _link;
        _serverPump = SendThenForwardAsync(answer.WrittenMemory, connection, link, max, token);
        _clientPump = FrameForwarder.RunAsync(client.Input, connection.Socket.Output, new ClientToServerInspector(link, _startupSettings), max,
            link.ToServer, token);
        _serverPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: true, end, null), cause => new PumpEnded(true, null, cause));
        _clientPump.PipeTo(Self, Self, end => new PumpEnded(FromServer: false, end, null), cause => new PumpEnded(false, null, cause));
    }

    /// <summary>The login is over: no more login timeout; the client's timeouts start watching.</summary>
    private void CompleteLogin()
    {
        Timers.Cancel("login");
        _loggedIn = true;
        var watched = new[] { Settings.IdleTransactionTimeout, Settings.QueryTimeout, Settings.ClientIdleTimeout }
            .Where(timeout => timeout > TimeSpan.Zero).DefaultIfEmpty().Min();
        if (watched > TimeSpan.Zero)
        {
            Timers.StartPeriodicTimer("watch", ClientWatchTick.Instance, TimeSpan.FromMilliseconds(Math.Min(1000, watched.TotalMilliseconds / 2)));
        }
    }

    /// <summary>The pool closed the server connection this client is using (shutdown): the client is told why.</summary>
    private void OnBackendTerminated(Terminated terminated)
    {
        if (terminated.ActorRef.Equals(_backend) && _link?.Server is not null)
        {
            Finish("server connection closed by the pool", LostServer("the pool closed the server connection"));
        }
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
                case ForwardEnd.Stopped when _link?.ClientViolation is { } violation:
                    Finish($"protocol violation: {violation.Message}", violation, answerFirst: true);
                    return;
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
                var why = framing is FrameTooLargeException large ? OverLimit(large, "") : framing.Message;
                Finish($"protocol violation: {why}", PgError.FatalError(SqlStates.ProtocolViolation, why));
            }
            else
            {
                Finish($"client connection failed: {ended.Failure?.Message}", null);
            }

            return;
        }

        switch (ended.End)
        {
            case ForwardEnd.Released:
                OnLeaseReleased(clean: true);
                return;
            case ForwardEnd.ParkedConnectionLost:
                OnLeaseReleased(clean: false);
                return;
            case ForwardEnd.Stopped: // statement mode saw a transaction block open
                Finish("transaction block in statement mode", PgError.FatalError(SqlStates.ProtocolViolation,
                    "transaction blocks not allowed in statement pooling mode",
                    hint: "pool_mode is statement: run each statement on its own, without BEGIN"));
                return;
            case ForwardEnd.DestinationClosed:
                Finish("client closed the connection", null);
                return;
            case ForwardEnd.SourceClosed:
            case null when ended.Failure is not FramingException:
                // A server that said FATAL (pg_terminate_backend, shutdown) has already told the client why.
                Finish($"server connection lost: {_link?.ServerFatal?.ToString() ?? ended.Failure?.Message ?? "closed"}",
                    _link?.ServerFatal is null ? LostServer(ended.Failure?.Message ?? "the server closed the connection") : null);
                return;
            case null when ended.Failure is FrameTooLargeException large:
                var why = OverLimit(large, " from the server");
                Finish(why, LostServer(why));
                return;
            default:
                Finish($"server protocol error: {ended.Failure?.Message}", LostServer($"the server broke the protocol: {ended.Failure?.Message}"));
                return;
        }
    }

    /// <summary>A message over max_frame_length is the pooler's limit, not the peer's fault: say which setting refused it.</summary>
    private string OverLimit(FrameTooLargeException large, string from) =>
        $"a '{(char)large.Code}' message{from} declares {large.Length} bytes, more than max_frame_length ({Settings.MaxFrameLength}) lets through";

    private static PgError LostServer(string why) =>
        PgError.FatalError(SqlStates.ConnectionFailure, $"server connection lost: {why}");

    /// <summary>
    /// Stops the server loop at a frame boundary of the server stream, so that nothing else
    /// writes to the client; returns how it ended (Cancelled when we stopped it, Released when it
    /// had just given the connection back).
    /// </summary>
    private async Task<ForwardEnd?> StopServerLoopAsync(ServerLinkState? link, Task<ForwardEnd>? serverPump, bool clientStillListening)
    {
        if (serverPump is null || link is null)
        {
            return null;
        }

        if (!clientStillListening)
        {
            _client.Abort(); // a server loop blocked on writing to a gone client must not hold us up
        }

        // Under the gate the server loop cannot release the connection: either it is gone (Server
        // is null) or the loop will read it again and see the cancellation.
        link.Stop();

        if (await Task.WhenAny(serverPump, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false) != serverPump)
        {
            _client.Abort(); // the client stopped reading: its session is over either way
        }

        try
        {
            return await serverPump.ConfigureAwait(false);
        }
        catch (Exception)
        {
            return null; // a failed server loop means a dirty connection
        }
    }

    /// <summary>Whether the held server connection may serve another client, judged after both loops stopped.</summary>
    private bool ServerConnectionIsClean(ForwardEnd? serverEnd)
    {
        if (_connection is null || _connection.Socket.IsClosed)
        {
            return false;
        }

        if (_link is null || (_serverPump is null && _attachedIdle))
        {
            return _attachedIdle; // not forwarding yet: clean only if the attach finished at ReadyForQuery
        }

        return serverEnd is ForwardEnd.Cancelled or ForwardEnd.Released && _link.IsClean && !_link.Tracker.LostTrack;
    }

    /// <param name="reason">Why it cannot be reused, as a clause ("it died before use"); by default what the client left it in.</param>
    /// <param name="cancelFirst">Whether the server may still be working for the client: then a cancel goes to it before it is closed.</param>
    private void ReturnLease(bool clean, string? reason = null, bool? cancelFirst = null)
    {
        if (_backend is null || _pool is null)
        {
            return;
        }

        Context.Unwatch(_backend);
        var why = clean ? "" : reason ?? $"its client left it {_link?.DescribeState() ?? "before it was used"}";
        var busy = cancelFirst ?? (!clean && _link is { } link && (link.Tracker.Awaiting > 0 || link.Tracker.LostTrack || link.WriteBroken));
        _pool.Tell(new LeaseReturned(_backend, clean, why, busy), Self);
        _backend = null;
        _connection = null;
        _attachedIdle = false;
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
