using PgBouncerActors.Actors;
using PgBouncerActors.Actors.Supervision;
using Xunit;

namespace PgBouncerActors.Actors.Tests;

/// <summary>Akka's lifecycle spec: every incarnation is a new instance, counted by a generation number kept outside it.</summary>
public sealed class ActorLifeCycleSpec : TestKit.TestKit
{
    [Fact]
    public void Restart_must_create_a_new_instance_from_the_Props_factory_and_call_the_hooks_in_order()
    {
        var generation = 0;
        var supervisor = Sys.ActorOf(Props.Create(() => new Supervisor(
            new OneForOneStrategy(3, TimeSpan.FromSeconds(10), _ => Directive.Restart))));
        supervisor.Tell(Props.Create(() => new LifeCycleActor(TestActor, ++generation)), TestActor);
        var child = ExpectMsg<IActorRef>();
        ExpectMsg(("preStart", 1));

        child.Tell(Kill.Instance);
        ExpectMsg(("preRestart", 1));
        ExpectMsg(("postRestart", 2));
        child.Tell("status", TestActor);
        ExpectMsg(("OK", 2));

        child.Tell(Kill.Instance);
        ExpectMsg(("preRestart", 2));
        ExpectMsg(("postRestart", 3));
        child.Tell("status", TestActor);
        ExpectMsg(("OK", 3));
    }

    [Fact]
    public void The_fourth_Kill_under_a_budget_of_three_must_stop_the_actor()
    {
        var generation = 0;
        var supervisor = Sys.ActorOf(Props.Create(() => new Supervisor(
            new OneForOneStrategy(3, TimeSpan.FromMinutes(1), _ => Directive.Restart))));
        supervisor.Tell(Props.Create(() => new LifeCycleActor(TestActor, ++generation)), TestActor);
        var child = ExpectMsg<IActorRef>();
        Watch(child);
        ExpectMsg(("preStart", 1));

        for (var kill = 1; kill <= 3; kill++)
        {
            child.Tell(Kill.Instance);
            ExpectMsg(("preRestart", kill));
            ExpectMsg(("postRestart", kill + 1));
        }

        child.Tell(Kill.Instance);
        ExpectMsg(("postStop", 4));
        ExpectTerminated(child);
        Assert.Equal(4, generation);
    }

    private sealed class LifeCycleActor : ReceiveActor
    {
        private readonly IActorRef _report;
        private readonly int _generation;

        public LifeCycleActor(IActorRef report, int generation)
        {
            _report = report;
            _generation = generation;
            Receive<string>(_ => Sender.Tell(("OK", _generation), Self));
        }

        protected internal override void PreStart() => _report.Tell(("preStart", _generation));

        protected internal override void PostStop() => _report.Tell(("postStop", _generation));

        protected internal override void PreRestart(Exception reason, object? message) =>
            _report.Tell(("preRestart", _generation));

        protected internal override void PostRestart(Exception reason) => _report.Tell(("postRestart", _generation));
    }
}
