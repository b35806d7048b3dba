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
        	SHOW LISTS|MEM|PEERS|CLUSTER
        	SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS
        	SET key = arg
        	RELOAD
        	PAUSE [<db>]
        	RESUME [<db>]
        	DISABLE <db>
        	ENABLE <db>
        	RECONNECT [<db>]
        	KILL <db>
        	KILL_CLIENT <id>
        	SHUTDOWN
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
            case ("PAUSE" or "RESUME" or "RECONNECT" or "WAIT_CLOSE", []):
                await CommandPoolsAsync(command.Verb, null, cancellationToken).ConfigureAwait(false);
                break;
            case ("PAUSE" or "RESUME" or "RECONNECT" or "WAIT_CLOSE" or "KILL" or "DISABLE" or "ENABLE", [var database]):
                await CommandPoolsAsync(command.Verb, KnownDatabase(database), cancellationToken).ConfigureAwait(false);
                break;
            case ("KILL" or "DISABLE" or "ENABLE", []):
                throw Refused(SqlStates.ProtocolViolation, "a database is required");
            case ("KILL_CLIENT", [var id]):
                KillClient(id);
                break;
            case ("SUSPEND", []):
                throw Refused(SqlStates.FeatureNotSupported, "SUSPEND is not supported: it hands sockets over for an online restart, which this pooler does not do",
                    hint: "use PAUSE to hold clients while the database restarts, or a rolling restart of pooler instances");
            case ("SHUTDOWN", []):
                services.Log.Information("SHUTDOWN on the admin console: stopping as on SIGTERM");
                services.RequestShutdown();
                break;
            case ("RELOAD", []):
                Reload();
                break;
            case ("SET", _):
                answer.CommandComplete(Set(command));
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
            case "USERS":
                ShowTables.Users(services).WriteTo(answer);
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
            "STATE" => ShowTables.State(described),
            "LISTS" => ShowTables.Lists(services, snapshot,
                await sessions.Ask<int>(CountSessions.Instance, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false)),
            _ => throw Invalid(command.Text),
        };
        table.WriteTo(answer);
    }

    private Task<PoolsDescribed> DescribeAsync(CancellationToken cancellationToken) =>
        pools.Ask<PoolsDescribed>(DescribePools.Instance, TimeSpan.FromSeconds(10), cancellationToken);

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
                foreach (var client in services.Statistics.Clients.Where(client => client.Database == database))
                {
                    client.Session.Tell(new KillSession("KILL on the admin console", PgError.FatalError(SqlStates.AdminShutdown,
                        $"terminating connection: database \"{database}\" was killed on the pooler's admin console")));
                }

                break;
        }

        var command = Enum.Parse<PoolCommand>(verb.Replace("_", ""), ignoreCase: true);
        services.Log.Information("{Command} {Database} on the admin console", verb, database ?? "(all databases)");
        if (await pools.Ask<object>(new CommandPools(command, database), cancellationToken).ConfigureAwait(false) is NothingPaused)
        {
            throw Refused(SqlStates.ProtocolViolation, database is null ? "pooler is not paused/suspended" : $"database {database} is not paused");
        }
    }

    private void KillClient(string id)
    {
        var number = id.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && long.TryParse(id.AsSpan(2), System.Globalization.NumberStyles.HexNumber, null, out var hex)
            ? hex
            : long.TryParse(id, out var plain) ? plain : -1;
        var client = services.Statistics.Clients.FirstOrDefault(client => client.Id == number)
            ?? throw Refused(SqlStates.ProtocolViolation, $"client {id} not found", hint: "SHOW CLIENTS lists the clients; their ptr is what KILL_CLIENT takes");
        client.Session.Tell(new KillSession("KILL_CLIENT on the admin console",
            PgError.FatalError(SqlStates.AdminShutdown, "terminating connection: the client was killed on the pooler's admin console (KILL_CLIENT)")));
    }

    private void Reload()
    {
        try
        {
            services.Reload();
        }
        catch (ConfigurationException e)
        {
            throw Refused(SqlStates.ConfigFileError, $"RELOAD failed, the running configuration stays: {e.Message}");
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

        try
        {
            services.Apply(ConfigView.Set(services.Settings, setting, value));
        }
        catch (ConfigurationException e)
        {
            throw Refused(SqlStates.ProtocolViolation, $"SET failed: {e.Message}");
        }

        return $"SET {setting.Key}={value}";
    }

    private string KnownDatabase(string database)
    {
        var settings = services.Settings;
        return settings.Databases.ContainsKey(database) || services.Statistics.Pools.Any(pool => pool.Key.Database == database)
            ? database
            : throw Refused(SqlStates.ProtocolViolation, $"no such database: {database}");
    }

    private static ConsoleError Invalid(string text) => Refused(SqlStates.ProtocolViolation, $"invalid command '{text}', use SHOW HELP;");

    private static ConsoleError Refused(string sqlState, string message, string? hint = null) => new(PgError.Error(sqlState, message, hint: hint));

    private sealed class ConsoleError(PgError error) : Exception(error.Message)
    {
        public PgError Error { get; } = error;
    }
}
