using Akka.Actor;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Stats;

/// <summary>
/// Every stats_period: what changed since the last period, per database, becomes SHOW STATS's
/// averages, and PgBouncer's stats line goes to the log. Reads the counters; never touches a session.
/// </summary>
internal sealed class StatsPeriodActor : ReceiveActor, IWithTimers
{
    public ITimerScheduler Timers { get; set; } = null!;
    private readonly PoolerServices _services;
    private Dictionary<string, TrafficTotals> _previous = [];
    private DateTime _previousAt = DateTime.UtcNow;

    public StatsPeriodActor(PoolerServices services)
    {
        _services = services;
        Receive<Tick>(_ => OnPeriod());
    }

    public static Props Props(PoolerServices services) => ActorProps.Of(() => new StatsPeriodActor(services));

    protected override void PreStart()
    {
        _previous = Now();
        Timers.StartPeriodicTimer("period", Tick.Instance, _services.Settings.StatsPeriod);
    }

    private Dictionary<string, TrafficTotals> Now() =>
        _services.Statistics.ByDatabase().ToDictionary(pair => pair.Database, pair => pair.Totals, StringComparer.Ordinal);

    private void OnPeriod()
    {
        var now = Now();
        var at = DateTime.UtcNow;
        var changes = now.ToDictionary(pair => pair.Key, pair => pair.Value - _previous.GetValueOrDefault(pair.Key), StringComparer.Ordinal);
        var averages = new PeriodAverages(at - _previousAt, changes);
        _services.LastPeriod = averages;
        _previous = now;
        _previousAt = at;
        var overall = averages.Overall();
        // PgBouncer 1.25's line, each figure a value of its own (log_format = json), and systemd's STATUS (`systemctl status`).
        object[] figures = [overall.Transactions, overall.Queries, overall.ClientParses, overall.ServerParses, overall.Binds, overall.Received, overall.Sent,
            overall.TransactionMicros, overall.QueryMicros, overall.WaitMicros];
        if (_services.Settings.LogStats)
        {
            _services.Log.Information(StatsLine, figures);
        }

        if (_services.Log.BindMessageTemplate(StatsLine, figures, out var template, out var values))
        {
            Hosting.SystemdNotify.Status(template.Render(values.ToDictionary(value => value.Name, value => value.Value)).Replace(" us", " μs", StringComparison.Ordinal));
        }
    }

    private const string StatsLine = "stats: {Transactions} xacts/s, {Queries} queries/s, {ClientParses} client parses/s, {ServerParses} server parses/s, " +
        "{Binds} binds/s, in {Received} B/s, out {Sent} B/s, xact {TransactionMicros} us, query {QueryMicros} us, wait {WaitMicros} us";

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }
}
