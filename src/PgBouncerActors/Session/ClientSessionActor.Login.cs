using PgBouncerActors.Framing;
using Akka.Actor;
using PgBouncerActors.Auth;
using PgBouncerActors.Proxy;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

internal sealed partial class ClientSessionActor
{
    // The login: what the client asked for and how it authenticated (the authentication methods' own fields are in .AuthMethod).

    /// <summary>The Akka.Streams conversation of the startup and the authentication; ended once the client is authenticated.</summary>
    private FrameConversation? _frames;
    private string _database = "";
    private string _user = "";

    /// <summary>The settings the client asked for in its startup packet: its defaults, put back after RESET and DISCARD ALL.</summary>
    private IReadOnlyDictionary<string, string> _startupSettings = NoStartupSettings;

    private static readonly IReadOnlyDictionary<string, string> NoStartupSettings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    private DatabaseSettings? _databaseSettings;
    private int _countedInClientLimits; // 1 while counted in max_db_client_connections and max_user_client_connections

    /// <summary>The login's checkout of a server connection (it ends with the session's lifetime).</summary>
    private Task? _loginCheckout;

    /// <summary>A replication connection's client (replication=database or true): its pool opens a server connection for it alone.</summary>
    private ReplicationStartup? _replication;

    private bool ReceiveAuthentication(object message)
    {
        switch (message)
        {
            case AuthOutcome outcome:
                OnAuthenticated(outcome);
                return true;
            case SecretLookedUp lookedUp:
                OnSecretLookedUp(lookedUp);
                return true;
            default:
                return ReceiveCommon(message);
        }
    }

    private bool ReceiveJoiningPool(object message)
    {
        switch (message)
        {
            case PoolFound found:
                OnPoolFound(found);
                return true;
            case LoginAttached attached:
                StartProxying(attached.Connection, attached.Connection.Parameters);
                return true;
            case LoginAttachFailed failed:
                OnLoginAttachFailed(failed.Cause);
                return true;
            case ReplicationReady ready:
                OnReplicationReady(ready.Connection);
                return true;
            case ReplicationRefused refused:
                // PgBouncer's words for the client and its log line ("closing because: login failed"); the server's reason in the detail.
                Finish("login failed", PgError.FatalError(refused.Error.SqlState, "login failed",
                    detail: $"the server refused the replication connection: {refused.Error.Message}"));
                return true;
            default:
                return ReceiveCommon(message);
        }
    }

    /// <summary>The replication connection its pool opened for this client: linked for the session, closed when the client leaves.</summary>
    private void OnReplicationReady(ServerConnection connection)
    {
        if (!connection.TryClaim() || !_link!.AttachReplication(connection))
        {
            connection.Desk?.Retire(connection, "replication client disconnected");
            return;
        }

        _entry?.StoppedWaiting(served: true);
        StartProxying(connection, connection.Parameters);
    }

    private void BeginAuthentication(DatabaseSettings database)
    {
        _databaseSettings = database;
        _phase = Phase.Authenticating;
        if (ChooseMethod() is not { } method)
        {
            return; // refused or let in by the hba file
        }

        // A user auth_file lacks is looked up with auth_query; with trust too, as PgBouncer does, so
        // that trust lets in the users the server knows rather than only auth_file's. The console's
        // too (a monitoring user kept in PostgreSQL), in the database auth_dbname names.
        if (method is AuthType.Plain or AuthType.Md5 or AuthType.ScramSha256 or AuthType.Trust && _services.UserList.SecretOf(_user) is null
            && !_unknownDatabase)
        {
            if (AuthQueryFor(database, out var refusal) is { } lookup)
            {
                LookUpSecret(method, lookup);
                return;
            }

            if (refusal is not null)
            {
                _services.Log.Error("login of user {User} to {Database}: {Refusal} ({Detail})", _user, _database, refusal.Message, refusal.Detail ?? "");
                Finish(refusal.Message, refusal); // the detail is in the line above, once
                return;
            }
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
            // Trust asks only whether the user is known; a user auth_query found without a password is.
            var secret = userList.SecretOf(_user) ?? _queriedSecret ?? (method == AuthType.Trust && _queriedUserExists ? "" : null);
            return await new ClientAuthenticator(frames, _user, method, secret,
                    userList.IsConfigured || _queriedEntry is not null, // trust admits whom auth_file or auth_query knows
                    _services.ScramVerifiers, method == AuthType.Cert ? CertificateUser() : null)
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

        if (_unknownDatabase)
        {
            Finish("unknown database", PgError.FatalError(SqlStates.UnknownDatabase,
                $"no such database: {_database}", hint: "the pooler's databases section has no entry for it and no \"*\" fallback"));
            return;
        }

        if (CountAgainstClientLimits() is { } refusal)
        {
            Finish(refusal.Message, refusal);
            return;
        }

        _phase = Phase.JoiningPool;
        var definition = DefinePool(_databaseSettings!);
        if (_services.KnownPools.TryGetValue(definition.Key, out var known))
        {
            OnPoolFound(known); // the pool exists: the registry would answer with the same
            return;
        }

        _pools.Tell(new GetPool(definition), Self);
    }

    /// <summary>
    /// The pool is known: the client's link is bound to its desk. A pooled client whose pool knows
    /// its server's parameters is welcomed at once; otherwise the login checks out a server
    /// connection, waiting its turn like any request (counted in cl_waiting, bounded by
    /// query_wait_timeout), to learn the server's parameters as they are for this client.
    /// </summary>
    private void OnPoolFound(PoolFound found)
    {
        JoinStatistics(found.Key);
        if (_replication is not null)
        {
            _mode = PoolMode.Session; // lent for the whole session, never brought in line, never reset
        }

        var link = _link = new ClientLink(_entry?.Counters) { RefuseSimpleQuery = Settings.DisablePqExec };
        _entry?.Link = link;
        link.Lend(new LinkLending(found.Desk, _services, _client.Output, _mode, Releases: _mode != PoolMode.Session, _startupSettings,
            static (session, end, failure) => session!.Tell(new PumpEnded(FromServer: true, end, failure), session), _entry, Self, _lifetime.Token, _client));
        if (_replication is { } replication)
        {
            // Its own server connection, whatever the pool's mode: a WAL stream is one conversation with one walsender.
            _entry?.Replication = Admin.ShowTables.ReplicationName(replication.Mode);
            _entry?.StartedWaiting();
            found.Pool.Tell(new OpenReplication(replication), Self);
            return;
        }

        // Transaction and statement modes, as PgBouncer: once the pool knows its server's parameters, a login
        // borrows no server connection (a busy pool would hold it up); the client's settings go with its first transaction.
        if (_mode != PoolMode.Session && found.Desk.ServerParameters is { } known &&
            StartupParameters.WelcomeWithoutServer(known, _startupSettings) is { } welcome)
        {
            StartProxying(null, welcome);
            return;
        }

        var checkout = link.AcquireAsync(forLogin: true).AsTask();
        _loginCheckout = checkout;
        checkout.PipeTo(Self, Self, connection => new LoginAttached(connection), cause => new LoginAttachFailed(cause));
    }

    private void OnLoginAttachFailed(Exception cause)
    {
        switch (cause)
        {
            case LendingRefusedException refused:
                Finish(refused.Error.Message, refused.Error);
                break;
            case SettingRefusedException refused:
                Finish($"server refused a startup setting: {refused.Error}", refused.Error.AsFatal() /* the server's refusal, with its SQLSTATE */);
                break;
            default:
                Finish($"no server connection: {cause.Message}", PgError.FatalError(SqlStates.ConnectionFailure, $"server connection failed: {cause.Message}"));
                break;
        }
    }

    /// <summary>
    /// max_db_client_connections and max_user_client_connections, the database's and the user's own
    /// entries first: a client over either is refused with PgBouncer's message and 53300. The admin
    /// console's clients count too (under the global limits); an admin user there is counted but
    /// never refused, as in PgBouncer.
    /// </summary>
    private PgError? CountAgainstClientLimits(bool consoleAdmin = false)
    {
        var databaseLimit = consoleAdmin ? 0 : _databaseSettings?.MaxDbClientConnections ?? Settings.MaxDbClientConnections;
        var userLimit = consoleAdmin ? 0 : Settings.Users.GetValueOrDefault(_user)?.MaxUserClientConnections ?? Settings.MaxUserClientConnections;
        if (_services.ClientLimits.TryJoin(_database, _user, databaseLimit, userLimit) is { } limit)
        {
            return PgError.FatalError(SqlStates.TooManyConnections, $"client connections exceeded ({limit})");
        }

        Volatile.Write(ref _countedInClientLimits, 1);
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

    private PoolDefinition PoolDefinitionFor(DatabaseSettings database, string serverUser, string? secret, PoolMode mode) =>
        PoolDefinitions.For(Settings, database, serverUser, secret, mode);

    private sealed record LoginAttached(ServerConnection Connection);

    private sealed record LoginAttachFailed(Exception Cause);
}
