using Xunit;

namespace PgBouncerActors.Actors.Tests;

/// <summary>The kernel's races, provoked on purpose: the answers must hold however threads interleave.</summary>
public sealed class ConcurrencyStressSpec : TestKit.TestKit
{
    [Fact]
    public void A_watch_racing_the_subjects_death_must_still_yield_exactly_one_Terminated()
    {
        const int pairs = 2_000;
        var subjects = Enumerable.Range(0, pairs).Select(_ => Sys.ActorOf(Props.Create<Idle>())).ToArray();
        var counter = Sys.ActorOf(Props.Create<TerminatedCounter>());
        var watchers = Enumerable.Range(0, pairs).Select(_ => Sys.ActorOf(Props.Create(() => new Watcher(counter)))).ToArray();

        // Watches and stops are sent from different threads at once, so some watches reach live
        // subjects, some dying ones, and some dead ones.
        Parallel.Invoke(
            () => Parallel.For(0, pairs, i => watchers[i].Tell(subjects[i])),
            () => Parallel.For(0, pairs, i => Sys.Stop(subjects[i])));

        AwaitCondition(() => Count(counter) >= pairs, TimeSpan.FromSeconds(20), hint: "every watcher notified");
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(pairs, Count(counter)); // and no watcher notified twice
    }

    [Fact]
    public void Messages_racing_a_stop_must_each_be_processed_or_become_a_dead_letter_never_lost()
    {
        const int senders = 4;
        const int perSender = 25_000;
        var processed = new CountingBox();
        var deadLetters = new CountingBox();
        var listener = Sys.ActorOf(Props.Create(() => new DeadLetterCounter(deadLetters)));
        Sys.EventStream.Subscribe(listener, typeof(DeadLetter));
        var target = Sys.ActorOf(Props.Create(() => new Sink(processed)));

        var start = new Barrier(senders + 1);
        var threads = Enumerable.Range(0, senders).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < perSender; i++)
            {
                target.Tell(i);
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        start.SignalAndWait();
        Thread.Sleep(2); // let some messages in first, then stop in the middle of the stream
        Sys.Stop(target);
        foreach (var thread in threads)
        {
            thread.Join();
        }

        AwaitCondition(() => processed.Value + deadLetters.Value == senders * perSender, TimeSpan.FromSeconds(20),
            hint: $"processed {processed.Value} + dead letters {deadLetters.Value} of {senders * perSender}");
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(senders * perSender, processed.Value + deadLetters.Value); // none counted twice either
    }

    private int Count(IActorRef counter)
    {
        var probe = CreateTestProbe();
        probe.Send(counter, "count");
        return probe.ExpectMsg<int>();
    }

    private sealed class CountingBox
    {
        private int _value;

        public int Value => Volatile.Read(ref _value);

        public void Increment() => Interlocked.Increment(ref _value);
    }

    private sealed class Idle : ReceiveActor;

    private sealed record SubjectDied(IActorRef Subject);

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(IActorRef counter)
        {
            Receive<IActorRef>(subject => Context.Watch(subject));
            // A Terminated is only ever delivered to its watcher (as in Akka): pass on a report instead.
            Receive<Terminated>(terminated => counter.Tell(new SubjectDied(terminated.ActorRef), Self));
        }
    }

    private sealed class TerminatedCounter : ReceiveActor
    {
        private int _count;

        public TerminatedCounter()
        {
            Receive<SubjectDied>(_ => _count++);
            Receive<string>(_ => Sender.Tell(_count, Self));
        }
    }

    private sealed class Sink : ReceiveActor
    {
        public Sink(CountingBox processed) => Receive<int>(_ => processed.Increment());
    }

    private sealed class DeadLetterCounter : ReceiveActor
    {
        public DeadLetterCounter(CountingBox deadLetters) =>
            Receive<DeadLetter>(_ => deadLetters.Increment(), letter => letter.Message is int);

    }
}
