using PgBouncerActors.Actors.Supervision;
using PgBouncerActors.TestKit;
using Xunit;

namespace PgBouncerActors.Actors.Tests;

/// <summary>The retry budget counts restarts within a time window, on the system's (here virtual) clock.</summary>
public sealed class RestartBudgetSpec : VirtualTimeTestKit
{
    [Fact]
    public void A_window_that_has_passed_must_grant_restarts_again()
    {
        var supervisor = Sys.ActorOf(Props.Create(() => new Supervisor(
            new OneForOneStrategy(1, TimeSpan.FromSeconds(5), _ => Directive.Restart))));
        supervisor.Tell(Props.Create(() => new Failing(TestActor)), TestActor);
        var child = ExpectMsg<IActorRef>();
        Watch(child);
        ExpectMsg("started");

        child.Tell("fail");
        ExpectMsg("started");
        Clock.Advance(TimeSpan.FromSeconds(6));
        child.Tell("fail");
        ExpectMsg("started"); // a new window: the budget of one is available again

        child.Tell("fail"); // the second failure within this window is over budget
        ExpectTerminated(child);
    }

    private sealed class Failing : ReceiveActor
    {
        private readonly IActorRef _report;

        public Failing(IActorRef report)
        {
            _report = report;
            Receive<string>(_ => throw new InvalidOperationException("asked to fail"));
        }

        protected internal override void PreStart() => _report.Tell("started");
    }
}
