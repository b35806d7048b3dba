using Akka.Actor;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

internal sealed partial class ClientSessionActor
{
    private bool ReceiveStartup(object message)
    {
        switch (message)
        {
            case HandshakeResult.Closed:
                // Port probes and finished cancel requests are not failed logins. A close that we made
                // ourselves (a login timeout ends the handshake's read) comes once the session is finishing, and changes nothing.
                _logFailedLogin = false;
                Finish("closed before startup", null);
                return true;
            case HandshakeResult.Refused refused:
                Finish(refused.Error.Message, refused.Unsendable ? null : refused.Error);
                return true;
            case HandshakeResult.Cancel cancel:
                OnCancelRequest(cancel);
                return true;
            case HandshakeResult.Startup startup:
                OnStartup(startup, MaxClientConnGrace);
                return true;
            case StartupAgain again:
                OnStartup(again.Startup, again.GraceLeft);
                return true;
            default:
                return ReceiveCommon(message);
        }
    }

    /// <summary>
    /// A client over max_client_conn looks again this many times, <see cref="MaxClientConnRecheck"/>
    /// apart, before it is refused: a client that has just said goodbye on another thread may not
    /// have left the count yet, and must not cost a reconnecting client its login.
    /// </summary>
    private const int MaxClientConnGrace = 8;
    private static readonly TimeSpan MaxClientConnRecheck = TimeSpan.FromMilliseconds(25);

    private sealed record StartupAgain(HandshakeResult.Startup Startup, int GraceLeft);

    private void OnStartup(HandshakeResult.Startup startup, int graceLeft)
    {
        _frames = startup.Frames; // over TLS, not the one the handshake began on
        var parameters = startup.Parameters;
        _user = parameters.FirstOrDefault(p => p.Key == "user").Value ?? "";
        _database = parameters.FirstOrDefault(p => p.Key == "database").Value is { Length: > 0 } database ? database : _user;
        // max_client_conn never locks out the admin console (as PgBouncer).
        if (!IsAdminDatabase && _services.ClientLimits.OverConnectionLimit(Settings.MaxClientConnections))
        {
            if (graceLeft > 0)
            {
                _startupRecheck = Scheduler.ScheduleTellOnceCancelable(MaxClientConnRecheck, Self, new StartupAgain(startup, graceLeft - 1), Self);
                return;
            }

            var refusal = PgError.FatalError(SqlStates.TooManyConnections,
                $"no more connections allowed (max_client_conn = {Settings.MaxClientConnections})");
            Finish(refusal.Message, refusal);
            return;
        }

        if (_user.Length == 0)
        {
            Finish("no user", PgError.FatalError("28000", "no PostgreSQL user name specified in startup packet"));
            return;
        }

        if (parameters.FirstOrDefault(p => p.Key == "replication").Value is { } replication)
        {
            if (StartupParameters.ReplicationMode(replication) is not { } mode)
            {
                Finish("bad replication parameter", PgError.FatalError(SqlStates.ProtocolViolation,
                    $"invalid value for parameter \"replication\": \"{replication}\""));
                return;
            }

            _replication = mode.Length == 0 ? null : new Pool.ReplicationStartup(mode, StartupParameters.ForReplication(parameters));
        }

        if (IsAdminDatabase)
        {
            _admin = true;
            if (_client.PeerIsThisUser)
            {
                // As PgBouncer: the pooler's own OS user, over the Unix socket, is an admin without a password.
                _peerAdmin = true;
                StartConsole();
                return;
            }

            // The "*" entry's auth settings (auth_dbname, auth_user) reach the console too, as in PgBouncer; none of its server's.
            BeginAuthentication(Settings.FindDatabase(_database) is { } fallback
                ? new Configuration.DatabaseSettings(_database) { AuthUser = fallback.AuthUser, AuthDbName = fallback.AuthDbName, AuthQuery = fallback.AuthQuery }
                : new Configuration.DatabaseSettings(_database));
            return;
        }

        if (_services.Stopping is not null && _client.IsUnixSocket)
        {
            // PgBouncer's words; only the admin console is let in over the Unix socket while the pooler waits to stop.
            // A client accepted over TCP before the port closed is served (in a rolling restart on one port, others take the next).
            Finish("pooler is shutting down", PgError.FatalError(SqlStates.CannotConnectNow, "pooler is shutting down"));
            return;
        }

        if (Settings.FindDatabase(_database) is not { } databaseSettings)
        {
            // As PgBouncer: the client authenticates first (with auth_file only), so that a wrong
            // password is told as such and which databases exist is told only to those who may log in.
            _unknownDatabase = true;
            BeginAuthentication(new Configuration.DatabaseSettings(_database));
            return;
        }

        if (_services.DisabledDatabases.ContainsKey(_database))
        {
            Finish("database disabled", PgError.FatalError(SqlStates.CannotConnectNow, $"database \"{_database}\" is disabled",
                hint: "DISABLE on the pooler's admin console; ENABLE lets clients in again"));
            return;
        }

        try
        {
            var settings = StartupParameters.SettingsOf(parameters, Settings.IgnoreStartupParameters);
            if (Settings.ApplicationNameAddHost)
            {
                // application_name_add_host: the server's pg_stat_activity tells clients behind the pooler apart.
                settings["application_name"] = settings.GetValueOrDefault("application_name") is { Length: > 0 } name ? $"{name} - {Address}" : Address;
            }

            _startupSettings = _services.StartupSettings.Of(settings);
        }
        catch (FormatException e) when (_replication is null) // a replication connection's options go to the server as written
        {
            Finish("bad options", PgError.FatalError(SqlStates.ProtocolViolation, e.Message));
            return;
        }
        catch (FormatException)
        {
            // A replication connection: its options reach the server as the client wrote them (PgBouncer's rule), so the server judges them.
        }

        BeginAuthentication(databaseSettings);
    }

    /// <summary>
    /// A CancelRequest arrives on its own connection: find the server connection the key belongs
    /// to and send it the server's own key on a new connection. An unknown key is ignored, as the
    /// server itself does, so keys cannot be probed.
    /// </summary>
    private void OnCancelRequest(HandshakeResult.Cancel cancel)
    {
        var keys = _services.CancelKeys;
        var route = keys.Find(cancel.ProcessId, cancel.SecretKey);
        _logFailedLogin = false;
        if (route is null && _services.Peers is { } peers && CancelKeyRegistry.PeerOf(cancel.ProcessId) is var peer && peer != keys.PeerId)
        {
            // Another instance of the cluster handed out this key: it gets the cancel, as PgBouncer's peers do.
            peers.Tell(new Cluster.ForwardCancel(peer, cancel.ProcessId, cancel.SecretKey));
            Finish($"cancel request forwarded to peer {peer}", null);
            return;
        }

        if (route?.BeginCancel() is not { } target)
        {
            if (route?.CancelWait() == true)
            {
                // Its request never reached a server: it is answered 57014 without running, as a query canceled before it starts.
                _services.Log.Information("cancel request: a client's request waiting for a server connection was withdrawn addr={Address}", Address);
                Finish("cancel request for a client waiting for a server connection", null);
                return;
            }

            Finish(route is null ? "cancel request with an unknown key" : "cancel request for a client between transactions", null);
            return;
        }

        _services.Log.Information("cancel request: server={Server} pid={Pid} addr={Address}", target.Endpoint, target.ProcessId, Address);
        ServerCancel.SendForAsync(route, target).PipeTo(Self, Self, () => new HandshakeResult.Closed(), _ => new HandshakeResult.Closed());
    }
}
