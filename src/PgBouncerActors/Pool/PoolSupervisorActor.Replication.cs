using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Pool;

/// <summary>
/// Replication connections, as PgBouncer 1.23+ passes them through: a client that logs in with
/// <c>replication=database</c> (logical) or <c>replication=true</c> (physical) gets a server
/// connection of its own, opened for it with its startup parameters (a walsender takes no SET),
/// counted in the pool's size (an idle pooled connection is evicted to make room, PgBouncer's
/// "closing because: evicted"), never lent to anyone else and closed when the client leaves. It
/// is not part of the desk's lending: the desk counts it as lent from its login on.
/// </summary>
internal sealed partial class PoolSupervisorActor
{
    /// <param name="Since">On the pool's monotonic clock: query_wait_timeout bounds the wait for room.</param>
    private sealed record ReplicationWanted(IActorRef Session, ReplicationStartup Startup, TimeSpan Since);

    private void OnOpenReplication(OpenReplication open)
    {
        if (_removed)
        {
            Sender.Tell(new ReplicationRefused(PgError.FatalError(SqlStates.UnknownDatabase,
                $"database \"{_definition.Key.Database}\" was removed from the configuration")), Self);
            return;
        }

        Context.Watch(Sender); // a client that leaves while its connection opens: the pool closes it
        _replicationWanted.Add(new ReplicationWanted(Sender, open.Startup, Now));
        ProvideForWaiters();
    }

    /// <summary>Opens a connection for each waiting replication client while the pool has room, evicting idle pooled connections for it.</summary>
    private void ProvideForReplication()
    {
        while (_replicationWanted.Count > 0)
        {
            var counts = _desk.Counts;
            if (counts.Live + counts.Opening >= _desk.SizeNow)
            {
                var evicted = _desk.TakeIdleToClose((_, _) => "evicted", limit: 1);
                if (evicted.Count == 0)
                {
                    return; // every connection is in use: the next one given back or closed makes room
                }

                Retire(evicted[0].Connection, evicted[0].Reason, cancelFirst: false);
                continue;
            }

            if (!_budget.TryTake(forClient: true))
            {
                return; // max_db_connections, max_user_connections or the cluster's share: RoomFreed comes back
            }

            var wanted = _replicationWanted[0];
            _replicationWanted.RemoveAt(0);
            OpenConnection(wanted);
        }
    }

    private void ReplicationOpened(BackendSlot slot, ServerConnection connection)
    {
        slot.State = SlotState.Open;
        slot.Connection = connection;
        _desk.OpenedForReplication(connection);
        if (slot.ReplicationFor is { } session)
        {
            session.Tell(new ReplicationReady(connection), Self);
        }
        else if (connection.TryClaim())
        {
            _desk.Retire(connection, "replication client disconnected"); // it left while the connection opened
        }

        ProvideForWaiters(); // its opening no longer stands for the pooled waiters' demand
    }

    /// <summary>
    /// The server refused a replication login (no REPLICATION role, no hba line for it): that
    /// client is told, and nobody else. As PgBouncer, it says nothing of the pool's health, so the
    /// pool neither backs off nor fails its other clients for it.
    /// </summary>
    private void ReplicationLoginFailed(BackendConnectFailed failed, BackendSlot slot)
    {
        if (slot.State == SlotState.Connecting)
        {
            slot.State = SlotState.Closing;
            _desk.OpeningEnded();
        }

        failed.Backend.Tell(new CloseBackend("login failed"), Self);
        _loginErrors++;
        // "closing because: login failed (age=0s)" is PgBouncer's line for it, which its tests and operators grep.
        _services.Log.Warning("replication connection login failed: {Severity} {Message} (SQLSTATE {State}) pool={Pool} server={Server} " +
            "closing because: login failed (age=0s)", failed.Error.Severity, failed.Error.Message, failed.Error.SqlState, _definition.Key,
            _definition.Endpoint);
        slot.ReplicationFor?.Tell(new ReplicationRefused(failed.Error), Self);
        slot.ReplicationFor = null;
    }

    /// <summary>A session the pool watched for a replication connection stopped: its wait ends, and a connection it never took is closed.</summary>
    private void ReplicationClientGone(IActorRef session)
    {
        _replicationWanted.RemoveAll(wanted => wanted.Session.Equals(session));
        foreach (var slot in _backends.Values)
        {
            if (!session.Equals(slot.ReplicationFor))
            {
                continue;
            }

            slot.ReplicationFor = null;
            if (slot.Connection is { } connection && connection.TryClaim())
            {
                _desk.Retire(connection, "replication client disconnected");
            }
        }
    }

    /// <summary>Ends the waits of the replication clients <paramref name="which"/> picks, with <paramref name="error"/>.</summary>
    private void RefuseReplication(Predicate<ReplicationWanted> which, PgError error)
    {
        foreach (var wanted in _replicationWanted.Where(wanted => which(wanted)).ToList())
        {
            wanted.Session.Tell(new ReplicationRefused(error), Self);
            _replicationWanted.Remove(wanted);
        }
    }
}
