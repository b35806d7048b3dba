using System.Diagnostics;
using System.IO.Pipelines;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Proxy;
using PgBouncerActors.Stats;
using PgBouncerActors.Tests.Integration;
using Serilog;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Pool;

/// <summary>
/// Defence in depth: a client with a request that is neither queued for a server connection nor
/// waiting on the server is a wait nobody will end. query_wait_timeout cannot see it (it is not
/// waiting), so the watchdog reports it, once, with the state of its link; a client that waits in
/// its pool's queue, however long, is not a bug and is never reported.
/// </summary>
public sealed class LinkWatchdogSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(AkkaSpecConfig.With(), output: output)
{
    private readonly LogCapture _log = new();

    private PoolerServices Services() => new(SettingsLoader.LoadString("""
        pgbouncer { listen_port = 0, auth_type = trust }
        pgbouncer-actors.link_watchdog = 1s
        """), new LoggerConfiguration().WriteTo.Sink(_log).CreateLogger(), Sys);

    /// <summary>A logged-in client as SHOW CLIENTS lists it, with <paramref name="link"/>.</summary>
    private static ClientEntry Join(PoolerServices services, ClientLink link)
    {
        var entry = new ClientEntry(services.Statistics.NextClientId(), Akka.Actor.ActorRefs.Nobody, "app", "alice", "127.0.0.1:1", "127.0.0.1:6432", "")
        {
            Link = link,
        };
        services.Statistics.For(new PoolKey("app", "alice")).Joined(entry);
        return entry;
    }

    [Fact]
    public async Task A_request_neither_queued_nor_served_is_reported_once_with_its_link_state_and_a_queued_one_never()
    {
        var services = Services();
        var stuck = Join(services, new ClientLink());
        stuck.Link!.WantsServerSince(Stopwatch.GetTimestamp() - Stopwatch.Frequency * 2); // a client loop that got nowhere two seconds ago

        var desk = new LendingDesk(new DeskPolicy(1), () => TimeSpan.Zero, new RecordingDeskOwner());
        desk.Pause("PAUSE"); // nothing is lent: the next request waits in the queue
        var queuedLink = new ClientLink();
        queuedLink.Lend(new LinkLending(desk, services, new Pipe().Writer, PoolMode.Transaction, Releases: true,
            new Dictionary<string, string>(), static (_, _, _) => { }, null, null, CancellationToken.None));
        var waiting = queuedLink.AcquireAsync();
        queuedLink.WantsServerSince(Stopwatch.GetTimestamp() - Stopwatch.Frequency * 2); // queued for two seconds already
        var queued = Join(services, queuedLink);

        Sys.ActorOf(LinkWatchdogActor.Props(services));
        // The bound is generous: on CI's two cores this spec runs beside the integration specs, whose
        // load once held the watchdog's first look back for more than five seconds.
        await AwaitConditionAsync(() => Task.FromResult(_log.Count("bug: client") > 0), TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // two more rounds of the watchdog

        var report = Assert.Single(_log.Lines, line => line.StartsWith("bug: client", StringComparison.Ordinal));
        Assert.Contains($"client {stuck.Id} ", report);
        Assert.Contains("link state Free", report);
        Assert.DoesNotContain(_log.Lines, line => line.Contains($"client {queued.Id} ", StringComparison.Ordinal));
        Assert.False(waiting.IsCompleted);
    }

    [Fact]
    public void A_request_served_after_a_long_turn_in_the_queue_and_caught_at_its_hand_over_is_not_stuck_but_one_unaccounted_look_after_look_is()
    {
        var unaccounted = new UnaccountedRequests();
        var second = Stopwatch.Frequency;
        var now = Stopwatch.GetTimestamp();
        var queuedAt = now - 10 * second; // its turn in the queue took ten seconds

        // One look catches it between the hand-over and its SET: however old the request, that is no bug.
        Assert.Equal(TimeSpan.Zero, unaccounted.Look(7, queuedAt, now));
        // The next look finds it served (or queued again, or waiting on the server): forgotten.
        Assert.Equal(TimeSpan.Zero, unaccounted.Look(7, 0, now + second));
        Assert.Equal(TimeSpan.Zero, unaccounted.Look(7, queuedAt, now + 2 * second));

        // Found unaccounted look after look: stuck since the first of them.
        Assert.Equal(TimeSpan.FromSeconds(3), unaccounted.Look(7, queuedAt, now + 5 * second));
        // A new request of the same client starts the count again.
        Assert.Equal(TimeSpan.Zero, unaccounted.Look(7, queuedAt + 6 * second, now + 6 * second));
        // A client that left is forgotten.
        unaccounted.KeepOnly([]);
        Assert.Equal(TimeSpan.Zero, unaccounted.Look(7, queuedAt + 6 * second, now + 7 * second));
    }
}
