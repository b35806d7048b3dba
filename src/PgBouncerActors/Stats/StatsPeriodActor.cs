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
        // PgBouncer 1.25's line and systemd STATUS (`systemctl status` shows the last period's).
        var line = $"stats: {overall.Transactions} xacts/s, {overall.Queries} queries/s, {overall.ClientParses} client parses/s, " +
                   $"{overall.ServerParses} server parses/s, {overall.Binds} binds/s, in {overall.Received} B/s, out {overall.Sent} B/s, " +
                   $"xact {overall.TransactionMicros} us, query {overall.QueryMicros} us, wait {overall.WaitMicros} us";
        if (_services.Settings.LogStats)
        {
            _services.Log.Information("{Stats}", line);
        }

        Hosting.SystemdNotify.Status(line.Replace(" us", " μs", StringComparison.Ordinal));
    }

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }
}
