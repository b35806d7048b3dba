using Xunit;

namespace PgBouncerActors.Actors.Tests;

public sealed class DeathWatchSpec : TestKit.TestKit
{
    [Fact]
    public void DeathWatch_must_deliver_exactly_one_Terminated_for_an_already_dead_actor()
    {
        var subject = Sys.ActorOf(Props.Create<Idle>());
        var probe = CreateTestProbe();
        probe.Watch(subject);
        Sys.Stop(subject);
        probe.ExpectTerminated(subject);

        var watcher = Sys.ActorOf(Props.Create(() => new Watcher(TestActor)));
        watcher.Tell(subject);
        watcher.Tell(subject); // watching twice is still one watch

        var terminated = ExpectMsg<Terminated>();
        Assert.Same(subject, terminated.ActorRef);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void DeathWatch_must_deliver_Terminated_when_a_watched_actor_stops_later()
    {
        var subject = Sys.ActorOf(Props.Create<Idle>());
        var watcher = Sys.ActorOf(Props.Create(() => new Watcher(TestActor)));
        watcher.Tell(subject);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        subject.Tell(PoisonPill.Instance);

        Assert.Same(subject, ExpectMsg<Terminated>().ActorRef);
    }

    [Fact]
    public void Unwatch_must_prevent_the_Terminated()
    {
        var subject = Sys.ActorOf(Props.Create<Idle>());
        var watcher = Sys.ActorOf(Props.Create(() => new Watcher(TestActor)));
        watcher.Tell(subject);
        watcher.Tell(("unwatch", subject));
        ExpectMsg("unwatched");
        Sys.Stop(subject);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void An_unhandled_Terminated_must_stop_the_watcher_too()
    {
        var subject = Sys.ActorOf(Props.Create<Idle>());
        var pact = Sys.ActorOf(Props.Create(() => new PactKeeper(subject)));
        Watch(pact);
        Sys.Stop(subject);
        ExpectTerminated(pact);
    }

    [Fact]
    public void Stopping_a_parent_must_stop_its_children_first_then_run_its_PostStop()
    {
        var parent = Sys.ActorOf(Props.Create(() => new Family(TestActor, depth: 2)), "family");
        ExpectMsg("started family");
        ExpectMsg("started child-of-family");
        ExpectMsg("started child-of-child-of-family");
        Watch(parent);

        Sys.Stop(parent);

        ExpectMsg("stopped child-of-child-of-family");
        ExpectMsg("stopped child-of-family");
        ExpectMsg("stopped family");
        ExpectTerminated(parent);
    }

    [Fact]
    public async Task Terminating_the_system_must_stop_every_actor_and_complete()
    {
        Sys.ActorOf(Props.Create(() => new Family(TestActor, depth: 1)), "family");
        ExpectMsg("started family");
        ExpectMsg("started child-of-family");

        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(5)));

        ExpectMsg("stopped child-of-family");
        ExpectMsg("stopped family");
        Assert.Throws<InvalidOperationException>(() => Sys.ActorOf(Props.Create<Idle>()));
    }

    private sealed class Idle : ReceiveActor;

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(IActorRef report)
        {
            Receive<IActorRef>(subject => Context.Watch(subject));
            Receive<(string, IActorRef Subject)>(command =>
            {
                Context.Unwatch(command.Subject);
                report.Tell("unwatched");
            });
            Receive<Terminated>(terminated => report.Tell(terminated));
        }
    }

    private sealed class PactKeeper : ReceiveActor
    {
        public PactKeeper(IActorRef subject)
        {
            Context.Watch(subject);
        }
    }

    private sealed class Family : ReceiveActor
    {
        private readonly IActorRef _report;
        private readonly int _depth;

        public Family(IActorRef report, int depth)
        {
            _report = report;
            _depth = depth;
        }

        protected internal override void PreStart()
        {
            var name = Self.Path.Name;
            _report.Tell("started " + name);
            if (_depth > 0)
            {
                Context.ActorOf(Props.Create(() => new Family(_report, _depth - 1)), "child-of-" + name);
            }
        }

        protected internal override void PostStop() => _report.Tell("stopped " + Self.Path.Name);
    }
}
