using Akka.Actor;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>The admin console's side of a pool: its snapshot, and PAUSE, RESUME, RECONNECT, KILL and WAIT_CLOSE.</summary>
internal sealed partial class PoolSupervisorActor
{
    private PoolSnapshot Describe()
    {
        var servers = _backends
            .Where(pair => pair.Value.State != SlotState.Closing)
            .Select(pair => new ServerSnapshot(pair.Value.Id, StateName(pair.Value.State), pair.Value.Connection, pair.Value.Created,
                pair.Value.UsedAt, MustReconnect(pair.Value), pair.Value.Session))
            .OrderBy(server => server.Id)
            .ToList();
        var maxWait = _waiters.First is { } first ? DateTime.UtcNow - first.Value.Since : TimeSpan.Zero;
        var health = new PoolHealth(_backoff.Failures, _backoff.LastError?.Message, _backoff.RetryIn(Now), _loginErrors);
        return new PoolSnapshot(_definition.Key, _definition.Mode, _definition.PoolSize, _definition.MinPoolSize, maxWait, _paused, servers, health);
    }

    /// <summary>PgBouncer's names: a lent connection (parked between a client's transactions too) is active.</summary>
    private static string StateName(SlotState state) => state switch
    {
        SlotState.Connecting => "login",
        SlotState.Idle => "idle",
        SlotState.Lent => "active",
        _ => "used", // being reset before it is lent again
    };

    private void OnCommand(CommandPools command)
    {
        switch (command.Command)
        {
            case PoolCommand.Pause:
                _paused = true;
                _pauseReplies.Add(Sender);
                CloseIdle("the pool is paused (PAUSE)");
                AskParkedSessionsBack();
                ProvideForWaiters();
                break;
            case PoolCommand.Resume:
                _paused = false;
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
                foreach (var (backend, slot) in _backends.Where(pair => pair.Value.State != SlotState.Closing).ToList())
                {
                    _idle.Remove(backend);
                    Retire(backend, slot, "KILL on the admin console", cancelFirst: slot.State == SlotState.Lent);
                }

                Sender.Tell(PoolsCommanded.Instance, Self);
                ProvideForWaiters();
                break;
            case PoolCommand.WaitClose:
                _waitCloseReplies.Add(Sender);
                AnswerCommandsDone();
                break;
        }
    }

    /// <summary>
    /// RECONNECT, and a reload that removed or moved the database: every connection open now is
    /// closed as soon as it is free (idle ones at once, parked ones asked back, session-mode ones at
    /// their transaction's end with server_fast_close), and new ones open as needed.
    /// </summary>
    private void ReplaceConnections(string reason)
    {
        _reconnectBefore = DateTime.UtcNow;
        _reconnectReason = reason;
        CloseIdle(reason);
        AskParkedSessionsBack();
        TellSessionsCloseNeeded();
        AnswerCommandsDone();
        ProvideForWaiters();
    }

    private void CloseIdle(string reason)
    {
        foreach (var backend in _idle.ToArray())
        {
            if (_paused || MustReconnect(_backends[backend]))
            {
                _idle.Remove(backend);
                Retire(backend, _backends[backend], reason);
            }
        }
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

        foreach (var slot in _backends.Values.Where(slot => slot.State == SlotState.Lent && slot.Session is not null && MustReconnect(slot)))
        {
            slot.Session!.Tell(ServerCloseNeeded.Instance, Self);
        }
    }

    /// <summary>Opened before the last RECONNECT: closed as soon as it is free.</summary>
    private bool MustReconnect(BackendSlot slot) => _reconnectBefore is { } before && slot.Created <= before;

    /// <summary>Answers the PAUSE that waited for every lent connection to come back, and the WAIT_CLOSE that waited for the old ones to close.</summary>
    private void AnswerCommandsDone()
    {
        if (_paused && _backends.Values.All(slot => slot.State is SlotState.Closing))
        {
            AnswerPauseRequests();
        }

        if (_reconnectBefore is not null && !_backends.Values.Any(MustReconnect))
        {
            _reconnectBefore = null; // every old connection is gone: sessions may park again
            PublishWaiting();
        }

        if (_waitCloseReplies.Count > 0 && !_backends.Values.Any(MustReconnect))
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
            if (_removed is null)
            {
                _removed = PgError.FatalError(SqlStates.UnknownDatabase,
                    $"database \"{_definition.Key.Database}\" was removed from the pooler's configuration (RELOAD)");
                ReplaceConnections("the database was removed from the configuration");
                // Logged once it is in force: no session parks a connection of this pool any more.
                _services.Log.Warning("pool {Pool}: database {Database} was removed from the configuration; its clients get an error at their next transaction",
                    _definition.Key, _definition.Key.Database);
            }

            return;
        }

        if (_removed is not null)
        {
            _services.Log.Information("pool {Pool}: database {Database} is back in the configuration", _definition.Key, _definition.Key.Database);
            _removed = null;
        }

        var endpoint = new Backend.ServerEndpoint(database.Host, database.Port, database.ServerDatabase);
        if (endpoint != _definition.Endpoint)
        {
            _services.Log.Information("pool {Pool}: server {Old} -> {New}; connections are replaced as they come free",
                _definition.Key, _definition.Endpoint, endpoint);
            _definition = _definition with { Endpoint = endpoint };
            ReplaceConnections("the database's server changed in the configuration");
        }

        Resize(settings);
    }

    /// <summary>
    /// A reload or SET changed pool sizes: the pool grows at once for its waiters; when it
    /// shrinks, idle connections over the new size close now and lent ones as they come back.
    /// Nobody's transaction is cut short.
    /// </summary>
    private void Resize(Configuration.PoolerSettings settings)
    {
        var database = settings.FindDatabase(_definition.Key.Database);
        var size = database?.PoolSize ?? settings.DefaultPoolSize;
        var min = database?.MinPoolSize ?? settings.MinPoolSize;
        if (size == _definition.PoolSize && min == _definition.MinPoolSize)
        {
            return;
        }

        _services.Log.Information("pool {Pool}: pool_size {Old} -> {New}, min_pool_size {OldMin} -> {NewMin}",
            _definition.Key, _definition.PoolSize, size, _definition.MinPoolSize, min);
        _definition = _definition with { PoolSize = size, MinPoolSize = min };
        CloseOverSize();
        ProvideForWaiters();
    }

    /// <summary>Idle connections beyond pool_size close (the newest idle last: warm ones stay).</summary>
    private void CloseOverSize()
    {
        while (_backends.Values.Count(slot => slot.State != SlotState.Closing) > _definition.PoolSize && _idle.Count > 0)
        {
            var backend = _idle[0];
            _idle.RemoveAt(0);
            Retire(backend, _backends[backend], "pool_size was lowered");
        }
    }
}
