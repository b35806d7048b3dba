using System.Diagnostics;
using PgBouncerActors.Actors;

namespace PgBouncerActors.Benchmarks;

internal static class KernelBenchmarks
{
    /// <summary>
    /// A sender actor tells a counter actor <paramref name="messages"/> integers as fast as the
    /// counter keeps up (in windows, so the queue stays bounded); best of <paramref name="rounds"/>.
    /// </summary>
    public static async Task<double> TellThroughput(int messages, int rounds)
    {
        var best = 0.0;
        for (var round = 0; round < rounds; round++)
        {
            await using var system = ActorSystem.Create("tell-bench", new ActorSystemSettings { Throughput = 100 });
            var done = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
            var receiver = system.ActorOf(Props.Create(() => new Counter(messages, done)), "receiver");
            var sender = system.ActorOf(Props.Create(() => new Sender(receiver, messages)), "sender");
            sender.Tell(Start.Instance);
            var elapsed = await done.Task;
            best = Math.Max(best, messages / elapsed.TotalSeconds);
        }

        return best;
    }

    /// <summary>Sequential Asks from one caller to an echo actor; median and p99 of the round trip.</summary>
    public static async Task<(TimeSpan Median, TimeSpan P99)> AskLatency(int asks)
    {
        await using var system = ActorSystem.Create("ask-bench");
        var echo = system.ActorOf(Props.Create(() => new Echo()), "echo");
        var timeout = TimeSpan.FromSeconds(5);
        for (var i = 0; i < 10_000; i++)
        {
            await echo.Ask<int>(i, timeout); // warm-up: tiering, thread pool
        }

        var samples = new long[asks];
        for (var i = 0; i < asks; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await echo.Ask<int>(i, timeout);
            samples[i] = Stopwatch.GetTimestamp() - start;
        }

        Array.Sort(samples);
        static TimeSpan At(long[] sorted, double quantile) =>
            TimeSpan.FromSeconds(sorted[(int)(quantile * (sorted.Length - 1))] / (double)Stopwatch.Frequency);
        return (At(samples, 0.50), At(samples, 0.99));
    }

    /// <summary>
    /// Managed heap growth per actor after creating <paramref name="actors"/> idle actors that each
    /// handled one message. With <paramref name="sharedProps"/> false every actor gets its own Props
    /// and factory closure, as an actor per client socket would.
    /// </summary>
    public static long IdleActorMemory(int actors, bool sharedProps)
    {
        var system = ActorSystem.Create("idle-bench");
        try
        {
            var before = SettledHeap();
            var refs = new IActorRef[actors];
            using var allStarted = new CountdownEvent(actors);
            var shared = Props.Create(() => new IdleActor(allStarted));
            for (var i = 0; i < actors; i++)
            {
                refs[i] = system.ActorOf(sharedProps ? shared : Props.Create(() => new IdleActor(allStarted)));
                refs[i].Tell(1);
            }

            allStarted.Wait();
            var after = SettledHeap();
            GC.KeepAlive(refs);
            return (after - before) / actors;
        }
        finally
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(30));
        }
    }

    private static long SettledHeap()
    {
        Thread.Sleep(200); // let the last mailbox turns finish and return to idle
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private sealed class Start
    {
        public static readonly Start Instance = new();
    }

    private sealed class Ack
    {
        public static readonly Ack Instance = new();
    }

    /// <summary>Sends in windows of 100,000 and waits for the counter's ack, so the mailbox never holds more than two windows.</summary>
    private sealed class Sender : ReceiveActor
    {
        private const int Window = 100_000;
        private readonly IActorRef _receiver;
        private int _remaining;

        public Sender(IActorRef receiver, int messages)
        {
            _receiver = receiver;
            _remaining = messages;
            Receive<Start>(_ => SendWindow());
            Receive<Ack>(_ => SendWindow());
        }

        private void SendWindow()
        {
            var count = Math.Min(Window, _remaining);
            object message = 1;
            for (var i = 0; i < count; i++)
            {
                _receiver.Tell(message, Self);
            }

            _remaining -= count;
        }
    }

    private sealed class Counter : ReceiveActor
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private int _received;

        public Counter(int expected, TaskCompletionSource<TimeSpan> done)
        {
            Receive<int>(_ =>
            {
                _received++;
                if (_received == expected)
                {
                    done.TrySetResult(_clock.Elapsed);
                }
                else if (_received % 100_000 == 50_000)
                {
                    Sender.Tell(Ack.Instance, Self); // ask for the next window halfway through this one
                }
            });
        }
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<int>(number => Sender.Tell(number, Self));
    }

    private sealed class IdleActor : ReceiveActor
    {
        public IdleActor(CountdownEvent started) => Receive<int>(_ => started.Signal());
    }
}
