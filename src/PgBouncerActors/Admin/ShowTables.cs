using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Stats;

namespace PgBouncerActors.Admin;

/// <summary>
/// The SHOW commands' tables, with PgBouncer 1.18's columns (names, order, types), so that
/// pgbouncer_exporter and existing dashboards read them unchanged. Where a column has no meaning
/// here it holds what PgBouncer shows in the nearest case (see README "Operating").
/// </summary>
internal static class ShowTables
{
    /// <summary>The admin console's own pseudo-database and pool, listed as PgBouncer lists its own.</summary>
    public const string AdminDatabase = "pgbouncer";

    private static readonly PoolKey AdminPool = new(AdminDatabase, AdminDatabase);

    public static ResultTable Pools(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        var table = new ResultTable("database", "user", "cl_active:int4", "cl_waiting:int4", "cl_active_cancel_req:int4",
            "cl_waiting_cancel_req:int4", "sv_active:int4", "sv_active_cancel:int4", "sv_being_canceled:int4", "sv_idle:int4", "sv_used:int4",
            "sv_tested:int4", "sv_login:int4", "maxwait:int4", "maxwait_us:int4", "pool_mode");
        var admin = services.Statistics.For(AdminPool).Clients();
        table.Row(AdminDatabase, AdminDatabase, admin.Length, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "statement");
        foreach (var figures in PoolFigures.Of(services, pools))
        {
            var pool = figures.Pool;
            table.Row(pool.Key.Database, pool.Key.User, figures.ClientsActive, figures.ClientsWaiting, 0, 0, figures.ServersActive, 0, 0,
                figures.ServersIdle, figures.ServersUsed, 0, figures.ServersLogin, (int)figures.MaxWait.TotalSeconds,
                MicrosWithinSecond(figures.MaxWait), ModeName(pool.Mode));
        }

        return table;
    }

    public static ResultTable Clients(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        var table = SocketTable();
        var servers = ServersBySession(pools);
        foreach (var client in services.Statistics.Clients)
        {
            var server = servers.GetValueOrDefault(client.Session);
            var state = client.Waiting ? "waiting" : "active";
            var wait = client.WaitedSoFar;
            var (host, port) = Split(client.RemoteAddress);
            var (localHost, localPort) = Split(client.LocalAddress);
            table.Row("C", client.User, client.Database, state, host, port, localHost, localPort, client.ConnectedAt,
                LastRequest(client), (int)wait.TotalSeconds, MicrosWithinSecond(wait), 0, Pointer(client.Id),
                server is null ? "" : Pointer(server.Id), 0, client.Tls, client.ApplicationName);
        }

        return table;
    }

    public static ResultTable Servers(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        var table = SocketTable();
        var clients = services.Statistics.Clients.ToDictionary(client => client.Session);
        foreach (var pool in Sorted(pools))
        {
            foreach (var server in pool.Servers)
            {
                var (host, port) = (pool.Key.Database, 0);
                var (localHost, localPort) = ("", 0);
                if (server.Connection is { } connection)
                {
                    (host, port) = Split(connection.Socket.RemoteAddress);
                    (localHost, localPort) = Split(connection.Socket.LocalAddress);
                }

                var client = server.Session is null ? null : clients.GetValueOrDefault(server.Session);
                table.Row("S", pool.Key.User, pool.Key.Database, server.State, host, port, localHost, localPort, server.ConnectedAt, server.RequestAt,
                    0, 0, server.CloseNeeded, Pointer(server.Id), client is null ? "" : Pointer(client.Id), server.Connection?.ProcessId ?? 0, "",
                    server.Connection?.Parameters.GetValueOrDefault("application_name") ?? "");
            }
        }

        return table;
    }

    public static ResultTable Databases(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        var settings = services.Settings;
        var table = new ResultTable("name", "host", "port:int4", "database", "force_user", "pool_size:int4", "min_pool_size:int4",
            "reserve_pool:int4", "pool_mode", "max_connections:int4", "current_connections:int4", "paused:int4", "disabled:int4");
        table.Row(AdminDatabase, "", settings.ListenPort, AdminDatabase, AdminDatabase, 2, 0, 0, "statement", 0, 0, false, false);
        var names = settings.Databases.Keys.Where(name => name != "*").Concat(pools.Select(pool => pool.Key.Database))
            .Where(name => name != AdminDatabase).Distinct().Order(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (settings.FindDatabase(name) is not { } database)
            {
                continue; // removed by a reload; its pools still serve the clients they have
            }

            var ofDatabase = pools.Where(pool => pool.Key.Database == name).ToList();
            table.Row(name, database.Host, database.Port, database.ServerDatabase, database.User ?? "", database.PoolSize ?? settings.DefaultPoolSize,
                database.MinPoolSize ?? settings.MinPoolSize, 0, database.PoolMode is { } mode ? ModeName(mode) : "",
                database.MaxDbConnections ?? settings.MaxDbConnections, ofDatabase.Sum(pool => pool.Servers.Count),
                ofDatabase.Count > 0 && ofDatabase.All(pool => pool.Paused), services.DisabledDatabases.ContainsKey(name));
        }

        return table;
    }

    public static ResultTable Users(PoolerServices services)
    {
        var settings = services.Settings;
        var table = new ResultTable("name", "pool_mode");
        var names = services.UserList.Users.Concat(settings.Users.Keys).Append(AdminDatabase).Distinct().Order(StringComparer.Ordinal);
        foreach (var name in names)
        {
            table.Row(name, settings.Users.GetValueOrDefault(name)?.PoolMode is { } mode ? ModeName(mode) : "");
        }

        return table;
    }

    public static ResultTable Stats(PoolerServices services)
    {
        var table = new ResultTable("database", "total_xact_count:numeric", "total_query_count:numeric", "total_received:numeric",
            "total_sent:numeric", "total_xact_time:numeric", "total_query_time:numeric", "total_wait_time:numeric", "avg_xact_count:numeric",
            "avg_query_count:numeric", "avg_recv:numeric", "avg_sent:numeric", "avg_xact_time:numeric", "avg_query_time:numeric",
            "avg_wait_time:numeric");
        var period = services.LastPeriod;
        foreach (var (database, totals) in WithAdmin(services.Statistics.ByDatabase()))
        {
            var avg = period.Of(database);
            table.Row(database, totals.Transactions, totals.Queries, totals.Received, totals.Sent, totals.TransactionMicros, totals.QueryMicros,
                totals.WaitMicros, avg.Transactions, avg.Queries, avg.Received, avg.Sent, avg.TransactionMicros, avg.QueryMicros, avg.WaitMicros);
        }

        return table;
    }

    public static ResultTable StatsTotals(PoolerServices services)
    {
        var table = StatsPartTable();
        foreach (var (database, totals) in WithAdmin(services.Statistics.ByDatabase()))
        {
            table.Row(database, totals.Transactions, totals.Queries, totals.Received, totals.Sent, totals.TransactionMicros, totals.QueryMicros,
                totals.WaitMicros);
        }

        return table;
    }

    public static ResultTable StatsAverages(PoolerServices services)
    {
        var table = StatsPartTable();
        var period = services.LastPeriod;
        foreach (var (database, _) in WithAdmin(services.Statistics.ByDatabase()))
        {
            var avg = period.Of(database);
            table.Row(database, avg.Transactions, avg.Queries, avg.Received, avg.Sent, avg.TransactionMicros, avg.QueryMicros, avg.WaitMicros);
        }

        return table;
    }

    public static ResultTable Totals(PoolerServices services)
    {
        var totals = services.Statistics.ByDatabase().Aggregate(default(TrafficTotals), (sum, pair) => sum + pair.Totals);
        var avg = services.LastPeriod.Overall();
        return new ResultTable("name", "value:numeric")
            .Row("total_xact_count", totals.Transactions).Row("total_query_count", totals.Queries)
            .Row("total_client_bytes", totals.Received).Row("total_server_bytes", totals.Sent)
            .Row("total_xact_time", totals.TransactionMicros).Row("total_query_time", totals.QueryMicros).Row("total_wait_time", totals.WaitMicros)
            .Row("avg_xact_count", avg.Transactions).Row("avg_query_count", avg.Queries)
            .Row("avg_client_bytes", avg.Received).Row("avg_server_bytes", avg.Sent)
            .Row("avg_xact_time", avg.TransactionMicros).Row("avg_query_time", avg.QueryMicros).Row("avg_wait_time", avg.WaitMicros);
    }

    /// <param name="sessions">Client sessions open now, logged in or not.</param>
    public static ResultTable Lists(PoolerServices services, IReadOnlyList<PoolSnapshot> pools, int sessions)
    {
        var settings = services.Settings;
        var loggedIn = services.Statistics.Clients.Count();
        var servers = pools.Sum(pool => pool.Servers.Count);
        return new ResultTable("list", "items:int4")
            .Row("databases", Databases(services, pools).RowCount)
            .Row("users", Users(services).RowCount)
            .Row("pools", pools.Count + 1)
            .Row("free_clients", Math.Max(0, settings.MaxClientConnections - sessions))
            .Row("used_clients", loggedIn)
            .Row("login_clients", Math.Max(0, sessions - loggedIn))
            .Row("free_servers", 0)
            .Row("used_servers", servers)
            .Row("dns_names", 0).Row("dns_zones", 0).Row("dns_queries", 0).Row("dns_pending", 0);
    }

    /// <summary>Paused: a PAUSE of everything is in force, or every pool there is was paused one by one.</summary>
    public static ResultTable State(PoolsDescribed described)
    {
        var paused = described.PausedAll || (described.Pools.Count > 0 && described.Pools.All(pool => pool.Paused));
        return new ResultTable("key", "value")
            .Row("active", paused ? "no" : "yes")
            .Row("paused", paused ? "yes" : "no")
            .Row("suspended", "no");
    }

    /// <summary>
    /// PgBouncer's memory caches, as far as this pooler has them: its client receive buffers, under
    /// the name PgBouncer gives its own packet buffers (iobuf_cache). The rest of PgBouncer's rows are
    /// its C slab allocators for clients, servers, pools and the like; here those are objects the GC
    /// manages, with no free list to show, so they are not listed rather than listed as zeros.
    /// </summary>
    public static ResultTable Mem(PoolerServices services)
    {
        var (used, free) = services.ClientReceiveBuffers.Counts();
        return new ResultTable("name", "size:int4", "used:int4", "free:int4", "memtotal:int4")
            .Row("iobuf_cache", Net.ReceiveBufferPool.BlockSize, Int4(used), free, Int4((used + free) * Net.ReceiveBufferPool.BlockSize));
    }

    private static int Int4(long value) => (int)Math.Min(value, int.MaxValue);

    public static ResultTable Version() => new ResultTable("version").Row(VersionText);

    /// <summary>
    /// The first words are what pgbouncer_exporter and other tools parse to choose the columns
    /// they read ("PgBouncer 1.18.0"): these are 1.18's; then who actually answers.
    /// </summary>
    public static string VersionText => $"PgBouncer 1.18.0 (PgBouncerActors {typeof(ShowTables).Assembly.GetName().Version?.ToString(3)})";

    private static ResultTable SocketTable() => new("type", "user", "database", "state", "addr", "port:int4", "local_addr", "local_port:int4",
        "connect_time", "request_time", "wait:int4", "wait_us:int4", "close_needed:int4", "ptr", "link", "remote_pid:int4", "tls", "application_name");

    private static ResultTable StatsPartTable() => new("database", "xact_count:numeric", "query_count:numeric", "bytes_received:numeric",
        "bytes_sent:numeric", "xact_time:numeric", "query_time:numeric", "wait_time:numeric");

    /// <summary>The admin console's database is listed first, as in PgBouncer, counted or not.</summary>
    private static IEnumerable<(string Database, TrafficTotals Totals)> WithAdmin(IReadOnlyList<(string Database, TrafficTotals Totals)> byDatabase) =>
        byDatabase.Any(pair => pair.Database == AdminDatabase)
            ? byDatabase.OrderBy(pair => pair.Database == AdminDatabase ? 0 : 1)
            : byDatabase.Prepend((AdminDatabase, default));

    private static IEnumerable<PoolSnapshot> Sorted(IEnumerable<PoolSnapshot> pools) => PoolFigures.Sorted(pools);

    private static Dictionary<Akka.Actor.IActorRef, ServerSnapshot> ServersBySession(IEnumerable<PoolSnapshot> pools) =>
        pools.SelectMany(pool => pool.Servers).Where(server => server.Session is not null).GroupBy(server => server.Session!)
            .ToDictionary(group => group.Key, group => group.First());

    /// <summary>When the client last sent something; its connect time until it has a link.</summary>
    private static DateTime LastRequest(ClientEntry client) =>
        client.Link is { } link ? DateTime.UtcNow - link.SinceClientActive() : client.ConnectedAt;

    private static string Pointer(long id) => $"0x{id:x}";

    /// <summary>PgBouncer splits a wait into whole seconds (wait, maxwait) and the microseconds past them (wait_us, maxwait_us).</summary>
    private static int MicrosWithinSecond(TimeSpan wait) => wait.Microseconds + (wait.Milliseconds * 1000);


    private static string ModeName(PoolMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>"host:port" (IPv6 hosts contain colons: the port is after the last).</summary>
    private static (string Host, int Port) Split(string address)
    {
        var colon = address.LastIndexOf(':');
        return colon > 0 && int.TryParse(address.AsSpan(colon + 1), out var port) ? (address[..colon], port) : (address, 0);
    }
}
