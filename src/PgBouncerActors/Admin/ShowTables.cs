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
            "sv_tested:int4", "sv_login:int4", "maxwait:int4", "maxwait_us:int4", "pool_mode", "load_balance_hosts");
        var admin = services.Statistics.For(AdminPool).Clients();
        table.Row(AdminDatabase, AdminDatabase, admin.Length, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "statement", "");
        foreach (var figures in PoolFigures.Of(services, pools))
        {
            var pool = figures.Pool;
            table.Row(pool.Key.Database, pool.Key.User, figures.ClientsActive, figures.ClientsWaiting, figures.ClientsActiveCancel,
                figures.ClientsWaitingCancel, figures.ServersActive, figures.ServersActiveCancel, figures.ServersBeingCanceled, figures.ServersIdle,
                figures.ServersUsed, figures.ServersTested, figures.ServersLogin, (int)figures.MaxWait.TotalSeconds,
                MicrosWithinSecond(figures.MaxWait), ModeName(pool.Mode), LoadBalanceHostsName(services.Settings.FindDatabase(pool.Key.Database)));
        }

        return table;
    }

    public static ResultTable Clients(PoolerServices services, IReadOnlyList<PoolSnapshot> pools) =>
        ClientRows(services, pools).Aggregate(SocketTable(), (table, row) => table.Row(row.Values));

    public static ResultTable Servers(PoolerServices services, IReadOnlyList<PoolSnapshot> pools) =>
        ServerRows(services, pools).Aggregate(SocketTable(), (table, row) => table.Row(row.Values));

    /// <summary>
    /// SHOW SOCKETS: every client and server connection in one list, their states named by the
    /// list PgBouncer keeps them in (cl_active, sv_idle...), with its buffer columns; here a
    /// connection's buffers are the pipes', not one fixed buffer, so those are 0.
    /// </summary>
    public static ResultTable Sockets(PoolerServices services, IReadOnlyList<PoolSnapshot> pools, bool activeOnly = false)
    {
        var table = SocketTable("recv_pos:int4", "pkt_pos:int4", "pkt_remain:int4", "send_pos:int4", "send_remain:int4", "pkt_avail:int4", "send_avail:int4");
        var buffers = new object?[] { 0, 0, 0, 0, 0, 0, 0 };
        foreach (var (prefix, row) in ClientRows(services, pools).Select(row => ("cl_", row)).Concat(ServerRows(services, pools).Select(row => ("sv_", row))))
        {
            var values = row.Values.ToArray();
            if (activeOnly && values[SocketStateColumn] is not "active")
            {
                continue; // SHOW ACTIVE_SOCKETS: those in use now
            }

            values[SocketStateColumn] = prefix + values[SocketStateColumn];
            table.Row([.. values, .. buffers]);
        }

        return table;
    }

    /// <summary>SHOW DNS_HOSTS and DNS_ZONES: PgBouncer's DNS cache; names are resolved by the runtime here, with no cache of the pooler's to list.</summary>
    public static ResultTable DnsHosts() => new("hostname", "ttl:int8", "addrs");

    public static ResultTable DnsZones() => new("zonename", "serial:int8", "count:int4");

    /// <summary>SHOW PEER_POOLS: PgBouncer's pools towards its [peers]; an Akka.Cluster forwards cancels here instead, so there are none.</summary>
    public static ResultTable PeerPools() => new("peer_id:int4", "cl_active_cancel_req:int4", "cl_waiting_cancel_req:int4", "sv_active_cancel:int4", "sv_login:int4");

    private sealed record SocketRow(object?[] Values);

    private const int SocketStateColumn = 4;

    private static IEnumerable<SocketRow> ClientRows(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        var servers = ServersBySession(pools);
        foreach (var client in services.Statistics.Clients)
        {
            var server = servers.GetValueOrDefault(client.Session);
            // PgBouncer's states: waiting for a server connection, holding one, or between transactions without one.
            var state = client.Waiting ? "waiting" : server is not null ? "active" : "idle";
            var wait = client.WaitedSoFar;
            var (host, port) = Split(client.RemoteAddress);
            var (localHost, localPort) = Split(client.LocalAddress);
            yield return new SocketRow(["C", client.User, client.Database, client.Replication, state, host, port, localHost, localPort, client.ConnectedAt,
                LastRequest(client), (int)wait.TotalSeconds, MicrosWithinSecond(wait), 0, Pointer(client.Id),
                server is null ? "" : Pointer(server.Id), 0, client.Tls, client.ApplicationName, client.Link?.Statements?.Client.Count ?? 0, (int)client.Id]);
        }
    }

    private static IEnumerable<SocketRow> ServerRows(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
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
                yield return new SocketRow(["S", pool.Key.User, pool.Key.Database, ReplicationName(server.Connection?.Replication), server.State, host, port, localHost, localPort, server.ConnectedAt,
                    server.RequestAt, 0, 0, server.CloseNeeded, Pointer(server.Id), client is null ? "" : Pointer(client.Id), server.Connection?.ProcessId ?? 0, "",
                    server.Connection?.Parameters.GetValueOrDefault("application_name") ?? "", server.Connection?.Statements?.Count ?? 0, (int)server.Id]);
            }
        }
    }

    public static ResultTable Databases(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        // PgBouncer 1.25.2's columns and types ("ssissiiiissiiiiii").
        var table = new ResultTable("name", "host", "port:int4", "database", "force_user", "pool_size:int4", "min_pool_size:int4",
            "reserve_pool_size:int4", "server_lifetime:int4", "pool_mode", "load_balance_hosts", "max_connections:int4", "current_connections:int4",
            "max_client_connections:int4", "current_client_connections:int4", "paused:int4", "disabled:int4");
        foreach (var row in DatabaseRows(services, pools))
        {
            table.Row(row.Name, row.Host, row.Port, row.Database, row.ForceUser, row.PoolSize, row.MinPoolSize, row.ReservePoolSize, row.ServerLifetime,
                row.PoolMode, row.LoadBalanceHosts, row.MaxConnections, row.CurrentConnections, row.MaxClientConnections, row.CurrentClientConnections,
                row.Paused, row.Disabled);
        }

        return table;
    }

    /// <summary>SHOW DATABASES's rows, the admin console's first, for the console and /metrics alike.</summary>
    public static IReadOnlyList<DatabaseRow> DatabaseRows(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        var settings = services.Settings;
        var clientsOf = services.ClientLimits.ClientsOfDatabase; // the counts max_db_client_connections checks, left the moment a client goes
        var rows = new List<DatabaseRow>
        {
            new(AdminDatabase, "", settings.ListenPort, AdminDatabase, AdminDatabase, 2, 0, 0, (int)settings.ServerLifetime.TotalSeconds, "statement", "",
                0, 0, settings.MaxDbClientConnections, clientsOf(AdminDatabase), false, false),
        };
        var names = settings.Databases.Keys.Where(name => name != "*").Concat(pools.Select(pool => pool.Key.Database))
            .Where(name => name != AdminDatabase).Distinct().Order(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (settings.FindDatabase(name) is not { } database)
            {
                continue; // removed by a reload; its pools still serve the clients they have
            }

            var ofDatabase = pools.Where(pool => pool.Key.Database == name).ToList();
            rows.Add(new(name, database.Host, database.Port, database.ServerDatabase, database.User ?? "", database.PoolSize ?? settings.DefaultPoolSize,
                database.MinPoolSize ?? settings.MinPoolSize, database.ReservePoolSize ?? settings.ReservePoolSize, (int)settings.ServerLifetimeFor(database).TotalSeconds,
                database.PoolMode is { } mode ? ModeName(mode) : "", LoadBalanceHostsName(database),
                database.MaxDbConnections ?? settings.MaxDbConnections, ofDatabase.Sum(pool => pool.Servers.Count),
                database.MaxDbClientConnections ?? settings.MaxDbClientConnections, clientsOf(name),
                ofDatabase.Count > 0 && ofDatabase.All(pool => pool.Paused), services.DisabledDatabases.ContainsKey(name)));
        }

        return rows;
    }

    public static ResultTable Users(PoolerServices services, IReadOnlyList<PoolSnapshot> pools)
    {
        var settings = services.Settings;
        // PgBouncer 1.25.2's columns and types ("ssssiiii"); pool_size and reserve_pool_size are empty unless set for the user.
        var table = new ResultTable("name", "pool_size", "reserve_pool_size", "pool_mode", "max_user_connections:int4", "current_connections:int4",
            "max_user_client_connections:int4", "current_client_connections:int4");
        var clientsOf = services.ClientLimits; // the counts max_user_client_connections checks, left the moment a client goes
        var serversOf = pools.GroupBy(pool => pool.Key.User).ToDictionary(group => group.Key, group => group.Sum(pool => pool.Servers.Count));
        var names = services.UserList.Users.Concat(settings.Users.Keys).Concat(clientsOf.CountedUsers).Append(AdminDatabase).Distinct().Order(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var user = settings.Users.GetValueOrDefault(name);
            table.Row(name, user?.PoolSize?.ToString() ?? "", "", user?.PoolMode is { } mode ? ModeName(mode) : "", user?.MaxUserConnections ?? settings.MaxUserConnections,
                serversOf.GetValueOrDefault(name), user?.MaxUserClientConnections ?? settings.MaxUserClientConnections, clientsOf.ClientsOfUser(name));
        }

        return table;
    }

    /// <summary>SHOW STATS: PgBouncer 1.25.2's columns, totals then averages over the last stats_period.</summary>
    public static ResultTable Stats(PoolerServices services)
    {
        var table = new ResultTable(["database", .. StatsColumns("total_", "received", "sent", ""), .. StatsColumns("avg_", "recv", "sent", "")]);
        var period = services.LastPeriod;
        foreach (var (database, totals) in WithAdmin(services.Statistics.ByDatabase()))
        {
            table.Row([database, .. TotalValues(totals), .. AverageValues(period.Of(database))]);
        }

        return table;
    }

    public static ResultTable StatsTotals(PoolerServices services)
    {
        var table = new ResultTable(["database", .. StatsColumns("", "bytes_received", "bytes_sent", "")]);
        foreach (var (database, totals) in WithAdmin(services.Statistics.ByDatabase()))
        {
            table.Row([database, .. TotalValues(totals)]);
        }

        return table;
    }

    public static ResultTable StatsAverages(PoolerServices services)
    {
        var table = new ResultTable(["database", .. StatsColumns("", "bytes_received", "bytes_sent", "avg_")]);
        var period = services.LastPeriod;
        foreach (var (database, _) in WithAdmin(services.Statistics.ByDatabase()))
        {
            table.Row([database, .. AverageValues(period.Of(database))]);
        }

        return table;
    }

    /// <summary>SHOW TOTALS: one row per figure, every database together.</summary>
    public static ResultTable Totals(PoolerServices services)
    {
        var totals = services.Statistics.ByDatabase().Aggregate(default(TrafficTotals), (sum, pair) => sum + pair.Totals);
        var names = new[] { "server_assignment_count", "xact_count", "query_count", "client_bytes", "server_bytes", "xact_time", "query_time", "wait_time",
            "client_parse_count", "server_parse_count", "bind_count" };
        var table = new ResultTable("name", "value:numeric");
        foreach (var (name, value) in names.Zip(TotalValues(totals)))
        {
            table.Row("total_" + name, value);
        }

        foreach (var (name, value) in names.Zip(AverageValues(services.LastPeriod.Overall())))
        {
            table.Row("avg_" + name, value);
        }

        return table;
    }

    /// <summary>PgBouncer 1.25.2's statistics columns in its order; the byte columns and the parse counts' prefix differ between its tables.</summary>
    private static string[] StatsColumns(string prefix, string received, string sent, string parsePrefix) =>
    [
        $"{prefix}server_assignment_count:numeric", $"{prefix}xact_count:numeric", $"{prefix}query_count:numeric", $"{prefix}{received}:numeric",
        $"{prefix}{sent}:numeric", $"{prefix}xact_time:numeric", $"{prefix}query_time:numeric", $"{prefix}wait_time:numeric",
        $"{prefix}{parsePrefix}client_parse_count:numeric", $"{prefix}{parsePrefix}server_parse_count:numeric", $"{prefix}{parsePrefix}bind_count:numeric",
    ];

    private static object[] TotalValues(TrafficTotals totals) =>
    [
        totals.Assignments, totals.Transactions, totals.Queries, totals.Received, totals.Sent, totals.TransactionMicros, totals.QueryMicros,
        totals.WaitMicros, totals.ClientParses, totals.ServerParses, totals.Binds,
    ];

    private static object[] AverageValues(PeriodAverages.Averages avg) =>
    [
        avg.Assignments, avg.Transactions, avg.Queries, avg.Received, avg.Sent, avg.TransactionMicros, avg.QueryMicros, avg.WaitMicros,
        avg.ClientParses, avg.ServerParses, avg.Binds,
    ];

    /// <param name="sessions">Client sessions open now, logged in or not.</param>
    public static ResultTable Lists(PoolerServices services, IReadOnlyList<PoolSnapshot> pools, int sessions) =>
        ListItems(services, pools, DatabaseRows(services, pools), sessions)
            .Aggregate(new ResultTable("list", "items:int4"), (table, item) => table.Row(item.List, item.Items));

    /// <summary>SHOW LISTS's rows; <paramref name="databases"/> are SHOW DATABASES's, which it counts.</summary>
    public static IReadOnlyList<(string List, int Items)> ListItems(PoolerServices services, IReadOnlyList<PoolSnapshot> pools,
        IReadOnlyList<DatabaseRow> databases, int sessions)
    {
        var loggedIn = services.Statistics.Clients.Count();
        return
        [
            ("databases", databases.Count),
            ("users", Users(services, pools).RowCount),
            ("pools", pools.Count + 1),
            ("free_clients", Math.Max(0, services.Settings.MaxClientConnections - sessions)),
            ("used_clients", loggedIn),
            ("login_clients", Math.Max(0, sessions - loggedIn)),
            ("free_servers", 0),
            ("used_servers", pools.Sum(pool => pool.Servers.Count)),
            ("dns_names", 0), ("dns_zones", 0), ("dns_queries", 0), ("dns_pending", 0),
        ];
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
    /// they read ("PgBouncer 1.25.2"): the console's columns follow 1.25.2's; then who actually answers.
    /// </summary>
    public static string VersionText => $"PgBouncer 1.25.2 (PgBouncerActors {typeof(ShowTables).Assembly.GetName().Version?.ToString(3)})";

    /// <summary>The replication column as PgBouncer words it, from the startup parameter's value the connection was opened with.</summary>
    internal static string ReplicationName(string? mode) => mode switch
    {
        null => "none",
        "database" => "logical",
        _ => "physical",
    };

    /// <summary>SHOW DATABASES and POOLS load_balance_hosts: PgBouncer's words, for a host list only.</summary>
    internal static string LoadBalanceHostsName(Configuration.DatabaseSettings? database) => database is { Hosts.Count: > 1 }
        ? database.LoadBalanceHosts == Configuration.LoadBalanceHosts.RoundRobin ? "round-robin" : "disable"
        : "";

    /// <summary>SHOW CLIENTS and SERVERS: PgBouncer 1.25.2's columns (replication, prepared_statements and id included).</summary>
    private static ResultTable SocketTable(params string[] debug) => new(["type", "user", "database", "replication", "state", "addr", "port:int4", "local_addr", "local_port:int4",
        "connect_time", "request_time", "wait:int4", "wait_us:int4", "close_needed:int4", "ptr", "link", "remote_pid:int4", "tls", "application_name",
        "prepared_statements:int4", "id:int4", .. debug]);

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
