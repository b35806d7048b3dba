using PgBouncerActors.Framing;
using Akka.Actor;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

internal sealed partial class ClientSessionActor
{
    private DatabaseSettings? _databaseSettings;
    private bool _countedInClientLimits;

    private void BeginAuthentication(DatabaseSettings database)
    {
        _databaseSettings = database;
        Become(() =>
        {
            ReceiveCommon();
            Receive<AuthOutcome>(OnAuthenticated);
            Receive<SecretLookedUp>(OnSecretLookedUp);
        });
        if (ChooseMethod() is not { } method)
        {
            return; // refused or let in by the hba file
        }

        if (!_admin && method is AuthType.Plain or AuthType.Md5 or AuthType.ScramSha256 && _services.UserList.SecretOf(_user) is null
            && AuthQueryFor(database) is { } lookup)
        {
            LookUpSecret(method, lookup);
            return;
        }

        Authenticate(method);
    }

    /// <summary>Authentication in the startup's conversation; its outcome comes back as a message.</summary>
    private void Authenticate(AuthType method)
    {
        AuthenticateAsync(method).PipeTo(Self, Self, outcome => outcome, cause => new AuthOutcome(
                PgError.FatalError(SqlStates.ProtocolViolation, "authentication failed: " + cause.Message), cause.Message));
    }

    /// <summary>Authentication in the startup's conversation, which ends with it: what follows goes pipe to pipe.</summary>
    /// <remarks>An admin console client keeps the conversation: its console runs on it.</remarks>
    private async Task<AuthOutcome> AuthenticateAsync(AuthType method)
    {
        var frames = _frames!;
        try
        {
            var userList = _services.UserList;
            return await new ClientAuthenticator(frames, _user, method, userList.SecretOf(_user) ?? _queriedSecret, userList.IsConfigured,
                    _services.ScramVerifiers, method == AuthType.Cert ? ClientTls.CommonName(_client.PeerCertificate) : null)
                .AuthenticateAsync(_lifetime.Token).ConfigureAwait(false);
        }
        finally
        {
            if (!_admin)
            {
                await frames.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private void OnAuthenticated(AuthOutcome outcome)
    {
        if (!_admin)
        {
            _frames = null; // ended with the authentication; a dead graph is not kept for the session's life
        }

        if (_finishing)
        {
            return;
        }

        if (!outcome.Succeeded)
        {
            if (_queriedEntry is { } entry)
            {
                _services.AuthQueries.Forget(entry.Pool, entry.User); // a changed password is read afresh next time
            }

            Finish(outcome.LogReason, outcome.Error);
            return;
        }

        if (outcome.ScramClientKey is { } clientKey)
        {
            _services.ScramKeys.Remember(_user, clientKey);
        }

        if (_admin)
        {
            StartConsole();
            return;
        }

        if (CountAgainstClientLimits() is { } refusal)
        {
            Finish(refusal.Message, refusal);
            return;
        }

        Become(() =>
        {
            ReceiveCommon();
            Receive<PoolFound>(found =>
            {
                _pool = found.Pool;
                _demand = found.Demand;
                JoinStatistics(found.Key);
                RequestLease();
            });
            Receive<LeaseGranted>(OnLeaseGranted);
            Receive<LeaseFailed>(failed => Finish(failed.Error.Message, failed.Error));
            Receive<Attached>(OnAttached);
            // A backend that dies before use shows up as a failed attach; the watch matters once proxying.
            Receive<Terminated>(_ => { });
        });
        _pools.Tell(new GetPool(DefinePool(_databaseSettings!)), Self);
    }

    /// <summary>
    /// max_db_client_connections and max_user_client_connections, the database's and the user's own
    /// entries first: a client over either is refused with PgBouncer's message and 53300.
    /// </summary>
    private PgError? CountAgainstClientLimits()
    {
        var databaseLimit = _databaseSettings!.MaxDbClientConnections ?? Settings.MaxDbClientConnections;
        var userLimit = Settings.Users.GetValueOrDefault(_user)?.MaxUserClientConnections ?? Settings.MaxUserClientConnections;
        if (_services.ClientLimits.TryJoin(_database, _user, databaseLimit, userLimit) is { } limit)
        {
            return PgError.FatalError(SqlStates.TooManyConnections, $"client connections exceeded ({limit})");
        }

        _countedInClientLimits = true;
        return null;
    }

    /// <summary>The server user is the database entry's fixed user, or the client's own with its secret from auth_file (or auth_query).</summary>
    private PoolDefinition DefinePool(DatabaseSettings database)
    {
        var serverUser = database.User ?? _user;
        _mode = Settings.PoolModeFor(database, _user);
        var secret = _services.UserList.SecretOf(serverUser) ?? (serverUser == _user ? _queriedSecret : null);
        return PoolDefinitionFor(database, serverUser, secret, _mode);
    }

    /// <param name="mode">The mode of the client that makes the pool (a user's pool_mode over the database's).</param>
    private PoolDefinition PoolDefinitionFor(DatabaseSettings database, string serverUser, string? secret, PoolMode mode) => new(
        new PoolKey(database.Name, serverUser),
        new ServerEndpoint(database.Host, database.Port, database.ServerDatabase),
        ServerCredentials.FromSecret(serverUser, database.Password ?? secret),
        database.PoolSize ?? Settings.DefaultPoolSize,
        database.MinPoolSize ?? Settings.MinPoolSize,
        mode,
        database.MaxDbConnections ?? Settings.MaxDbConnections,
        Settings.Users.GetValueOrDefault(serverUser)?.MaxUserConnections ?? Settings.MaxUserConnections);

    /// <param name="retry">The connection granted died before use: the session keeps its turn, and its wait goes on.</param>
    private void RequestLease(bool retry = false)
    {
        _entry?.StartedWaiting();
        _pool!.Tell(new LeaseRequest(retry), Self);
    }

    private void OnLeaseGranted(LeaseGranted granted)
    {
        _entry?.StoppedWaiting(served: true);
        _backend = granted.Backend;
        _connection = granted.Connection;
        Context.Watch(granted.Backend);
        if (_finishing)
        {
            return; // OnFinished gives it back
        }

        if (!_loggedIn)
        {
            // A client starts from the server's defaults and its own startup settings, never from
            // what the connection's last client left (its TimeZone, DateStyle, standard_conforming_strings...).
            _settings = StartupParameters.OverServerDefaults(granted.Connection.LoginParameters, _startupSettings);
        }

        AttachAsync(granted.Connection, granted.Check).PipeTo(Self, Self, result => result, cause => new Attached(false, null, cause.Message));
    }

    /// <summary>
    /// Takes over the socket from the idle watch, checks the connection if it idled long
    /// (server_check_delay), and brings it in line with the client's settings, swallowing the
    /// replies; the client then sees the server's parameters as they are for it.
    /// </summary>
    /// <param name="check">Run server_check_query first: the connection has been idle longer than server_check_delay.</param>
    private async Task<Attached> AttachAsync(ServerConnection connection, bool check)
    {
        if (!await connection.StopIdleWatchAsync().ConfigureAwait(false))
        {
            return new Attached(false, null, "it died before use");
        }

        if (connection.Socket.HasInput())
        {
            // Sent before any request of this client (a FATAL from a terminated backend, a close): the request goes elsewhere.
            return new Attached(false, null, "it sent something or closed while idle");
        }

        using var timeout = new CancellationTokenSource(Settings.ServerConnectTimeout);
        if (check && Settings.ServerCheckQuery.Length > 0 &&
            await connection.RunSilentlyAsync(Settings.ServerCheckQuery, timeout.Token).ConfigureAwait(false) is { } failed)
        {
            return new Attached(false, null, $"server_check_query failed: {failed}");
        }

        var error = await connection.ApplySettingsAsync(_settings, timeout.Token).ConfigureAwait(false);
        return new Attached(true, error, null);
    }

    private void OnAttached(Attached attached)
    {
        if (_finishing)
        {
            return;
        }

        if (!attached.Alive)
        {
            // The connection died between grant and use: give it back and keep our turn in the queue.
            _services.Log.Debug("lent server connection unusable ({Reason}); asking again", attached.Failure);
            ReturnLease(clean: false, attached.Failure ?? "it died before use", cancelFirst: false);
            RequestLease(retry: true);
            return;
        }

        _attachedIdle = true;
        if (attached.SettingError is { } error)
        {
            Finish($"server refused a startup setting: {error}", error.AsFatal() /* the server's refusal, with its SQLSTATE */);
            return;
        }

        if (_loggedIn)
        {
            BeginLease();
        }
        else if (_mode == PoolMode.Session)
        {
            StartProxying();
        }
        else
        {
            StartPooledProxying();
        }
    }

    private sealed record Attached(bool Alive, PgError? SettingError, string? Failure);
}
