using System.Diagnostics;
using Akka.Actor;
using PgBouncerActors.Hosting;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Scheduling;

/// <summary>
/// The scheduler the pooler gives Akka (hocon/reference.conf): timers on .NET's timer queue, so an
/// idle pooler is not woken a hundred times a second. Every timer an actor starts goes through it
/// (client_login_timeout, the pools' janitor, the stats period, backoff), so it must keep Akka's
/// promises: work runs once when due, repeats until cancelled, and never runs once cancelled.
/// </summary>
public sealed class TimerQueueSchedulerSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(
    AkkaSpecConfig.With("akka.scheduler.implementation = \"PgBouncerActors.Hosting.TimerQueueScheduler, pgbouncer-actors\""), output: output)
{
    [Fact]
    public void The_pooler_runs_its_actors_on_it()
    {
        // The actor system's configuration as the pooler builds it, from hocon/reference.conf under a deployment's file.
        var settings = PgBouncerActors.Configuration.SettingsLoader.LoadString("pgbouncer { listen_port = 0, auth_type = trust }");
        var named = PoolerHost.ActorSystemConfig(settings).GetString("akka.scheduler.implementation");
        Assert.Equal(typeof(TimerQueueScheduler), Type.GetType(named, throwOnError: true));
        Assert.IsType<TimerQueueScheduler>(Sys.Scheduler);
    }

    [Fact]
    public void A_tell_scheduled_once_arrives_once_when_due()
    {
        var started = Stopwatch.StartNew();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(200), TestActor, "due", ActorRefs.NoSender);
        ExpectMsg("due", TimeSpan.FromSeconds(5));
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(190), $"it arrived after {started.Elapsed.TotalMilliseconds} ms");
        ExpectNoMsg(TimeSpan.FromMilliseconds(400));
    }

    [Fact]
    public void A_delay_longer_than_a_timer_takes_is_accepted_and_not_due_now()
    {
        // Akka's wheel took any delay; a .NET Timer takes at most ~49.7 days (a client_login_timeout of a year, say).
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromDays(365), TestActor, "a year on", ActorRefs.NoSender);
        Sys.Scheduler.ScheduleTellRepeatedly(TimeSpan.FromDays(365), TimeSpan.FromDays(365), TestActor, "every year", ActorRefs.NoSender);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Work_cancelled_before_it_is_due_never_runs()
    {
        var cancel = new Cancelable(Sys.Scheduler);
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(200), TestActor, "cancelled", ActorRefs.NoSender, cancel);
        var ran = 0;
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(200), () => Interlocked.Increment(ref ran), cancel);
        cancel.Cancel();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(400), TestActor, "kept", ActorRefs.NoSender);
        ExpectMsg("kept", TimeSpan.FromSeconds(5)); // the cancelled tell, due first, never came
        Assert.Equal(0, Volatile.Read(ref ran));
        var already = new Cancelable(Sys.Scheduler);
        already.Cancel();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.Zero, TestActor, "cancelled before it was scheduled", ActorRefs.NoSender, already);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Repeating_work_repeats_until_cancelled_and_an_actor_timer_stops_with_its_actor()
    {
        var cancel = new Cancelable(Sys.Scheduler);
        Sys.Scheduler.ScheduleTellRepeatedly(TimeSpan.Zero, TimeSpan.FromMilliseconds(50), TestActor, "tick", ActorRefs.NoSender, cancel);
        for (var i = 0; i < 4; i++)
        {
            ExpectMsg("tick", TimeSpan.FromSeconds(5));
        }

        cancel.Cancel();
        ReceiveWhile(TimeSpan.FromMilliseconds(100), message => message); // one already on its way
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        var ticker = Sys.ActorOf(Props.Create(() => new Ticker(TestActor)));
        ExpectMsg("tick", TimeSpan.FromSeconds(5));
        Watch(ticker);
        Sys.Stop(ticker);
        // Ticks sent before it stopped may come first (CI once had one between the stop and Terminated).
        FishForMessage(message => message is Terminated terminated && terminated.ActorRef.Equals(ticker), TimeSpan.FromSeconds(5));
        ReceiveWhile(TimeSpan.FromMilliseconds(100), message => message);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Work_that_throws_is_not_run_again_and_the_rest_runs_on()
    {
        var runs = 0;
        var cancel = new Cancelable(Sys.Scheduler);
        Sys.Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.Zero, TimeSpan.FromMilliseconds(50), () =>
        {
            Interlocked.Increment(ref runs);
            throw new InvalidOperationException("scheduled work failed");
        }, cancel);
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(300), TestActor, "still served", ActorRefs.NoSender);
        // What is asserted is that it comes at all: in CI's first minute, with clusters starting beside it on 2 cores, 5 s was once too short.
        ExpectMsg("still served", TimeSpan.FromSeconds(20));
        Assert.Equal(1, Volatile.Read(ref runs));
        cancel.Cancel();
    }

    /// <summary>An actor with a periodic timer, as the pools' janitor.</summary>
    private sealed class Ticker : ReceiveActor, IWithTimers
    {
        public Ticker(IActorRef tellTo)
        {
            Receive<string>(tick => tellTo.Tell(tick));
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("tick", "tick", TimeSpan.FromMilliseconds(50));
    }
}
