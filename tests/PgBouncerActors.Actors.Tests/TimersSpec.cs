using PgBouncerActors.TestKit;
using Xunit;

namespace PgBouncerActors.Actors.Tests;

/// <summary>Keyed timers, on virtual time so that every tick is exact.</summary>
public sealed class TimersSpec : VirtualTimeTestKit
{
    [Fact]
    public void A_single_timer_must_deliver_once_after_its_delay()
    {
        var actor = Sys.ActorOf(Props.Create(() => new TimerUser(TestActor)));
        actor.Tell(new StartSingle("tick", TimeSpan.FromSeconds(2)));
        ExpectMsg("started");

        Clock.Advance(TimeSpan.FromSeconds(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Clock.Advance(TimeSpan.FromSeconds(1));
        ExpectMsg("tick");
        Clock.Advance(TimeSpan.FromSeconds(10));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void A_periodic_timer_must_deliver_every_interval_until_cancelled()
    {
        var actor = Sys.ActorOf(Props.Create(() => new TimerUser(TestActor)));
        actor.Tell(new StartPeriodic("beat", TimeSpan.FromSeconds(1)));
        ExpectMsg("started");
        for (var i = 0; i < 3; i++)
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
            ExpectMsg("beat");
        }

        actor.Tell("cancel");
        ExpectMsg("cancelled");
        Clock.Advance(TimeSpan.FromSeconds(5));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void A_tick_already_in_the_mailbox_must_not_be_delivered_once_its_timer_is_cancelled()
    {
        var gate = new ManualResetEventSlim();
        var actor = Sys.ActorOf(Props.Create(() => new TimerUser(TestActor, gate)));
        actor.Tell(new StartSingle("tick", TimeSpan.FromSeconds(1)));
        ExpectMsg("started");
        actor.Tell("block");
        ExpectMsg("blocked");
        actor.Tell("cancel");
        Clock.Advance(TimeSpan.FromSeconds(1)); // the tick is now queued behind the cancel
        gate.Set();
        ExpectMsg("cancelled");
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_timer_started_by_an_instance_that_has_since_restarted_must_never_deliver()
    {
        var actor = Sys.ActorOf(Props.Create(() => new TimerUser(TestActor)));
        actor.Tell(new StartPeriodic("old-beat", TimeSpan.FromSeconds(1)));
        ExpectMsg("started");
        actor.Tell("fail"); // restarted by the default strategy
        actor.Tell("ping", TestActor);
        ExpectMsg("pong");

        Clock.Advance(TimeSpan.FromSeconds(5));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Starting_a_timer_under_a_used_key_must_replace_the_old_one()
    {
        var actor = Sys.ActorOf(Props.Create(() => new TimerUser(TestActor)));
        actor.Tell(new StartSingle("first", TimeSpan.FromSeconds(1)));
        ExpectMsg("started");
        actor.Tell(new StartSingle("second", TimeSpan.FromSeconds(3)));
        ExpectMsg("started");
        Clock.Advance(TimeSpan.FromSeconds(3));
        ExpectMsg("second");
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    private sealed record StartSingle(string Message, TimeSpan Delay);

    private sealed record StartPeriodic(string Message, TimeSpan Interval);

    private sealed class TimerUser : ReceiveActor
    {
        private const string Key = "the-timer";

        public TimerUser(IActorRef report, ManualResetEventSlim? gate = null)
        {
            Receive<StartSingle>(start =>
            {
                Timers.StartSingleTimer(Key, start.Message, start.Delay);
                report.Tell("started");
            });
            Receive<StartPeriodic>(start =>
            {
                Timers.StartPeriodicTimer(Key, start.Message, start.Interval);
                report.Tell("started");
            });
            Receive<string>(text =>
            {
                switch (text)
                {
                    case "cancel":
                        Timers.Cancel(Key);
                        report.Tell(Timers.IsTimerActive(Key) ? "still active" : "cancelled");
                        break;
                    case "block":
                        report.Tell("blocked");
                        gate!.Wait();
                        break;
                    case "fail":
                        throw new InvalidOperationException("asked to fail");
                    case "ping":
                        Sender.Tell("pong", Self);
                        break;
                    default:
                        report.Tell(text); // a timer's message
                        break;
                }
            });
        }
    }
}
