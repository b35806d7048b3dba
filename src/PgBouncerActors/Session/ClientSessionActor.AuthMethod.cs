using Akka.Actor;
using PgBouncerActors.Auth;
using PgBouncerActors.Configuration;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

/// <summary>
/// Which method checks a login (auth_type, or the matching line of auth_hba_file) and where the
/// secret comes from when auth_file lacks the user (auth_query, on auth_user's own pool, cached).
/// </summary>
internal sealed partial class ClientSessionActor
{
    /// <summary>The user's secret as auth_query found it (null: from auth_file, or nobody's).</summary>
    private string? _queriedSecret;

    /// <summary>auth_query found the user (with or without a password).</summary>
    private bool _queriedUserExists;

    /// <summary>The auth_query cache entry this login used, forgotten if the login fails.</summary>
    private (string Pool, string User)? _queriedEntry;

    /// <summary>The method a login waiting for auth_query goes on with.</summary>
    private AuthType _lookupMethod;

    /// <summary>auth_query ran on the server (not answered from the cache): its answer is cached.</summary>
    private bool _askedServer;

    /// <summary>The client asked for a database the pooler does not have: it is told so once it has authenticated.</summary>
    private bool _unknownDatabase;

    /// <summary>The matched hba line's map= for cert: which certificate names may log in as whom (auth_ident_file).</summary>
    private string? _certificateMap;

    /// <summary>
    /// auth_type cert: the name the certificate stands for. Its common name, or, through the hba
    /// line's ident map, the user asked for when the map lets that common name be it.
    /// </summary>
    private string? CertificateUser()
    {
        var commonName = Net.ClientTls.CommonName(_client.PeerCertificate);
        return _certificateMap is { } map && Settings.IdentMap.Allows(map, commonName, _user) ? _user : commonName;
    }

    /// <summary>
    /// The method this connection authenticates with: auth_type, or with auth_type = hba the first
    /// matching line's. Null when the hba file has already decided (refused, or peer checked).
    /// </summary>
    private AuthType? ChooseMethod()
    {
        if (Settings.AuthType != AuthType.Hba)
        {
            return Settings.AuthType;
        }

        var connection = new HbaConnectionInfo(_client.IsUnixSocket, _client.IsTls, _client.RemoteIp, _database, _user,
            PhysicalReplication: _replication?.Mode == "true");
        var rule = Settings.HbaRules.Match(connection);
        var describe = $"host \"{(_client.IsUnixSocket ? "[local]" : connection.Address?.ToString())}\", user \"{_user}\", database \"{_database}\", " +
            (_client.IsTls ? "SSL encryption" : "no encryption");
        switch (rule?.Method)
        {
            case null:
                Self.Tell(new AuthOutcome(PgError.FatalError(SqlStates.InvalidAuthorization, $"no pg_hba.conf entry for {describe}"), "no hba line matches"));
                return null;
            case HbaMethod.Reject:
                Self.Tell(new AuthOutcome(PgError.FatalError(SqlStates.InvalidAuthorization, $"pg_hba.conf rejects connection for {describe}"),
                    $"hba line {rule.Line} rejects"));
                return null;
            case HbaMethod.Peer:
                Self.Tell(Settings.IdentMap.Allows(rule.Map, _client.PeerUserName, _user) ? AuthOutcome.Success("peer")
                    : new AuthOutcome(PgError.FatalError(SqlStates.InvalidAuthorization, $"Peer authentication failed for user \"{_user}\""),
                        $"the OS user is {_client.PeerUserName ?? "unknown"}"));
                return null;
            case var method:
                _certificateMap = rule.Map;
                return method switch
                {
                    HbaMethod.Trust => AuthType.Trust,
                    HbaMethod.Md5 => AuthType.Md5,
                    HbaMethod.Password => AuthType.Plain,
                    HbaMethod.ScramSha256 => AuthType.ScramSha256,
                    _ => AuthType.Cert,
                };
        }
    }

    /// <summary>
    /// The auth_query lookup this database uses (its entry's auth_user, auth_query and auth_dbname
    /// over the pgbouncer section's), or null when it has none; <paramref name="refusal"/> when its
    /// auth_dbname names no database of the pooler's or a disabled one (PgBouncer's words: the
    /// client is refused, the reason logged).
    /// </summary>
    private AuthQueryLookup? AuthQueryFor(DatabaseSettings database, out PgError? refusal)
    {
        refusal = null;
        var authUser = database.AuthUser ?? Settings.AuthUser;
        if (authUser.Length == 0)
        {
            return null;
        }

        var authDatabaseName = database.AuthDbName ?? Settings.AuthDbName;
        if (authDatabaseName == Admin.ShowTables.AdminDatabase)
        {
            refusal = PgError.FatalError(SqlStates.InvalidAuthorization, "bouncer config error",
                detail: $"cannot use the reserved \"{Admin.ShowTables.AdminDatabase}\" database as an auth_dbname"); // PgBouncer's words
            return null;
        }

        if (authDatabaseName.Length == 0 && _admin)
        {
            return null; // the console has no server of its own to ask: only an auth_dbname names where auth_query runs for it
        }

        var authDatabase = authDatabaseName.Length == 0 ? database : Settings.FindDatabase(authDatabaseName);
        if (authDatabase is null)
        {
            refusal = PgError.FatalError(SqlStates.InvalidAuthorization, "bouncer config error",
                detail: $"authentication database \"{authDatabaseName}\" is not configured");
            return null;
        }

        if (authDatabaseName.Length > 0 && _services.DisabledDatabases.ContainsKey(authDatabaseName))
        {
            refusal = PgError.FatalError(SqlStates.InvalidAuthorization, $"authentication database \"{authDatabaseName}\" is disabled");
            return null;
        }

        var authPool = PoolDefinitionFor(authDatabase, authUser, _services.UserList.SecretOf(authUser), Settings.PoolModeFor(authDatabase, authUser));
        return new AuthQueryLookup(authPool, database.AuthQuery ?? Settings.AuthQuery);
    }

    private sealed record AuthQueryLookup(PoolDefinition AuthPool, string Query);

    /// <summary>auth_query, from the cache or on a connection of auth_user's pool; the login goes on when it answers.</summary>
    private void LookUpSecret(AuthType method, AuthQueryLookup lookup)
    {
        _lookupMethod = method;
        var entry = ($"{lookup.AuthPool.Key}\n{lookup.Query}", _user); // two databases may share the auth pool with different queries
        _queriedEntry = entry;
        if (_services.AuthQueries.TryGet(entry.Item1, _user, Settings.AuthQueryCache, out var cached))
        {
            Self.Tell(new SecretLookedUp(cached, null));
            return;
        }

        Context.ActorOf(SecretLookupActor.Props(_pools, lookup.AuthPool, lookup.Query, _user, Settings.ServerConnectTimeout), "auth-query");
        _askedServer = true;
    }

    private void OnSecretLookedUp(SecretLookedUp found)
    {
        if (found.Failure is { } failure)
        {
            _services.Log.Warning("auth_query for user {User} failed: {Failure}", _user, failure);
            Finish($"auth_query failed: {failure}", SecretLookedUp.ClientError);
            return;
        }

        if (_askedServer && _queriedEntry is { } entry)
        {
            _services.AuthQueries.Remember(entry.Pool, entry.User, found.Secret, Settings.AuthQueryCache);
        }

        // null: unknown, or its password expired; it fails as a wrong password does. A user without a password
        // exists (trust lets it in) and has no secret.
        _queriedUserExists = found.Secret is not null;
        _queriedSecret = found.Secret == SecretLookedUp.UserWithoutPassword ? null : found.Secret;
        Authenticate(_lookupMethod);
    }
}
