using System.Diagnostics;
using Akka.Actor;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Stats;

/// <summary>
/// Defence in depth behind the desk (ARCHITECTURE invariant 8): a client that has had a request
/// without a server connection, neither queued for one nor waiting on the server, look after look
/// for longer than link_watchdog, is a bug of the pooler (a wait nobody will end). It is logged once per client, with the state of its
/// link and its pool's desk, as a report to file; query_wait_timeout does not see it, since it is
/// not waiting. Every second, over the clients SHOW CLIENTS lists; nothing when link_watchdog is 0.
/// </summary>
internal sealed class LinkWatchdogActor : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    public ITimerScheduler Timers { get; set; } = null!;
    private readonly PoolerServices _services;
    private readonly HashSet<long> _reported = [];
    private readonly UnaccountedRequests _unaccounted = new();

    public LinkWatchdogActor(PoolerServices services)
    {
        _services = services;
        Receive<Tick>(_ => Look());
    }

    public static Props Props(PoolerServices services) => ActorProps.Of(() => new LinkWatchdogActor(services));

    protected override void PreStart() => Timers.StartPeriodicTimer("look", Tick.Instance, Interval);

    private void Look()
    {
        var limit = _services.Settings.LinkWatchdog;
        if (limit <= TimeSpan.Zero)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        var present = new HashSet<long>();
        foreach (var client in _services.Statistics.Clients)
        {
            present.Add(client.Id);
            if (client.Link is not { } link)
            {
                continue;
            }

            var since = link.UnaccountedRequestSince();
            if (_unaccounted.Look(client.Id, since, now) is var stuck && stuck <= limit || !_reported.Add(client.Id))
            {
                continue;
            }

            _services.Log.Error(
                "bug: client {Client} (db={Database} user={User} addr={Address}) has had a request without a server connection for {Seconds:0.0}s " +
                "and has been neither queued for one nor waiting on the server for {Stuck:0.0}s: link state {State}, desk {Desk}; please report it with this line",
                client.Id, client.Database, client.User, client.RemoteAddress, Stopwatch.GetElapsedTime(since, now).TotalSeconds, stuck.TotalSeconds,
                link.State.ToString(), link.Desk?.Counts.ToString() ?? "none");
        }

        _reported.IntersectWith(present); // clients that left are forgotten
        _unaccounted.KeepOnly(present);
    }

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }
}
