using PgBouncerActors.Actors.Supervision;
using Xunit;

namespace PgBouncerActors.Actors.Tests;

public sealed class MailboxSemanticsSpec : TestKit.TestKit
{
    [Fact]
    public void Messages_from_one_sender_must_arrive_in_the_order_sent()
    {
        var recorder = Sys.ActorOf(Props.Create(() => new Recorder()));
        const int count = 10_000;
        for (var i = 0; i < count; i++)
        {
            recorder.Tell(i);
        }

        recorder.Tell("report", TestActor);
        var seen = ExpectMsg<List<int>>(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(0, count), seen);
    }

    [Fact]
    public void An_actor_must_process_one_message_at_a_time_even_when_many_threads_tell_it()
    {
        var actor = Sys.ActorOf(Props.Create(() => new ConcurrencyDetector()));
        const int senders = 8;
        const int perSender = 2_000;
        Parallel.For(0, senders, _ =>
        {
            for (var i = 0; i < perSender; i++)
            {
                actor.Tell("work");
            }
        });

        actor.Tell("report", TestActor);
        var (processed, maxConcurrent) = ExpectMsg<(int, int)>(TimeSpan.FromSeconds(10));
        Assert.Equal(senders * perSender, processed);
        Assert.Equal(1, maxConcurrent);
    }

    [Fact]
    public void A_system_message_must_be_processed_before_user_messages_already_queued()
    {
        var gate = new ManualResetEventSlim();
        var actor = Sys.ActorOf(Props.Create(() => new Blocker(gate, TestActor)));
        Watch(actor);
        actor.Tell("block");
        ExpectMsg("blocked");
        for (var i = 0; i < 100; i++)
        {
            actor.Tell(i); // queued behind the blocked message
        }

        Sys.Stop(actor); // a system message, queued after the hundred user messages
        gate.Set();
        ExpectTerminated(actor);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // none of the hundred was processed
    }

    [Fact]
    public void A_hundred_thousand_actors_must_each_answer_since_an_idle_actor_holds_no_thread()
    {
        const int count = 100_000;
        var answered = new CountdownEvent(count);
        var props = Props.Create(() => new Answerer(answered));
        var actors = new IActorRef[count];
        for (var i = 0; i < count; i++)
        {
            actors[i] = Sys.ActorOf(props);
            actors[i].Tell(i);
        }

        Assert.True(answered.Wait(Dilated(TimeSpan.FromSeconds(30))), $"{answered.CurrentCount} actors never answered");
        Assert.True(ThreadPool.ThreadCount < 200, $"{ThreadPool.ThreadCount} pool threads for idle actors");
    }

    private sealed class Answerer : ReceiveActor
    {
        public Answerer(CountdownEvent answered) => Receive<int>(_ => answered.Signal());
    }

    [Fact]
    public void Messages_sent_to_a_stopped_actor_must_become_dead_letters()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Recorder()));
        Watch(actor);
        Sys.Stop(actor);
        ExpectTerminated(actor);
        Sys.EventStream.Subscribe(TestActor, typeof(DeadLetter));

        actor.Tell("too late", TestActor);

        var letter = ExpectMsg<DeadLetter>();
        Assert.Equal("too late", letter.Message);
        Assert.Same(actor, letter.Recipient);
    }

    [Fact]
    public void ActorOf_must_refuse_a_name_that_is_taken_or_malformed()
    {
        Sys.ActorOf(Props.Create(() => new Recorder()), "unique");
        Assert.Throws<InvalidActorNameException>(() => Sys.ActorOf(Props.Create(() => new Recorder()), "unique"));
        Assert.Throws<InvalidActorNameException>(() => Sys.ActorOf(Props.Create(() => new Recorder()), "$reserved"));
        Assert.Throws<InvalidActorNameException>(() => Sys.ActorOf(Props.Create(() => new Recorder()), "a/b"));
    }

    [Fact]
    public void An_actor_made_with_new_instead_of_Props_must_be_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new Recorder());
        Assert.Contains("Props", error.Message);
    }

    private sealed class Recorder : ReceiveActor
    {
        private readonly List<int> _seen = [];

        public Recorder()
        {
            Receive<int>(_seen.Add);
            Receive<string>(_ => Sender.Tell(_seen, Self));
        }
    }

    private sealed class ConcurrencyDetector : ReceiveActor
    {
        private int _inside;
        private int _maxInside;
        private int _processed;

        public ConcurrencyDetector()
        {
            Receive<string>(_ =>
            {
                var now = Interlocked.Increment(ref _inside);
                _maxInside = Math.Max(_maxInside, now);
                Thread.SpinWait(50);
                _processed++;
                Interlocked.Decrement(ref _inside);
            }, text => text == "work");
            Receive<string>(_ => Sender.Tell((_processed, _maxInside), Self));
        }
    }

    private sealed class Blocker : ReceiveActor
    {
        public Blocker(ManualResetEventSlim gate, IActorRef report)
        {
            Receive<string>(_ =>
            {
                report.Tell("blocked");
                gate.Wait();
            });
            Receive<int>(number => report.Tell(number));
        }
    }
}
