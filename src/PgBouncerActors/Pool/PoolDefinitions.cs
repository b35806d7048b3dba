using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Pool;

/// <summary>How a (database, server user) pool is defined from the settings: sizes, mode and limits in PgBouncer's order of precedence.</summary>
internal static class PoolDefinitions
{
    /// <param name="secret">The server user's secret (auth_file or auth_query), used when the database entry sets no password.</param>
    /// <param name="mode">The mode of the client that makes the pool (a user's pool_mode over the database's).</param>
    public static PoolDefinition For(PoolerSettings settings, DatabaseSettings database, string serverUser, string? secret, PoolMode mode) => new(
        new PoolKey(database.Name, serverUser),
        new ServerEndpoint(database.Host, database.Port, database.ServerDatabase),
        ServerCredentials.FromSecret(serverUser, database.Password ?? secret),
        settings.PoolSizeFor(database, serverUser),
        database.MinPoolSize ?? settings.MinPoolSize,
        mode,
        database.MaxDbConnections ?? settings.MaxDbConnections,
        settings.Users.GetValueOrDefault(serverUser)?.MaxUserConnections ?? settings.MaxUserConnections);

    /// <summary>
    /// The pools PgBouncer keeps filled to min_pool_size before any client comes: those of databases
    /// with a forced user (the only ones whose server user is known in advance).
    /// </summary>
    public static IEnumerable<PoolDefinition> KeptWarm(PoolerSettings settings, Func<string, string?> secretOf) =>
        from database in settings.Databases.Values
        where database.Name != "*" && database.User is not null && (database.MinPoolSize ?? settings.MinPoolSize) > 0
        select For(settings, database, database.User!, secretOf(database.User!), settings.PoolModeFor(database, database.User!));
}
