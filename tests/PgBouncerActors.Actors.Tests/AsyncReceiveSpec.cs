using Xunit;

namespace PgBouncerActors.Actors.Tests;

public sealed class AsyncReceiveSpec : TestKit.TestKit
{
    [Fact]
    public void An_async_handler_must_finish_before_the_next_message_is_processed()
    {
        var actor = Sys.ActorOf(Props.Create(() => new SlowAppender(TestActor)));
        actor.Tell("a");
        actor.Tell("b");
        actor.Tell("c");
        ExpectMsg("a:begin");
        ExpectMsg("a:end");
        ExpectMsg("b:begin");
        ExpectMsg("b:end");
        ExpectMsg("c:begin");
        ExpectMsg("c:end");
    }

    [Fact]
    public void Self_Sender_and_Context_must_stay_right_after_an_await()
    {
        var actor = Sys.ActorOf(Props.Create<EchoAfterAwait>());
        var probe = CreateTestProbe();
        probe.Send(actor, "ping");
        Assert.Equal("ping", probe.ExpectMsg<string>());
        Assert.Same(actor, probe.LastSender);
        Assert.Same(actor, probe.ExpectMsg<IActorRef>()); // Context.Self read after the await
    }

    [Fact]
    public void An_exception_in_an_async_handler_must_be_a_failure_handled_by_the_supervisor()
    {
        var actor = Sys.ActorOf(Props.Create(() => new FailsAfterAwait(TestActor)));
        ExpectMsg("started");
        actor.Tell("fail");
        ExpectMsg("started"); // the default strategy restarted it
        actor.Tell("still alive?", TestActor);
        ExpectMsg("yes");
    }

    [Fact]
    public void Code_after_an_await_must_run_on_the_actors_turn_never_concurrently_with_other_work()
    {
        var actor = Sys.ActorOf(Props.Create<OverlapDetector>());
        for (var i = 0; i < 200; i++)
        {
            actor.Tell(i);
        }

        actor.Tell("report", TestActor);
        Assert.Equal((200, 1), ExpectMsg<(int, int)>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Stopping_an_actor_while_its_handler_awaits_must_stop_it_and_drop_the_rest_of_the_handler()
    {
        var release = new TaskCompletionSource();
        var actor = Sys.ActorOf(Props.Create(() => new AwaitsRelease(TestActor, release.Task)));
        Watch(actor);
        actor.Tell("go");
        ExpectMsg("waiting");

        Sys.Stop(actor);
        ExpectTerminated(actor);
        release.SetResult();

        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // "released" never sent: the instance is gone
    }

    private sealed class AwaitsRelease : ReceiveActor
    {
        public AwaitsRelease(IActorRef report, Task release)
        {
            ReceiveAsync<string>(async _ =>
            {
                report.Tell("waiting");
                await release;
                report.Tell("released");
            });
        }
    }

    private sealed class SlowAppender : ReceiveActor
    {
        public SlowAppender(IActorRef report)
        {
            ReceiveAsync<string>(async text =>
            {
                report.Tell(text + ":begin");
                await Task.Delay(20);
                report.Tell(text + ":end");
            });
        }
    }

    private sealed class EchoAfterAwait : ReceiveActor
    {
        public EchoAfterAwait()
        {
            ReceiveAsync<string>(async text =>
            {
                await Task.Yield();
                await Task.Delay(10);
                Sender.Tell(text, Self);
                Sender.Tell(Context.Self, Self);
            });
        }
    }

    private sealed class FailsAfterAwait : ReceiveActor
    {
        private readonly IActorRef _report;

        public FailsAfterAwait(IActorRef report)
        {
            _report = report;
            ReceiveAsync<string>(async text =>
            {
                await Task.Delay(10);
                if (text == "fail")
                {
                    throw new InvalidOperationException("failed after await");
                }

                Sender.Tell("yes", Self);
            });
        }

        protected internal override void PreStart() => _report.Tell("started");
    }

    private sealed class OverlapDetector : ReceiveActor
    {
        private int _inside;
        private int _maxInside;
        private int _count;

        public OverlapDetector()
        {
            ReceiveAsync<int>(async _ =>
            {
                Enter();
                await Task.Yield();
                Enter();
                _count++;
            });
            Receive<string>(_ => Sender.Tell((_count, _maxInside), Self));
        }

        private void Enter()
        {
            var now = Interlocked.Increment(ref _inside);
            _maxInside = Math.Max(_maxInside, now);
            Thread.SpinWait(100);
            Interlocked.Decrement(ref _inside);
        }
    }
}
