using PgBouncerActors.Actors.Supervision;
using Xunit;

namespace PgBouncerActors.Actors.Tests;

public sealed class SupervisionSpec : TestKit.TestKit
{
    [Fact]
    public void Resume_must_keep_the_instance_and_its_state_and_drop_the_failing_message()
    {
        var child = StartChild(_ => Directive.Resume, () => new Counter());
        child.Tell(1);
        child.Tell(-1); // fails
        child.Tell(2);
        child.Tell("count", TestActor);
        ExpectMsg(3); // 1 + 2, same instance, the failing message dropped
    }

    [Fact]
    public void Restart_must_make_a_fresh_instance_keep_the_queued_messages_and_drop_the_failing_one()
    {
        var gate = new ManualResetEventSlim();
        var child = StartChild(_ => Directive.Restart, () => new Counter(gate));
        child.Tell(10);
        child.Tell(-1); // fails once the gate opens
        child.Tell(5);  // already queued when the failure happens
        child.Tell("count", TestActor);
        gate.Set();
        ExpectMsg(5); // the new instance starts from zero and still gets the queued messages
    }

    [Fact]
    public void Restart_must_stop_the_children_of_the_failed_instance_before_the_new_one_starts()
    {
        var parent = StartChild(_ => Directive.Restart, () => new ParentOfOne(TestActor));
        var firstChild = ExpectMsg<IActorRef>();
        Watch(firstChild);

        parent.Tell("fail");

        ExpectTerminated(firstChild);
        var secondChild = ExpectMsg<IActorRef>();
        Assert.NotSame(firstChild, secondChild);
        Assert.Equal(firstChild.Path.ToString(), secondChild.Path.ToString());
        Assert.NotEqual(firstChild.Path.Uid, secondChild.Path.Uid);
    }

    [Fact]
    public void Stop_must_stop_the_failing_child()
    {
        var child = StartChild(_ => Directive.Stop, () => new Counter());
        Watch(child);
        child.Tell(-1);
        ExpectTerminated(child);
    }

    [Fact]
    public void Escalate_must_fail_the_supervisor_so_that_its_own_supervisor_decides()
    {
        var grandparent = Sys.ActorOf(Props.Create(() => new Supervisor(new OneForOneStrategy(_ => Directive.Stop))));
        grandparent.Tell(Props.Create(() => new Supervisor(new OneForOneStrategy(_ => Directive.Escalate))), TestActor);
        var parent = ExpectMsg<IActorRef>();
        parent.Tell(Props.Create(() => new Counter()), TestActor);
        var child = ExpectMsg<IActorRef>();
        Watch(parent);
        Watch(child);

        child.Tell(-1);

        // The grandparent stops the parent, which stops its child first.
        ExpectTerminated(child);
        ExpectTerminated(parent);
    }

    [Fact]
    public void A_child_whose_failure_was_escalated_must_resume_when_its_parent_is_resumed()
    {
        var grandparent = Sys.ActorOf(Props.Create(() => new Supervisor(new OneForOneStrategy(_ => Directive.Resume))));
        grandparent.Tell(Props.Create(() => new Supervisor(new OneForOneStrategy(_ => Directive.Escalate))), TestActor);
        var parent = ExpectMsg<IActorRef>();
        parent.Tell(Props.Create(() => new Counter()), TestActor);
        var child = ExpectMsg<IActorRef>();
        child.Tell(5);

        child.Tell(-1); // escalated to the grandparent, which resumes the parent, and so the child

        child.Tell(1);
        child.Tell("count", TestActor);
        ExpectMsg(6); // the same instance, its state kept, taking messages again
    }

    [Fact]
    public void The_default_strategy_must_restart_on_an_exception_and_stop_on_an_initialisation_failure()
    {
        var restarted = Sys.ActorOf(Props.Create(() => new Counter()));
        restarted.Tell(7);
        restarted.Tell(-1);
        restarted.Tell("count", TestActor);
        ExpectMsg(0);

        var broken = Sys.ActorOf(Props.Create<BrokenAtStart>());
        Watch(broken);
        ExpectTerminated(broken);
    }

    [Fact]
    public void Kill_under_the_default_strategy_must_stop_the_actor()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Counter()));
        Watch(actor);
        actor.Tell(Kill.Instance);
        ExpectTerminated(actor);
    }

    [Fact]
    public void A_failure_report_from_an_earlier_actor_of_the_same_name_must_be_ignored()
    {
        var parent = Sys.ActorOf(Props.Create(() => new Supervisor(new OneForOneStrategy(_ => Directive.Stop))));
        parent.Tell((Props.Create(() => new Counter()), "worker"), TestActor);
        var first = ExpectMsg<IActorRef>();
        Watch(first);
        Sys.Stop(first);
        ExpectTerminated(first);
        parent.Tell((Props.Create(() => new Counter()), "worker"), TestActor);
        var second = ExpectMsg<IActorRef>();
        Watch(second);

        // A report that the first "worker" failed, arriving late, must not stop the second.
        var stale = (IInternalActorRef)first;
        ((IInternalActorRef)parent).SendSystemMessage(new Failed(stale, new InvalidOperationException("stale"), first.Path.Uid, 0));
        second.Tell(4);
        second.Tell("count", TestActor);
        ExpectMsg(4);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_Restart_directive_for_an_earlier_incarnation_must_be_ignored()
    {
        var child = StartChild(_ => Directive.Restart, () => new Counter());
        child.Tell(3);
        ((IInternalActorRef)child).SendSystemMessage(new Recreate(new InvalidOperationException("stale"), incarnation: 41));
        child.Tell("count", TestActor);
        ExpectMsg(3); // not restarted: the state survived
    }

    private IActorRef StartChild(Func<Exception, Directive> decider, Func<ActorBase> factory)
    {
        var supervisor = Sys.ActorOf(Props.Create(() => new Supervisor(new OneForOneStrategy(decider))));
        supervisor.Tell(Props.Create(factory), TestActor);
        return ExpectMsg<IActorRef>();
    }

    /// <summary>Adds the numbers it is sent; a negative number is a failure.</summary>
    private sealed class Counter : ReceiveActor
    {
        private int _total;

        public Counter(ManualResetEventSlim? gate = null)
        {
            Receive<int>(number =>
            {
                gate?.Wait();
                if (number < 0)
                {
                    throw new ArgumentOutOfRangeException(nameof(number), number, "negative");
                }

                _total += number;
            });
            Receive<string>(_ => Sender.Tell(_total, Self));
        }
    }

    private sealed class ParentOfOne : ReceiveActor
    {
        private readonly IActorRef _report;

        public ParentOfOne(IActorRef report)
        {
            _report = report;
            Receive<string>(_ => throw new InvalidOperationException("asked to fail"));
        }

        protected internal override void PreStart() =>
            _report.Tell(Context.ActorOf(Props.Create(() => new ParentOfOne.Leaf()), "leaf"));

        private sealed class Leaf : ReceiveActor;
    }

    private sealed class BrokenAtStart : ReceiveActor
    {
        protected internal override void PreStart() => throw new InvalidOperationException("cannot start");
    }
}
