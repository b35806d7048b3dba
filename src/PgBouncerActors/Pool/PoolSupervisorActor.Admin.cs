using Akka.Actor;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>The admin console's side of a pool: its snapshot, and PAUSE, RESUME, RECONNECT, KILL and WAIT_CLOSE.</summary>
internal sealed partial class PoolSupervisorActor
{
    private PoolSnapshot Describe()
    {
        var now = Now;
        var servers = _backends
            .Where(pair => pair.Value.State != SlotState.Closing && pair.Value.Connection is not { Retired: true })
            .Select(pair => Snapshot(pair.Value, now))
            .OrderBy(server => server.Id)
            .ToList();
        var counts = _desk.Counts;
        var health = new PoolHealth(_backoff.Failures, _backoff.LastError?.Message, _backoff.RetryIn(now), _loginErrors);
        return new PoolSnapshot(_definition.Key, _definition.Mode, _definition.PoolSize, _definition.MinPoolSize, counts.OldestWait, _paused,
            servers, health);
    }

    /// <summary>PgBouncer's names: lent is active, idle at the desk is idle, in the pool's hands (a reset) is used, opening is login.</summary>
    private ServerSnapshot Snapshot(BackendSlot slot, TimeSpan now)
    {
        if (slot.Connection is not { } connection)
        {
            return new ServerSnapshot(slot.Id, "login", null, slot.Created, slot.Created, false, null);
        }

        var state = connection.Owner switch
        {
            ConnectionOwner.Desk => "idle",
            ConnectionOwner.Lent => "active",
            _ => "used",
        };
        var lastUsed = DateTime.UtcNow - (now - connection.IdleSince);
        return new ServerSnapshot(slot.Id, state, connection, slot.Created, lastUsed, _desk.MustReconnect(connection), connection.Lessee?.Session);
    }

    private void OnCommand(CommandPools command)
    {
        switch (command.Command)
        {
            case PoolCommand.Pause:
                _paused = true;
                _pauseReplies.Add(Sender);
                _desk.Pause("the pool is paused (PAUSE)"); // idle ones close now, lent ones at the end of their transaction
                AnswerCommandsDone();
                break;
            case PoolCommand.Resume:
                _paused = false;
                _desk.Resume();
                AnswerPauseRequests(); // a PAUSE still waiting for transactions is over: RESUME came first
                Sender.Tell(PoolsCommanded.Instance, Self);
                ProvideForWaiters();
                break;
            case PoolCommand.Reconnect:
                Sender.Tell(PoolsCommanded.Instance, Self);
                ReplaceConnections("RECONNECT asked for new server connections");
                break;
            case PoolCommand.Kill:
                _paused = true;
                _desk.Pause("KILL on the admin console");
                foreach (var slot in _backends.Values.Where(slot => slot.State == SlotState.Open && slot.Connection is not null).ToList())
                {
                    _desk.Retire(slot.Connection!, "KILL on the admin console", cancelFirst: slot.Connection!.Owner == ConnectionOwner.Lent);
                }

                Sender.Tell(PoolsCommanded.Instance, Self);
                ProvideForWaiters();
                break;
            case PoolCommand.WaitClose:
                _waitCloseReplies.Add(Sender);
                AnswerCommandsDone();
                break;
            case PoolCommand.Settle: // the settings sent before it are in force here
                Sender.Tell(PoolsCommanded.Instance, Self);
                break;
        }
    }

    /// <summary>
    /// RECONNECT, and a reload that removed or moved the database: every connection open now is
    /// closed as soon as it is free (idle ones at once, lent ones when they come back, session-mode
    /// ones at their transaction's end with server_fast_close), and new ones open as needed.
    /// </summary>
    private void ReplaceConnections(string reason)
    {
        _desk.RetireOpenConnections(reason);
        TellSessionsCloseNeeded();
        AnswerCommandsDone();
        ProvideForWaiters();
    }

    /// <summary>
    /// server_fast_close, session mode: the sessions holding connections that must be replaced end
    /// at their transaction's end, so the replacement does not wait for them to log out.
    /// (In the pooled modes connections come back at every transaction's end anyway.)
    /// </summary>
    private void TellSessionsCloseNeeded()
    {
        if (!_services.Settings.ServerFastClose || _definition.Mode != Configuration.PoolMode.Session)
        {
            return;
        }

        foreach (var connection in OpenConnections().Where(connection => connection.Owner == ConnectionOwner.Lent && _desk.MustReconnect(connection)))
        {
            connection.Lessee?.Session?.Tell(ServerCloseNeeded.Instance, Self);
        }
    }

    private IEnumerable<Backend.ServerConnection> OpenConnections() =>
        _backends.Values.Where(slot => slot.State == SlotState.Open && slot.Connection is { Retired: false }).Select(slot => slot.Connection!);

    /// <summary>Answers the PAUSE that waited for every lent connection to come back, and the WAIT_CLOSE that waited for the old ones to close.</summary>
    private void AnswerCommandsDone()
    {
        if (_paused && _pauseReplies.Count > 0 && !OpenConnections().Any())
        {
            AnswerPauseRequests();
        }

        // Closed means gone: a backend still saying goodbye to its server counts until it stops.
        if (_desk.ReconnectPending && !_backends.Values.Any(slot => slot.Connection is { } connection && _desk.MustReconnect(connection)))
        {
            _desk.ReconnectDone();
        }

        if (_waitCloseReplies.Count > 0 && !_desk.ReconnectPending)
        {
            foreach (var replyTo in _waitCloseReplies)
            {
                replyTo.Tell(PoolsCommanded.Instance, Self);
            }

            _waitCloseReplies.Clear();
        }
    }

    private void AnswerPauseRequests()
    {
        foreach (var replyTo in _pauseReplies)
        {
            replyTo.Tell(PoolsCommanded.Instance, Self);
        }

        _pauseReplies.Clear();
    }

    /// <summary>
    /// New settings (RELOAD, SIGHUP, SET). A database gone from the file: nobody's transaction is
    /// cut, but every client of it gets an error naming the reason at its next transaction, and the
    /// pool's connections close as they come free. A database whose host, port or dbname changed:
    /// its connections are replaced as they come free (as RECONNECT does), new ones go to the new server.
    /// </summary>
    private void OnSettingsChanged(Configuration.PoolerSettings settings)
    {
        if (settings.FindDatabase(_definition.Key.Database) is not { } database)
        {
            if (!_removed)
            {
                _removed = true;
                _desk.Close(PgError.FatalError(SqlStates.UnknownDatabase,
                    $"database \"{_definition.Key.Database}\" was removed from the pooler's configuration (RELOAD)"));
                ReplaceConnections("the database was removed from the configuration");
                // Logged once it is in force: no client of this pool gets a connection any more.
                _services.Log.Warning("pool {Pool}: database {Database} was removed from the configuration; its clients get an error at their next transaction",
                    _definition.Key, _definition.Key.Database);
            }

            return;
        }

        if (_removed)
        {
            _services.Log.Information("pool {Pool}: database {Database} is back in the configuration", _definition.Key, _definition.Key.Database);
            _removed = false;
            _desk.Reopen();
        }

        var endpoint = new Backend.ServerEndpoint(database.Host, database.Port, database.ServerDatabase);
        if (endpoint != _definition.Endpoint)
        {
            _services.Log.Information("pool {Pool}: server {Old} -> {New}; connections are replaced as they come free",
                _definition.Key, _definition.Endpoint, endpoint);
            _definition = _definition with { Endpoint = endpoint };
            ReplaceConnections("the database's server changed in the configuration");
            ForgetLoginFailures();
        }

        if (ServerTlsSignature(settings) is var tls && tls != _serverTls)
        {
            // As PgBouncer: a connection made under the old server_tls_* settings is not kept (the log's reason is its words).
            _serverTls = tls;
            ReplaceConnections("database configuration changed");
            ForgetLoginFailures();
            _services.Log.Information("pool {Pool}: server TLS settings changed; connections are replaced as they come free", _definition.Key);
        }

        if (settings.PoolModeFor(database, _definition.Key.User) is var mode && mode != _definition.Mode)
        {
            // Clients that log in from now on get the new mode; those connected keep theirs until they leave.
            _services.Log.Information("pool {Pool}: pool_mode {Old} -> {New} for new clients", _definition.Key, _definition.Mode, mode);
            _definition = _definition with { Mode = mode };
        }

        _desk.Policy = Policy(); // server_lifetime, server_round_robin and the reserve may have changed
        Resize(settings);
    }

    /// <summary>The settings a server connection's TLS was made with, in one string: a reload that changes any of them replaces the connections.</summary>
    private static string ServerTlsSignature(Configuration.PoolerSettings settings) => string.Join('\u0001', settings.ServerTlsMode,
        settings.ServerTlsCaFile, settings.ServerTlsCertFile, settings.ServerTlsKeyFile, settings.ServerTlsProtocols, settings.ServerTlsCiphers);

    /// <summary>
    /// A reload or SET changed pool sizes: the pool grows at once for its waiters; when it
    /// shrinks, idle connections over the new size close now and lent ones as they come back.
    /// Nobody's transaction is cut short.
    /// </summary>
    private void Resize(Configuration.PoolerSettings settings)
    {
        var database = settings.FindDatabase(_definition.Key.Database);
        var size = settings.PoolSizeFor(database, _definition.Key.User);
        var min = database?.MinPoolSize ?? settings.MinPoolSize;
        if (size == _definition.PoolSize && min == _definition.MinPoolSize)
        {
            return;
        }

        _services.Log.Information("pool {Pool}: pool_size {Old} -> {New}, min_pool_size {OldMin} -> {NewMin}",
            _definition.Key, _definition.PoolSize, size, _definition.MinPoolSize, min);
        _definition = _definition with { PoolSize = size, MinPoolSize = min };
        _desk.Policy = Policy();
        var over = _desk.Counts.Live - size;
        if (over > 0)
        {
            // The longest idle first: warm ones stay.
            foreach (var (connection, reason) in _desk.TakeIdleToClose((_, _) => "pool_size was lowered", limit: over))
            {
                Retire(connection, reason, cancelFirst: false);
            }
        }

        ProvideForWaiters();
    }

    /// <summary>
    /// The way to the server changed (its address, its TLS settings): failures of the old way say
    /// nothing of the new one, so the next client's login tries at once instead of getting the cached error.
    /// </summary>
    private void ForgetLoginFailures()
    {
        _hostsFailedInARow = 0;
        if (_backoff.IsFailing)
        {
            _backoff.Succeeded();
            _desk.FailFast(null); // the clients still queued try with the next login, which the retry timer or the next request starts
        }
    }
}
