using PgBouncerActors.Actors.Supervision;
using PgBouncerActors.TestKit;
using Xunit;

namespace PgBouncerActors.Actors.Tests;

/// <summary>The backoff supervisor on virtual time: delays are exact and the spec takes no wall-clock time.</summary>
public sealed class BackoffSupervisorSpec : VirtualTimeTestKit
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(4);
    [Fact]
    public void OnStop_must_restart_the_child_after_exponentially_growing_delays_capped_at_the_maximum()
    {
        var supervisor = Sys.ActorOf(OnStop().WithManualReset().Props());
        var child = ExpectStarted();

        foreach (var expectedDelay in new[] { 1, 2, 4, 4 })
        {
            child.Tell(PoisonPill.Instance);
            AwaitRestartScheduled(supervisor);
            Clock.Advance(TimeSpan.FromSeconds(expectedDelay) - TimeSpan.FromMilliseconds(1));
            ExpectNoMsg(TimeSpan.FromMilliseconds(50));
            Clock.Advance(TimeSpan.FromMilliseconds(1));
            child = ExpectStarted();
        }
    }

    [Fact]
    public void Messages_must_be_forwarded_to_the_child_with_their_original_sender()
    {
        var supervisor = Sys.ActorOf(OnStop().Props());
        ExpectStarted();
        var client = CreateTestProbe();
        client.Send(supervisor, "hello");
        Assert.Equal("echo hello", client.ExpectMsg<string>());
    }

    [Fact]
    public void While_the_child_is_down_a_message_must_get_the_configured_reply()
    {
        var supervisor = Sys.ActorOf(OnStop().WithReplyWhileStopped("child is down").Props());
        var child = ExpectStarted();
        child.Tell(PoisonPill.Instance);
        AwaitRestartScheduled(supervisor);

        var client = CreateTestProbe();
        client.Send(supervisor, "hello");
        Assert.Equal("child is down", client.ExpectMsg<string>());
    }

    [Fact]
    public void While_the_child_is_down_without_a_reply_a_message_must_become_a_dead_letter()
    {
        var supervisor = Sys.ActorOf(OnStop().Props());
        var child = ExpectStarted();
        Sys.EventStream.Subscribe(TestActor, typeof(DeadLetter));
        child.Tell(PoisonPill.Instance);
        AwaitRestartScheduled(supervisor);

        supervisor.Tell("hello");

        Assert.Equal("hello", FishForMessage<DeadLetter>(letter => letter.Message is "hello").Message);
    }

    [Fact]
    public void Past_the_maximum_number_of_retries_the_supervisor_must_stop()
    {
        var supervisor = Sys.ActorOf(OnStop().WithMaxNrOfRetries(2).Props());
        Watch(supervisor);
        var child = ExpectStarted();
        for (var restart = 0; restart < 2; restart++)
        {
            child.Tell(PoisonPill.Instance);
            AwaitRestartScheduled(supervisor);
            Clock.Advance(MaxBackoff);
            child = ExpectStarted();
        }

        child.Tell(PoisonPill.Instance);
        ExpectTerminated(supervisor);
    }

    [Fact]
    public void A_child_that_stays_up_for_the_reset_period_must_reset_the_backoff()
    {
        var supervisor = Sys.ActorOf(OnStop().WithAutoReset(TimeSpan.FromSeconds(10)).Props());
        var child = ExpectStarted();
        child.Tell(PoisonPill.Instance);
        AwaitRestartScheduled(supervisor);
        Clock.Advance(MinBackoff);
        ExpectStarted();
        Assert.Equal(1, RestartCount(supervisor));

        Clock.Advance(TimeSpan.FromSeconds(10));

        AwaitCondition(() => RestartCount(supervisor) == 0, hint: "restart count back to zero");
    }

    [Fact]
    public void OnFailure_must_restart_a_failed_child_after_the_backoff()
    {
        var supervisor = Sys.ActorOf(OnFailure().Props());
        var child = ExpectStarted();
        Watch(child);
        child.Tell("fail");
        ExpectTerminated(child); // stopped, not restarted in place
        AwaitRestartScheduled(supervisor);
        ExpectNoMsg(TimeSpan.FromMilliseconds(50));
        Clock.Advance(MinBackoff);
        ExpectStarted();
    }

    [Fact]
    public void OnFailure_must_stop_the_supervisor_when_the_child_stops_by_itself()
    {
        var supervisor = Sys.ActorOf(OnFailure().Props());
        Watch(supervisor);
        var child = ExpectStarted();
        child.Tell(PoisonPill.Instance);
        ExpectTerminated(supervisor);
    }

    [Fact]
    public void The_delay_must_grow_by_the_random_factor_at_most()
    {
        var options = BackoffOptions.OnStop(Props.Create(() => new Child(TestActor)), "child", MinBackoff, MaxBackoff, 0.5);
        Assert.Equal(TimeSpan.FromSeconds(1), options.CalculateDelay(0, 0.0));
        Assert.Equal(TimeSpan.FromSeconds(1.5), options.CalculateDelay(0, 1.0));
        Assert.Equal(TimeSpan.FromSeconds(6), options.CalculateDelay(30, 1.0)); // capped, then jittered
        Assert.Equal(TimeSpan.FromSeconds(4), options.CalculateDelay(5000, 0.0)); // no overflow
    }

    private BackoffOptions OnStop() =>
        BackoffOptions.OnStop(Props.Create(() => new Child(TestActor)), "child", MinBackoff, MaxBackoff, 0);

    private BackoffOptions OnFailure() =>
        BackoffOptions.OnFailure(Props.Create(() => new Child(TestActor)), "child", MinBackoff, MaxBackoff, 0);

    private IActorRef ExpectStarted()
    {
        ExpectMsg("started");
        return LastSender;
    }

    private int RestartCount(IActorRef supervisor)
    {
        var probe = CreateTestProbe();
        probe.Send(supervisor, BackoffSupervisor.GetRestartCount.Instance);
        return probe.ExpectMsg<BackoffSupervisor.RestartCount>().Count;
    }

    /// <summary>Virtual time must not advance before the supervisor has scheduled the restart.</summary>
    private void AwaitRestartScheduled(IActorRef supervisor)
    {
        var probe = CreateTestProbe();
        AwaitCondition(() =>
        {
            probe.Send(supervisor, BackoffSupervisor.GetCurrentChild.Instance);
            return probe.ExpectMsg<BackoffSupervisor.CurrentChild>().Ref is null && Clock.Pending > 0;
        }, hint: "the child is down and its restart scheduled");
    }

    private sealed class Child : ReceiveActor
    {
        private readonly IActorRef _report;

        public Child(IActorRef report)
        {
            _report = report;
            Receive<string>(_ => throw new InvalidOperationException("asked to fail"), text => text == "fail");
            Receive<string>(text => Sender.Tell("echo " + text, Self));
        }

        protected internal override void PreStart() => _report.Tell("started", Self);
    }
}
