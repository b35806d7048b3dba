namespace PgBouncerActors.Admin;

/// <summary>
/// One row of SHOW DATABASES, its values as the console shows them (see <see cref="ShowTables.DatabaseRows"/>):
/// read once per SHOW or scrape, for the console's table and /metrics' pgbouncer_databases_* alike.
/// </summary>
internal sealed record DatabaseRow(string Name, string Host, int Port, string Database, string ForceUser, int PoolSize, int MinPoolSize,
    int ReservePoolSize, int ServerLifetime, string PoolMode, string LoadBalanceHosts, int MaxConnections, int CurrentConnections,
    int MaxClientConnections, int CurrentClientConnections, bool Paused, bool Disabled);
