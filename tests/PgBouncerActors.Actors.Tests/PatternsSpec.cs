using Xunit;

namespace PgBouncerActors.Actors.Tests;

public sealed class PatternsSpec : TestKit.TestKit
{
    [Fact]
    public async Task Ask_must_return_the_reply()
    {
        var echo = Sys.ActorOf(Props.Create<Echo>());
        Assert.Equal("hello", await echo.Ask<string>("hello", Dilated(TimeSpan.FromSeconds(3))));
    }

    [Fact]
    public async Task Ask_must_fail_with_a_timeout_that_names_the_target()
    {
        var silent = Sys.ActorOf(Props.Create<Echo>(), "silent");
        var error = await Assert.ThrowsAsync<AskTimeoutException>(() => silent.Ask<string>(42, TimeSpan.FromMilliseconds(100)));
        Assert.Contains("/user/silent", error.Message);
    }

    [Fact]
    public async Task Ask_must_fault_with_the_cause_of_a_Status_Failure_reply()
    {
        var echo = Sys.ActorOf(Props.Create<Echo>());
        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => echo.Ask<string>(new Status.Failure(new InvalidOperationException("refused")), Dilated(TimeSpan.FromSeconds(3))));
        Assert.Equal("refused", error.Message);
    }

    [Fact]
    public async Task Ask_to_a_stopped_actor_must_fail_at_once()
    {
        var echo = Sys.ActorOf(Props.Create<Echo>());
        Watch(echo);
        Sys.Stop(echo);
        ExpectTerminated(echo);
        var error = await Assert.ThrowsAsync<AskTimeoutException>(() => echo.Ask<string>("x", TimeSpan.FromMinutes(1)));
        Assert.Contains("terminated", error.Message);
    }

    [Fact]
    public void PipeTo_must_deliver_the_result_or_a_Status_Failure()
    {
        Task.FromResult(5).PipeTo(TestActor);
        ExpectMsg(5);

        Task.FromException<int>(new TimeoutException("slow")).PipeTo(TestActor);
        Assert.Equal("slow", ExpectMsg<Status.Failure>().Cause.Message);

        Task.FromResult(5).PipeTo(TestActor, success: value => $"got {value}");
        ExpectMsg("got 5");
    }

    [Fact]
    public async Task GracefulStop_must_process_queued_messages_then_complete_with_true()
    {
        var echo = Sys.ActorOf(Props.Create<Echo>());
        echo.Tell("first", TestActor);
        echo.Tell("second", TestActor);

        Assert.True(await echo.GracefulStop(Dilated(TimeSpan.FromSeconds(3))));

        ExpectMsg("first");
        ExpectMsg("second");
    }

    [Fact]
    public async Task GracefulStop_must_complete_with_false_when_the_actor_outlives_the_timeout()
    {
        var stubborn = Sys.ActorOf(Props.Create<Echo>());
        Assert.False(await stubborn.GracefulStop(TimeSpan.FromMilliseconds(150), stopMessage: "ignored"));
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo()
        {
            Receive<string>(text => Sender.Tell(text, Self));
            Receive<Status.Failure>(failure => Sender.Tell(failure, Self));
        }
    }
}
