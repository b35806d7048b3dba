using System.Diagnostics;
using System.IO.Pipelines;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>What a link needs of its session and pool, given once when the client is logged in to a pool.</summary>
/// <param name="Desk">The pool's desk: where the link checks connections out and in.</param>
/// <param name="ClientOutput">Where the server's answers go (the client socket's writer).</param>
/// <param name="Releases">Transaction and statement modes: the connection goes back at the clean end of each transaction.</param>
/// <param name="StartupSettings">The client's startup settings: with the server's defaults, what the client starts from.</param>
/// <param name="TellServerSideEnded">Tells <paramref name="Session"/> that the server side ended: the server closed or broke the protocol, the client stopped reading, statement mode refused a transaction block (one delegate for every session: a closure per client cost an idle one 88 bytes).</param>
/// <param name="Entry">The client as SHOW CLIENTS lists it (its waits are counted there); null for a link nobody lists.</param>
/// <param name="Session">The session actor (SHOW SERVERS names it; server_fast_close tells it).</param>
/// <param name="Lifetime">Cancelled when the session stops.</param>
/// <param name="Client">The client's socket, looked at when a request of the client has waited its turn a while (has the client left?); null for a link with no socket of its own.</param>
internal sealed record LinkLending(LendingDesk Desk, PoolerServices Services, PipeWriter ClientOutput, Configuration.PoolMode Mode, bool Releases,
    IReadOnlyDictionary<string, string> StartupSettings, Action<Akka.Actor.IActorRef?, ForwardEnd?, Exception?> TellServerSideEnded,
    Stats.ClientEntry? Entry, Akka.Actor.IActorRef? Session, CancellationToken Lifetime, Net.PgSocket? Client = null)
{
    public void ServerSideEnded(ForwardEnd? end, Exception? failure) => TellServerSideEnded(Session, end, failure);
}

/// <summary>The client cancelled its request while it waited for a server connection: the pooler answers it 57014 itself.</summary>
internal sealed class WaitCanceledByClientException() : Exception("canceling statement due to user request");

/// <summary>The client left (closed its connection, or said Terminate) while its request waited for a server connection.</summary>
internal sealed class ClientLeftWhileQueuedException() : Exception("the client left while its request was queued");

internal sealed partial class ClientLink
{
    /// <summary>The monitor of this object, which no other code locks: a Lock of its own would cost every client 40 bytes.</summary>
    private object Gate => this;
    private LinkLending? _lending;
    private DeskWaiter? _waiter;
    private bool _queuedForRequest;
    private ServerToClientInspector? _fromServer;
    private ServerConnection? _lastServer;
    private long _wantsServerSince; // Stopwatch timestamp: the client loop has a request and no connection; 0 otherwise
    private TaskCompletionSource? _readerHeld;
    private bool _readerHolding; // the reader stopped forwarding for this link (it holds, or it ended)
    private volatile string? _serverEndReason;
    private string? _settingsSignature; // made again after a tracked setting of the client changed

    /// <summary>The client's settings: the server's defaults with the startup settings over them, then every tracked parameter's current value.</summary>
    public Dictionary<string, string> ClientSettings { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The desk of the pool the link is bound to (null before the login found the pool).</summary>
    public LendingDesk? Desk => _lending?.Desk;

    /// <summary>Transaction and statement modes: the connection goes back at the clean end of each transaction.</summary>
    public bool Releases => _lending?.Releases == true;

    /// <summary>The session actor that owns the link (null for a link made outside a session).</summary>
    public Akka.Actor.IActorRef? Session => _lending?.Session;

    /// <summary>Why the server side ended (for the reader's own record), once it did.</summary>
    public string? ServerEndReason => _serverEndReason;

    /// <summary>Binds the link to its pool, once, when the client has logged in to it.</summary>
    public void Lend(LinkLending lending)
    {
        _lending = lending;
        _waiter = new DeskWaiter(this);
        _fromServer = new ServerToClientInspector(this, serverParameters: null, lending.Mode, lending.Mode == Configuration.PoolMode.Session ? null : ClientSettings);
        CancelRoute.Queued = this;
    }

    bool IQueuedRequest.Withdraw() => _lending is { } lending && lending.Desk.Withdraw(_waiter!, new WaitCanceledByClientException());

    /// <summary>
    /// When the client's request that has no server connection began (a Stopwatch timestamp),
    /// provided that at this moment it is neither queued for one nor waiting on the server's answer
    /// to bringing one in line (bounded by server_connect_timeout); zero otherwise. A request is
    /// unaccounted for only a moment between those steps unless the pooler has a bug: the watchdog
    /// reports one it finds unaccounted for, look after look, for longer than link_watchdog.
    /// </summary>
    public long UnaccountedRequestSince()
    {
        if (Volatile.Read(ref _wantsServerSince) is not (var since and not 0))
        {
            return 0;
        }

        var accounted = State switch
        {
            // Told: woken to tell the client it is queued (query_wait_notify). The wake goes through the thread pool and
            // an answer decided meanwhile is kept for ContinueWaiting, so a busy pool, not a lost wakeup, is what delays it.
            LinkState.Waiting => _waiter is { State: WaiterState.Queued } or { Told: true },
            LinkState.Attaching => Server?.Query.Active == true,
            _ => false,
        };
        return accounted ? 0 : since;
    }

    /// <summary>The client loop began wanting a server connection at <paramref name="timestamp"/> (a Stopwatch timestamp; the watchdog's spec sets it to stand for a loop that got nowhere).</summary>
    internal void WantsServerSince(long timestamp) => Volatile.Write(ref _wantsServerSince, timestamp);

    // --- getting a connection ------------------------------------------------------------------------

    /// <summary>
    /// A request waits in the client's pipe and the link holds no connection: checks one out of the
    /// desk (waiting its turn when none is idle), brings it in line with the client (server_check_query
    /// after server_check_delay idle, the client's settings) and links it; a connection that fails its
    /// check is closed and the next is taken, keeping the client's turn.
    /// </summary>
    /// <param name="forLogin">The login's own connection: left attached, for the session to link or give back once the client has its answer.</param>
    /// <exception cref="LendingRefusedException">No connection can be had (query_wait_timeout, a removed database, the server down).</exception>
    /// <exception cref="SettingRefusedException">The server refused one of the client's settings.</exception>
    /// <exception cref="WaitCanceledByClientException">The client cancelled its request while it waited.</exception>
    /// <exception cref="ClientLeftWhileQueuedException">The client left while it waited (<see cref="LendingDesk.WithdrawDeparted"/>).</exception>
    /// <exception cref="OperationCanceledException">The session stops.</exception>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ServerConnection> AcquireAsync(bool forLogin = false)
    {
        var lending = _lending!;
        var desk = lending.Desk;
        if (lending.Services.Stopping == ShutdownMode.WaitForServers)
        {
            throw new LendingRefusedException(ShutdownRefusal.ServerShuttingDown); // as PgBouncer: no new transaction begins
        }

        WantsServerSince(Stopwatch.GetTimestamp());
        var keepTurn = false;
        try
        {
            while (true)
            {
                if (!_machine.TryBeginWaiting())
                {
                    throw new OperationCanceledException("the session is ending");
                }

                _queuedForRequest = !forLogin; // seen by the desk under its lock, which queuing takes after this
                var tellWhenQueued = !forLogin && lending.Services.Settings.QueryWaitNotify > TimeSpan.Zero;
                var checkout = desk.CheckoutAsync(_waiter!, _lastServer, keepTurn, tellWhenQueued);
                ServerConnection server;
                if (checkout.IsCompletedSuccessfully)
                {
                    server = checkout.Result; // an idle one at once: no wait to count
                }
                else
                {
                    lending.Entry?.StartedWaiting();
                    try
                    {
                        server = tellWhenQueued
                            ? await WaitTellingTheClientAsync(checkout, _waiter!, lending).ConfigureAwait(false)
                            : await checkout.ConfigureAwait(false);
                        lending.Entry?.StoppedWaiting(served: true);
                    }
                    catch
                    {
                        lending.Entry?.StoppedWaiting(served: false);
                        _machine.TryStopWaiting();
                        throw;
                    }
                }

                if (!_machine.TryAttach(server))
                {
                    desk.CheckIn(server); // the session stopped meanwhile: it goes back unused
                    throw new OperationCanceledException("the session is ending");
                }

                if (await BringInLineAsync(server, lending, forLogin).ConfigureAwait(false) is { } unusable)
                {
                    _machine.TryDetach();
                    desk.Retire(server, unusable);
                    keepTurn = true;
                    continue;
                }

                if (forLogin)
                {
                    if (!_machine.TryHoldAttached())
                    {
                        _machine.TryDetach();
                        desk.CheckIn(server);
                        throw new OperationCanceledException("the session is ending");
                    }

                    Tracker.Counters.Assigned();
                    return server;
                }

                switch (_machine.TryLink(server))
                {
                    case LinkOutcome.Stopped:
                        _machine.TryDetach();
                        desk.CheckIn(server);
                        throw new OperationCanceledException("the session is ending");
                    case LinkOutcome.Dead: // it died while being brought in line: another one, keeping the turn
                        _machine.TryDetach();
                        desk.Retire(server, $"it was lost before use: {server.ReaderEnded}");
                        keepTurn = true;
                        continue;
                }

                CancelRoute.Attach(server);
                Tracker.Counters.Assigned();
                server.Used = true;
                return server;
            }
        }
        finally
        {
            WantsServerSince(0);
        }
    }

    /// <summary>
    /// Whether the client left (closed its connection, or said Terminate) while a request of its
    /// waits its turn: asked by the desk, under its lock, of a waiter queued a while (see
    /// <see cref="LendingDesk.WithdrawDeparted"/>), when nothing reads the client's socket. The
    /// login's own wait is left out: the login is still reading its client.
    /// </summary>
    internal bool LeftWhileQueued()
    {
        if (!_queuedForRequest || _lending?.Client?.HowPeerLeft() is not { } how)
        {
            return false;
        }

        Departure = how;
        return true;
    }

    /// <summary>How the client was seen to leave while its request was queued (the log's reason), once it was.</summary>
    public string? Departure { get; private set; }

    private static readonly TimeSpan NoticeFlushBound = TimeSpan.FromSeconds(1);

    /// <summary>PgBouncer's words for a client queued longer than query_wait_notify (a NOTICE, SQLSTATE 00000).</summary>
    private static readonly byte[] QueuedNotice = new MessageBuilder().Notice(new PgError("NOTICE", "00000",
        "No server connection available in postgres backend, client being queued")).ToArray();

    /// <summary>
    /// The wait for a connection. One that lasts longer than query_wait_notify tells the client so,
    /// once: the pool's janitor wakes the wait (it keeps its place in the queue) and the client loop
    /// writes the notice itself, since while it waits no server connection is linked to the client,
    /// so nothing else writes to the client meanwhile. Then the same wait goes on.
    /// </summary>
    private static async ValueTask<ServerConnection> WaitTellingTheClientAsync(ValueTask<ServerConnection> checkout, DeskWaiter waiter,
        LinkLending lending)
    {
        ServerConnection? server = await checkout.ConfigureAwait(false);
        while (server is null)
        {
            // A client that reads nothing must not hold up the wait (a connection granted meanwhile waits for
            // this loop): the flush is bounded, and a notice it could not push out goes with the answer.
            using (var bounded = CancellationTokenSource.CreateLinkedTokenSource(lending.Lifetime))
            {
                bounded.CancelAfter(NoticeFlushBound);
                try
                {
                    await lending.ClientOutput.WriteAsync(QueuedNotice, bounded.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException or ObjectDisposedException)
                {
                    // the client is gone (its session ends, and withdraws the wait), or slow: the notice waits in its pipe
                }
            }

            server = await lending.Desk.ContinueWaiting(waiter).ConfigureAwait(false); // told once: a second wake never comes
        }

        return server;
    }

    /// <summary>
    /// The checks, the SET and the client's prepared statements made with SQL
    /// (<see cref="Prepared.SqlStatementSync"/>) a connection gets before the client's request goes
    /// out, answered to its reader as the pooler's own requests. Nothing is sent (and nothing waited
    /// for) when it was used a moment ago and already carries the client's settings and statements,
    /// the common case.
    /// </summary>
    /// <param name="forLogin">The login's own connection: no request of the client's runs on it, so its statements are not needed.</param>
    /// <returns>Why the connection cannot be used (it is closed and another taken), or null.</returns>
    /// <exception cref="SettingRefusedException">The server refused one of the client's settings (the connection goes back: it is fine).</exception>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<string?> BringInLineAsync(ServerConnection server, LinkLending lending, bool forLogin)
    {
        var settings = lending.Services.Settings;
        // A connection no client has used yet is fresh from its login: nothing to check (PgBouncer checks used ones only).
        var check = settings.ServerCheckSql is not null && server.Used && server.IdledFor >= settings.ServerCheckDelay;
        StartSettingsFrom(server.LoginParameters);

        var signature = SettingsSignature;
        var inLine = string.Equals(server.CarriedSettings, signature, StringComparison.Ordinal) ||
                     global::PgBouncerActors.Session.StartupParameters.SettingChanges(ClientSettings, server.Parameters, server.Applied).Count == 0;
        var statements = forLogin ? null : Statements;
        if (!check && inLine && (statements is null || statements.SqlInLine(server)))
        {
            server.CarriedSettings = signature;
            return null;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lending.Lifetime);
        timeout.CancelAfter(settings.ServerConnectTimeout);
        PgError? refused;
        try
        {
            if (check && await server.RunSilentlyAsync(settings.ServerCheckSql!, timeout.Token).ConfigureAwait(false) is { } failed)
            {
                return $"server_check_query failed: {failed}";
            }

            refused = await server.ApplySettingsAsync(ClientSettings, lending.Services.Log, timeout.Token).ConfigureAwait(false);
            if (refused is null)
            {
                AdoptServerSpelling(server, lending.Services.Log);
                signature = SettingsSignature;
            }

            if (refused is null && statements is not null)
            {
                await statements.BringInLineAsync(server, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            return $"it could not be brought in line with the client: {e.Message}";
        }

        if (refused is not null)
        {
            _machine.TryDetach();
            lending.Desk.CheckIn(server); // the SET failed cleanly: the connection is fine, the client's setting is not
            throw new SettingRefusedException(refused);
        }

        server.CarriedSettings = signature;
        return null;
    }

    /// <summary>
    /// Once, before the client's first transaction: its settings start from the server's defaults
    /// (<paramref name="serverDefaults"/>, as a fresh connection reported them) with its own startup
    /// settings over them, never from what a connection's last client left (its TimeZone, DateStyle...).
    /// </summary>
    public void StartSettingsFrom(IReadOnlyDictionary<string, string> serverDefaults)
    {
        if (ClientSettings.Count != 0)
        {
            return;
        }

        foreach (var (name, value) in global::PgBouncerActors.Session.StartupParameters.OverServerDefaults(serverDefaults, _lending!.StartupSettings))
        {
            ClientSettings[name] = value;
        }
    }

    /// <summary>
    /// PgBouncer's varcache_set_canonical: after a SET, the server reports a setting in its own
    /// spelling (DateStyle ISO comes back as "ISO, MDY"); the client's value takes that spelling,
    /// so a connection that reports it is in line already and is not sent the same SET again
    /// (PgJDBC, for one, logs in with DateStyle=ISO). The ParameterStatus that passes on to the
    /// client would do it too, later; here it is done at once, and logged in PgBouncer's words.
    /// </summary>
    private void AdoptServerSpelling(ServerConnection server, Serilog.ILogger log)
    {
        List<(string Name, string Spelling)>? respelled = null;
        foreach (var (name, value) in ClientSettings)
        {
            if (server.Parameters.TryGetValue(name, out var reported) && !string.Equals(reported, value, StringComparison.Ordinal))
            {
                (respelled ??= []).Add((name, reported));
            }
        }

        foreach (var (name, spelling) in respelled ?? [])
        {
            log.Debug("varcache_set_canonical: setting {Name:l} to its canonical version {Value:l} -> {Canonical:l}", name, ClientSettings[name], spelling);
            ClientSettings[name] = spelling;
            _settingsSignature = null;
        }
    }

    /// <summary>The client's settings in one string (name=value, in name order), made again only after they change.</summary>
    public string SettingsSignature => _settingsSignature ??= string.Join('\u0001',
        ClientSettings.OrderBy(setting => setting.Key, StringComparer.OrdinalIgnoreCase).Select(setting => $"{setting.Key.ToLowerInvariant()}={setting.Value}"));

    /// <summary>
    /// The server reported a new value of a tracked setting of the client's (forwarded on the
    /// connection it holds, which carries it too), or the welcome adopted the server's spelling.
    /// </summary>
    public void ClientSettingChanged()
    {
        _settingsSignature = null;
        if (Server is { } server)
        {
            server.CarriedSettings = SettingsSignature;
        }
    }

    /// <summary>
    /// A replication connection its pool opened for this client alone: attached as a session-mode
    /// login's connection is, and linked once the welcome is out (<see cref="FinishLoginAttach"/>).
    /// Nothing is sent to bring it in line: it logged in with the client's own startup parameters.
    /// </summary>
    /// <returns>False when the session stopped meanwhile: the caller hands the connection back to be closed.</returns>
    public bool AttachReplication(ServerConnection server)
    {
        if (!_machine.TryBeginWaiting())
        {
            return false;
        }

        if (!_machine.TryAttach(server) || !_machine.TryHoldAttached())
        {
            _machine.TryDetach();
            return false;
        }

        _lending!.Desk.LendForReplication(server, this);
        Tracker.Counters.Assigned();
        return true;
    }

    /// <summary>
    /// A client prepared a statement under a name it already uses: it gets PostgreSQL's 42P05, and
    /// the log gets PgBouncer's error line for it, which operators (and PgBouncer's tests) grep.
    /// </summary>
    public void LogPreparedNameReused(string name)
    {
        if (_lending is { } lending)
        {
            lending.Services.Log.Error("client db={Database} user={User} addr={Address}: prepared statement '{Name}' was already prepared",
                lending.Entry?.Database, lending.Entry?.User, lending.Entry?.RemoteAddress, name);
        }
    }

    /// <summary>The login's connection, attaching: linked for the client's session (session mode), or given back (pooled modes).</summary>
    /// <returns>False when the session stopped meanwhile (then it decides what becomes of the connection).</returns>
    public bool FinishLoginAttach()
    {
        var lending = _lending!;
        if (!lending.Releases)
        {
            var server = _machine.Server!;
            if (_machine.TryLink(server) != LinkOutcome.Linked)
            {
                return false; // stopped, or the connection died meanwhile (its loss ends the session)
            }

            server.Used = true;
            CancelRoute.Attach(server);
            return true;
        }

        if (_machine.TryReleaseAttached() is not { } attached)
        {
            return false;
        }

        _lastServer = attached;
        lending.Desk.CheckIn(attached);
        return true;
    }

    // --- the server's reader's side ------------------------------------------------------------------

    /// <summary>Whether the connection's reader forwards what it reads to this link.</summary>
    public bool Forwarding(ServerConnection server) => _machine.Forwarding(server);

    /// <summary>
    /// One read of the server's answers (on the connection's reader): forwarded to the client, then,
    /// if it left the server settled, the connection goes back to the desk. Stops at a message
    /// boundary once the link stops, and when the client can take no more.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ReaderStep> ForwardFromServerAsync(ServerConnection server, PipeReader input, ReadResult result)
    {
        if (_machine.State == LinkState.Stopped)
        {
            input.AdvanceTo(result.Buffer.Start);
            return ReaderStep.Hold;
        }

        if (result.IsCanceled)
        {
            input.AdvanceTo(result.Buffer.Start); // woken to judge again: a write or a cancel that held up the release is done
            TryRelease(server);
            return ReaderStep.Continue;
        }

        // What the server sent that breaks the protocol (a frame too long, one cut short) throws to the reader, which ends.
        var lending = _lending!;
        var forwarded = FrameForwarder.Copy(input, result, lending.ClientOutput, _fromServer!, server.MaxFrameLength, ToClient);
        try
        {
            if (forwarded.Written > 0 && (await lending.ClientOutput.FlushAsync().ConfigureAwait(false)).IsCompleted)
            {
                lending.ServerSideEnded(ForwardEnd.DestinationClosed, null);
                return ReaderStep.Hold;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            lending.ServerSideEnded(ForwardEnd.DestinationClosed, null); // the client's socket failed under the write
            return ReaderStep.Hold;
        }

        if (_fromServer!.RefusedTransactionBlock)
        {
            lending.ServerSideEnded(ForwardEnd.Stopped, null);
            return ReaderStep.Hold;
        }

        switch (FrameForwarder.EndOf(result, forwarded, ToClient))
        {
            case null:
                return ReaderStep.Continue;
            case ForwardEnd.Stopped: // a read that left the server settled
                TryRelease(server);
                return ReaderStep.Continue;
            default: // the server closed: the reader ends, and tells the link (ServerLost)
                return ReaderStep.End;
        }
    }

    /// <summary>
    /// The connection's reader ended (the server closed, or broke the protocol: <paramref name="failure"/>).
    /// A link that holds it for use learns it here, once, and its session ends the client with the
    /// cause; one that is still bringing it in line finds its request failed, and takes another.
    /// </summary>
    public void ServerLost(ServerConnection server, string why, Exception? failure)
    {
        if (!_machine.HoldsForUse(server))
        {
            return;
        }

        // Between transactions (its answer forwarded, the release not yet made) the loss costs the
        // client nothing, as for a connection idle at the desk: its next request takes another.
        if (failure is null && _lending is { Releases: true } lending)
        {
            switch (_machine.TryRelease(server, static link => link.MayRelease(), this))
            {
                case ReleaseOutcome.Released:
                    RetireBetweenTransactions(lending, server, why);
                    return;
                case ReleaseOutcome.Deferred:
                    // The client loop is still in a write (the end of one already answered, on a busy machine, or a new
                    // request): it judges again when that is done (EndWrite), with the reader gone.
                    return;
            }
        }

        _serverEndReason = why;
        ReaderGone();
        _lending?.ServerSideEnded(failure is null ? ForwardEnd.SourceClosed : null, failure);
    }

    /// <summary>
    /// Transaction and statement modes, on the reader: at a clean point with no write or cancel on
    /// its way, the connection goes back to the desk, which hands it to the next waiter at once.
    /// </summary>
    private void TryRelease(ServerConnection server)
    {
        if (_lending is not { Releases: true } lending || !Tracker.IsSettled)
        {
            return;
        }

        if (_machine.TryRelease(server, static link => link.MayRelease(), this) != ReleaseOutcome.Released)
        {
            return;
        }

        if (FatalAfterTransaction is not null)
        {
            RetireBetweenTransactions(lending, server, why: "");
            return;
        }

        _lastServer = server;
        lending.Desk.CheckIn(server);
    }

    private bool MayRelease() => IsClean && CancelRoute.TryDetach();

    /// <summary>A connection released after its client's transaction ended, but lost (a FATAL, its end): closed, not checked in.</summary>
    private void RetireBetweenTransactions(LinkLending lending, ServerConnection server, string why)
    {
        lending.Desk.Retire(server, $"lost between transactions: {FatalAfterTransaction?.ToString() ?? why}");
        FatalAfterTransaction = null;
    }

    /// <summary>The reader stopped forwarding for this link and waits for the connection's next owner.</summary>
    public void ReaderHolds() => ReaderGone();

    private void ReaderGone()
    {
        lock (Gate)
        {
            _readerHolding = true;
            _readerHeld?.TrySetResult();
        }
    }

    // --- the session's side --------------------------------------------------------------------------

    /// <summary>
    /// The session ends: the link stops (nothing changes hands any more but by the session), a
    /// queued wait is withdrawn, and the reader of a connection in use is woken to stop at a message
    /// boundary (<see cref="WhenReaderHoldsAsync"/>).
    /// </summary>
    public (LinkState Was, ServerConnection? Server) Stop()
    {
        var (was, server) = _machine.Stop();
        switch (was)
        {
            case LinkState.Waiting:
                _lending?.Desk.Withdraw(_waiter!);
                break;
            case LinkState.Linked or LinkState.Writing or LinkState.WritingReleaseWanted:
                server!.Socket.Input.CancelPendingRead();
                if (server.ReaderEnded is not null)
                {
                    ReaderGone(); // it ended while a write went on (see ServerLost): nothing forwards any more
                }

                break;
        }

        return (was, server);
    }

    /// <summary>Completes once the connection's reader no longer forwards for this link (it holds at a message boundary, or it ended).</summary>
    public Task WhenReaderHoldsAsync()
    {
        lock (Gate)
        {
            if (_readerHolding)
            {
                return Task.CompletedTask;
            }

            _readerHeld ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _readerHeld.Task;
        }
    }

    /// <summary>Once stopped, with its loops quiet: the connection the session gives back, once.</summary>
    public ServerConnection? TakeServerAfterStop() => _machine.TakeServerAfterStop();
}

/// <summary>The server refused one of the client's settings (a startup parameter, most likely): the client is told with the server's error.</summary>
internal sealed class SettingRefusedException(PgError error) : Exception(error.Message)
{
    public PgError Error { get; } = error;
}
