using Akka.Actor;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Session;

namespace PgBouncerActors.Admin;

/// <summary>
/// PgBouncer's admin console: one simple query at a time, answered as PgBouncer answers it
/// (tables, command tags, NOTICEs, errors). SHOW commands are for admin_users and stats_users;
/// everything else for admin_users only.
/// </summary>
internal sealed class AdminConsole(PoolerServices services, IActorRef pools, IActorRef sessions, bool isAdmin)
{
    private const string Help = """
        SHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION|STATE
        	SHOW LISTS|MEM|SOCKETS|ACTIVE_SOCKETS|DNS_HOSTS|DNS_ZONES|PEERS|PEER_POOLS|CLUSTER
        	SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS
        	SET key = arg
        	RELOAD
        	PAUSE [<db>]
        	RESUME [<db>]
        	DISABLE <db>
        	ENABLE <db>
        	RECONNECT [<db>]
        	KILL [<db>]
        	KILL_CLIENT <id>
        	SHUTDOWN
        	SHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS
        	WAIT_CLOSE [<db>]
        """;

    private static readonly HashSet<string> Verbs =
        ["SHOW", "PAUSE", "RESUME", "DISABLE", "ENABLE", "RECONNECT", "KILL", "KILL_CLIENT", "SUSPEND", "SHUTDOWN", "RELOAD", "WAIT_CLOSE", "SET"];

    /// <summary>Runs one query's text and writes its whole answer, ReadyForQuery excepted.</summary>
    public async Task ExecuteAsync(string query, MessageBuilder answer, CancellationToken cancellationToken)
    {
        var command = ConsoleCommand.Parse(query);
        try
        {
            if (command is null)
            {
                answer.EmptyQueryResponse();
                return;
            }

            if (command.Several || !Verbs.Contains(command.Verb))
            {
                throw Invalid(command.Text);
            }

            if (command.Verb != "SHOW" && !isAdmin)
            {
                throw Refused(SqlStates.InsufficientPrivilege, "admin access needed");
            }

            await RunAsync(command, answer, cancellationToken).ConfigureAwait(false);
        }
        catch (ConsoleError error)
        {
            answer.Error(error.Error);
        }
    }

    private async Task RunAsync(ConsoleCommand command, MessageBuilder answer, CancellationToken cancellationToken)
    {
        switch (command.Verb, command.Arguments)
        {
            case ("SHOW", [var what]):
                await ShowAsync(what.ToUpperInvariant(), command, answer, cancellationToken).ConfigureAwait(false);
                return;
            case ("RESUME", []) when services.Stopping is not null:
                throw Refused(SqlStates.ProtocolViolation, "pooler is shutting down");
            case ("PAUSE" or "RESUME" or "RECONNECT" or "WAIT_CLOSE" or "KILL", []):
                await CommandPoolsAsync(command.Verb, null, cancellationToken).ConfigureAwait(false);
                break;
            case ("PAUSE" or "RESUME" or "RECONNECT" or "WAIT_CLOSE" or "KILL" or "DISABLE" or "ENABLE", [var database]):
                await CommandPoolsAsync(command.Verb, KnownDatabase(database), cancellationToken).ConfigureAwait(false);
                break;
            case ("DISABLE" or "ENABLE", []):
                throw Refused(SqlStates.ProtocolViolation, "a database is required");
            case ("KILL_CLIENT", [var id]):
                await KillClientAsync(id, cancellationToken).ConfigureAwait(false);
                break;
            case ("SUSPEND", []):
                throw Refused(SqlStates.FeatureNotSupported, "SUSPEND is not supported: it hands sockets over for an online restart, which this pooler does not do",
                    hint: "use PAUSE to hold clients while the database restarts, or a rolling restart of pooler instances");
            case ("SHUTDOWN", []):
                Shutdown("SHUTDOWN", ShutdownMode.Immediate);
                break;
            case ("SHUTDOWN", [var wait]) when wait.Equals("WAIT_FOR_CLIENTS", StringComparison.OrdinalIgnoreCase):
                Shutdown("SHUTDOWN WAIT_FOR_CLIENTS", ShutdownMode.WaitForClients);
                break;
            case ("SHUTDOWN", [var wait]) when wait.Equals("WAIT_FOR_SERVERS", StringComparison.OrdinalIgnoreCase):
                Shutdown("SHUTDOWN WAIT_FOR_SERVERS", ShutdownMode.WaitForServers);
                break;
            case ("RELOAD", []):
                Reload();
                await UntilPoolsHaveTheSettingsAsync(cancellationToken).ConfigureAwait(false);
                break;
            case ("SET", _):
                var set = Set(command);
                await UntilPoolsHaveTheSettingsAsync(cancellationToken).ConfigureAwait(false);
                answer.CommandComplete(set);
                return;
            default:
                throw Invalid(command.Text);
        }

        answer.CommandComplete(command.Verb);
    }

    private async Task ShowAsync(string what, ConsoleCommand command, MessageBuilder answer, CancellationToken cancellationToken)
    {
        switch (what)
        {
            case "HELP":
                answer.Notice(new PgError("NOTICE", "00000", "Console usage", Detail: "\n\t" + Help.Replace("\r", "")));
                answer.CommandComplete("SHOW");
                return;
            case "VERSION":
                ShowTables.Version().WriteTo(answer);
                return;
            case "CONFIG":
                ConfigView.Show(services.Settings).WriteTo(answer);
                return;
            case "STATS":
                ShowTables.Stats(services).WriteTo(answer);
                return;
            case "STATS_TOTALS":
                ShowTables.StatsTotals(services).WriteTo(answer);
                return;
            case "STATS_AVERAGES":
                ShowTables.StatsAverages(services).WriteTo(answer);
                return;
            case "TOTALS":
                ShowTables.Totals(services).WriteTo(answer);
                return;
            case "MEM":
                ShowTables.Mem(services).WriteTo(answer);
                return;
            case "PEERS":
                (await ClusterTables.PeersAsync(services, cancellationToken).ConfigureAwait(false)).WriteTo(answer);
                return;
            case "CLUSTER":
                (await ClusterTables.ClusterAsync(services, cancellationToken).ConfigureAwait(false)).WriteTo(answer);
                return;
        }

        var described = await DescribeAsync(cancellationToken).ConfigureAwait(false);
        var snapshot = described.Pools;
        var table = what switch
        {
            "POOLS" => ShowTables.Pools(services, snapshot),
            "CLIENTS" => ShowTables.Clients(services, snapshot),
            "SERVERS" => ShowTables.Servers(services, snapshot),
            "DATABASES" => ShowTables.Databases(services, snapshot),
            "USERS" => ShowTables.Users(services, snapshot),
            "SOCKETS" => ShowTables.Sockets(services, snapshot),
            "ACTIVE_SOCKETS" => ShowTables.Sockets(services, snapshot, activeOnly: true),
            "DNS_HOSTS" => ShowTables.DnsHosts(),
            "DNS_ZONES" => ShowTables.DnsZones(),
            "PEER_POOLS" => ShowTables.PeerPools(),
            "STATE" => ShowTables.State(described),
            "LISTS" => ShowTables.Lists(services, snapshot,
                await sessions.Ask<int>(CountSessions.Instance, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false)),
            _ => throw Invalid(command.Text),
        };
        table.WriteTo(answer);
    }

    private Task<PoolsDescribed> DescribeAsync(CancellationToken cancellationToken) =>
        pools.Ask<PoolsDescribed>(DescribePools.Instance, TimeSpan.FromSeconds(10), cancellationToken);

    /// <summary>
    /// The stop begins before the command is answered: the issuer's next command (RESUME: "pooler is
    /// shutting down") and, in WAIT_FOR_SERVERS, every client's next transaction see it at once.
    /// </summary>
    private void Shutdown(string command, ShutdownMode mode)
    {
        services.Log.Information("{Command} command issued", command);
        services.BeginStopping(mode);
        services.RequestShutdown(mode);
    }

    /// <summary>PAUSE, RESUME, RECONNECT, KILL, WAIT_CLOSE go to the pools; DISABLE and ENABLE only change who may log in.</summary>
    private async Task CommandPoolsAsync(string verb, string? database, CancellationToken cancellationToken)
    {
        switch (verb)
        {
            case "DISABLE":
                services.DisabledDatabases[database!] = true;
                return;
            case "ENABLE":
                services.DisabledDatabases.TryRemove(database!, out _);
                return;
            case "KILL":
                // Without a database: every client but the console's, as PgBouncer's KILL.
                var killed = services.Statistics.Clients
                    .Where(client => database is null ? client.Database != ShowTables.AdminDatabase : client.Database == database).ToList();
                foreach (var client in killed)
                {
                    client.Session.Tell(new KillSession("KILL on the admin console", PgError.FatalError(SqlStates.AdminShutdown,
                        $"terminating connection: database \"{client.Database}\" was killed on the pooler's admin console")));
                }

                await UntilGoneAsync(killed.Select(client => client.Id).ToList(), cancellationToken).ConfigureAwait(false);

                break;
        }

        var command = Enum.Parse<PoolCommand>(verb.Replace("_", ""), ignoreCase: true);
        services.Log.Information("{Command} {Database} on the admin console", verb, database ?? "(all databases)");
        if (await pools.Ask<object>(new CommandPools(command, database), cancellationToken).ConfigureAwait(false) is NothingPaused)
        {
            throw Refused(SqlStates.ProtocolViolation, database is null ? "pooler is not paused/suspended" : $"database {database} is not paused");
        }
    }

    private async Task KillClientAsync(string id, CancellationToken cancellationToken)
    {
        // PgBouncer's words (scripts match them): a malformed id, then one that names nobody.
        var number = id.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && long.TryParse(id.AsSpan(2), System.Globalization.NumberStyles.HexNumber, null, out var hex)
            ? hex
            : long.TryParse(id, out var plain) ? plain
            : throw Refused(SqlStates.ProtocolViolation, "invalid client pointer supplied", hint: "SHOW CLIENTS lists the clients; KILL_CLIENT takes their id or ptr");
        var client = services.Statistics.Clients.FirstOrDefault(client => client.Id == number)
            ?? throw Refused(SqlStates.ProtocolViolation, "client not found", detail: $"no client has id {id}",
                hint: "SHOW CLIENTS lists the clients; KILL_CLIENT takes their id or ptr");
        client.Session.Tell(new KillSession("KILL_CLIENT on the admin console",
            PgError.FatalError(SqlStates.AdminShutdown, "terminating connection: the client was killed on the pooler's admin console (KILL_CLIENT)")));
        await UntilGoneAsync([client.Id], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// KILL and KILL_CLIENT answer once the clients are gone, as PgBouncer's (it closes them before
    /// it answers), so the next SHOW CLIENTS no longer lists them; bounded, as a session ends in
    /// moments (its server connection, if dirty, is closed rather than waited for).
    /// </summary>
    private async Task UntilGoneAsync(IReadOnlyCollection<long> ids, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline && services.Statistics.AnyNotEnded(ids))
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// RELOAD and SET answer once every pool has the new settings, as PgBouncer's (it applies them
    /// before it answers): a reload that replaces server connections (server_tls_*, a moved
    /// database) is in force for the next transaction the operator runs. Each pool hears of the
    /// settings in a message; this asks each after it, bounded.
    /// </summary>
    private async Task UntilPoolsHaveTheSettingsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await pools.Ask<object>(new CommandPools(PoolCommand.Settle, null), TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        catch (Akka.Actor.AskTimeoutException)
        {
            services.Log.Warning("the pools took more than 5s to take new settings; they are in force, the console answered without waiting for them");
        }
    }

    private void Reload()
    {
        try
        {
            services.Reload();
        }
        catch (ConfigurationException e)
        {
            // PgBouncer's words, which scripts match; what was wrong is in the reload's own line and, here, in the detail
            // (once in the log: an alert counting the error's words counts one failed reload once).
            services.Log.Error("RELOAD failed, the running configuration stays");
            throw Refused(SqlStates.ConfigFileError, "RELOAD failed, see logs for additional details", detail: e.Message);
        }
    }

    /// <summary>SET key = value: the setting as if the file said so, applied as RELOAD applies settings.</summary>
    private string Set(ConsoleCommand command)
    {
        if (command.SetKey is not { } key || command.SetValue is not { } value)
        {
            throw Refused(SqlStates.ProtocolViolation, "SET takes key = value", hint: "for example SET default_pool_size = 30");
        }

        var setting = ConfigView.Find(key) ?? throw Refused(SqlStates.ProtocolViolation, $"SET failed: unknown setting '{key}'",
            hint: "SHOW CONFIG lists the settings");
        if (!setting.Changeable)
        {
            throw Refused(SqlStates.CantChangeRuntimeParam, $"SET failed: {setting.Key} cannot change while the pooler runs; change it in the file and restart");
        }

        PoolerSettings? changed = null;
        try
        {
            changed = ConfigView.Set(services.Settings, setting, value);
            services.Apply(changed);
        }
        catch (ConfigurationException e) when (changed is not null && setting.TlsKept?.Invoke(changed) is { } kept)
        {
            services.ApplyKeepingTls(changed);
            services.Log.Write(kept.Level, "SET {Setting}: {Reason}; {Kept}", setting.Key, e.Message, kept.Text);
        }
        catch (ConfigurationException e)
        {
            throw Refused(SqlStates.ProtocolViolation, $"SET failed: {e.Message}");
        }

        return $"SET {setting.Key}={value}";
    }

    /// <summary>The file a SET of one half of a certificate and key pair names; null for any other setting.</summary>
    private string KnownDatabase(string database)
    {
        var settings = services.Settings;
        return settings.Databases.ContainsKey(database) || services.Statistics.Pools.Any(pool => pool.Key.Database == database)
            ? database
            : throw Refused(SqlStates.ProtocolViolation, $"no such database: {database}");
    }

    private static ConsoleError Invalid(string text) => Refused(SqlStates.ProtocolViolation, $"invalid command '{text}', use SHOW HELP;");

    private static ConsoleError Refused(string sqlState, string message, string? hint = null, string? detail = null) =>
        new(PgError.Error(sqlState, message, detail, hint));

    private sealed class ConsoleError(PgError error) : Exception(error.Message)
    {
        public PgError Error { get; } = error;
    }
}
