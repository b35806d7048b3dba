using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Session;

/// <summary>
/// A logged-in client: the client loop sends its requests over its link, and the server
/// connection's reader forwards the answers. In session mode the link holds the login's connection
/// for the whole session, and the client's BackendKeyData carries that server's process id, so
/// pg_backend_pid(), pg_terminate_backend and cancel behave as without a pooler; its secret is the
/// client's own, so that a key outlives neither its client nor its turn on the connection. In transaction and
/// statement modes the client holds a connection only from the first message of a transaction (or
/// statement) to the ReadyForQuery that ends it; its parameters (client_encoding, TimeZone,
/// application_name...) live in the link and are brought to the next connection before its request
/// goes out, and its cancel key is its own, routed to whichever connection it holds.
/// </summary>
internal sealed partial class ClientSessionActor
{
    // The link: what the client uses its server connections with, once logged in.
    private PoolMode _mode = PoolMode.Session;
    private ClientLink? _link;
    private Task? _clientPump;
    private (int ProcessId, int SecretKey)? _cancelKey;
    private bool _serverCloseNeeded;
    private bool _serverGone; // the server closed or broke the protocol: nothing left to cancel on it

    /// <summary>The client gets its welcome, and the loops run.</summary>
    /// <param name="connection">The login's connection, in line with the client; null: a pooled client welcomed without one.</param>
    /// <param name="parameters">The server's parameters the client is told: the connection's, or those its pool knows with the client's settings over them.</param>
    private void StartProxying(ServerConnection? connection, IReadOnlyDictionary<string, string> parameters)
    {
        var link = _link!;
        CompleteLogin();
        if (connection is null)
        {
            link.StartSettingsFrom(parameters); // what the login's connection would have been brought in line with
        }

        var welcome = new MessageBuilder().AuthenticationOk();
        foreach (var (name, value) in parameters)
        {
            welcome.ParameterStatus(name, value);
            if (_mode != PoolMode.Session && TrackedParameters.IsTracked(name))
            {
                link.ClientSettings[name] = value; // the values this client starts with, as the server spells them
            }
        }

        if (_mode != PoolMode.Session)
        {
            link.ClientSettingChanged(); // the connection, still held, carries exactly these
        }

        var keys = _services.CancelKeys;
        if (_mode != PoolMode.Session || keys.IssuesOwnKeys)
        {
            _cancelKey = keys.RegisterRandom(link.CancelRoute);
        }
        else
        {
            _cancelKey = keys.RegisterWithProcessId(connection!.ProcessId, link.CancelRoute); // its server's pid, a secret of its own
        }

        welcome.BackendKeyData(_cancelKey.Value.ProcessId, _cancelKey.Value.SecretKey).ReadyForQuery();
        if (Settings.LogConnections)
        {
            // tls=TLSv1.3/TLS_AES_256_GCM_SHA384 (or no): PgBouncer's words on its login line.
            _services.Log.Information(_mode == PoolMode.Session
                ? "client login: db={Database} user={User} addr={Address} tls={Tls} server_pid={Pid}"
                : "client login: db={Database} user={User} addr={Address} tls={Tls} pool_mode={Mode}", _database, _user, Address,
                _client.IsTls ? _client.TlsDescription : "no", _mode == PoolMode.Session ? connection!.ProcessId : _mode);
        }

        _phase = Phase.Proxying;

        var statements = _mode != PoolMode.Session && Settings.MaxPreparedStatements > 0
            ? new Prepared.StatementRewriter(_services.MaxPreparedStatements, _services.StatementInvalidation)
            : null;
        link.Statements = statements;
        var inspector = new ClientToServerInspector(link, _startupSettings, statements);
        _clientPump = ServeClientAsync(Self, link, loginHeld: connection is not null, welcome.WrittenMemory, inspector, Settings.MaxFrameLength,
            _lifetime.Token);
    }

    /// <summary>
    /// The welcome goes out before anything of the server's can: a pooled client's login connection
    /// goes back to the desk first, a session-mode one is linked (and its reader forwards) only once
    /// the welcome is out. Then the client loop runs until the client leaves, and its end is told to
    /// the session. One task for all of it, not three (welcome, loop, PipeTo): each waits as long as
    /// the client stays, about 150 bytes per idle client apiece.
    /// </summary>
    private async Task ServeClientAsync(IActorRef session, ClientLink link, bool loginHeld, ReadOnlyMemory<byte> welcome, IFrameInspector inspector,
        long maxFrameLength, CancellationToken cancellationToken)
    {
        PumpEnded ended;
        try
        {
            var end = ForwardEnd.Cancelled;
            if (!loginHeld || !link.Releases || link.FinishLoginAttach())
            {
                await _client.SendAsync(welcome, cancellationToken).ConfigureAwait(false);
                welcome = default; // the client's whole stay is spent below: its buffer need not stay with it
                if (!loginHeld || link.Releases || link.FinishLoginAttach())
                {
                    end = await ClientLoop.RunAsync(_client.Input, link, inspector, maxFrameLength, _client.Output, cancellationToken).ConfigureAwait(false);
                }
            }

            if (end is ForwardEnd.Stopped or ForwardEnd.SourceClosed)
            {
                LeaveClientCounts(); // on the client loop's thread: the places are free before the session hears of the goodbye
            }

            ended = new PumpEnded(FromServer: false, end, null);
        }
        catch (Exception e)
        {
            ended = new PumpEnded(FromServer: false, null, e);
        }

        // Usually on the socket thread that saw the client go: the session ends there too, without waking a pool thread.
        HandOffExecutor.RunHere(static end => end.Session.Tell(end.Ended, end.Session), (Session: session, Ended: ended));
    }

    /// <summary>The timeouts that watch this client: its user's ([users]) over the pgbouncer section's, as at its login.</summary>
    private ClientTimeouts _timeouts = new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    private sealed record ClientTimeouts(TimeSpan IdleTransaction, TimeSpan Query, TimeSpan ClientIdle, TimeSpan Transaction);

    /// <summary>The login is over: no more login timeout; the client's timeouts start watching.</summary>
    private void CompleteLogin()
    {
        _loginTimer?.Cancel();
        _loginTimer = null;
        _loggedIn = true;
        var user = Settings.Users.GetValueOrDefault(_user);
        _timeouts = new ClientTimeouts(user?.IdleTransactionTimeout ?? Settings.IdleTransactionTimeout, user?.QueryTimeout ?? Settings.QueryTimeout,
            user?.ClientIdleTimeout ?? Settings.ClientIdleTimeout, user?.TransactionTimeout ?? Settings.TransactionTimeout);
        var watched = new[] { _timeouts.IdleTransaction, _timeouts.Query, _timeouts.ClientIdle, _timeouts.Transaction }
            .Where(timeout => timeout > TimeSpan.Zero).DefaultIfEmpty().Min();
        if (watched > TimeSpan.Zero)
        {
            var every = TimeSpan.FromMilliseconds(Math.Min(1000, watched.TotalMilliseconds / 2));
            _watchTimer = Scheduler.ScheduleTellRepeatedlyCancelable(every, every, Self, ClientWatchTick.Instance, Self);
        }
    }

    private bool ReceiveProxying(object message)
    {
        if (message is not PumpEnded ended)
        {
            return ReceiveCommon(message);
        }

        OnPumpEnded(ended);
        return true;
    }

    private void OnPumpEnded(PumpEnded ended)
    {
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
                    Finish(_link?.Departure is { } how ? $"client left while its request was queued: {how}" : "client closed the connection", null);
                    return;
                case ForwardEnd.DestinationClosed:
                    _serverGone = true;
                    Finish("server connection closed", LostServer("the server closed the connection"));
                    return;
            }

            switch (ended.Failure)
            {
                case FramingException framing:
                    var why = framing is FrameTooLargeException large ? OverLimit(large, "") : framing.Message;
                    Finish($"protocol violation: {why}", PgError.FatalError(SqlStates.ProtocolViolation, why));
                    return;
                case Pool.LendingRefusedException refused: // query_wait_timeout, a removed database, the server down
                    Finish(refused.Error.Message, refused.Error);
                    return;
                case SettingRefusedException refused:
                    Finish($"server refused a setting: {refused.Error}", refused.Error.AsFatal());
                    return;
                default:
                    Finish($"client connection failed: {ended.Failure?.Message}", null);
                    return;
            }
        }

        switch (ended.End)
        {
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
                _serverGone = true;
                Finish($"server connection lost: {_link?.ServerFatal?.ToString() ?? ended.Failure?.Message ?? "closed"}",
                    _link?.ServerFatal is null
                        ? LostServer(ended.Failure?.Message ?? _link?.FatalAfterTransaction?.Message ?? "the server closed the connection")
                        : null);
                return;
            case null when ended.Failure is FrameTooLargeException large:
                var why = OverLimit(large, " from the server");
                _serverGone = true;
                Finish(why, LostServer(why));
                return;
            default:
                _serverGone = true;
                Finish($"server protocol error: {ended.Failure?.Message}", LostServer($"the server broke the protocol: {ended.Failure?.Message}"));
                return;
        }
    }

    /// <summary>A message over max_frame_length is the pooler's limit, not the peer's fault: say which setting refused it.</summary>
    private string OverLimit(FrameTooLargeException large, string from) =>
        $"a '{(char)large.Code}' message{from} declares {large.Length} bytes, more than max_frame_length ({Settings.MaxFrameLength}) lets through";

    private static PgError LostServer(string why) =>
        PgError.FatalError(SqlStates.ConnectionFailure, $"server connection lost: {why}");

    private void UnregisterCancelKey()
    {
        if (_cancelKey is { } key)
        {
            _services.CancelKeys.Unregister(key.ProcessId, key.SecretKey);
            _cancelKey = null;
        }
    }

    /// <summary>How one direction ended: the client loop (FromServer false), or the server side as the connection's reader reported it.</summary>
    private sealed record PumpEnded(bool FromServer, ForwardEnd? End, Exception? Failure);
}
