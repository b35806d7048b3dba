using Akka.Actor;
using PgBouncerActors.Hosting;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Scheduling;

/// <summary>
/// The sessions' dispatcher (<see cref="HandOffExecutor"/>): an actor of it made runnable while
/// another of it runs goes next on the same thread instead of waking a pool thread (what cut a
/// login's context switches from about 34 to 8). It must keep what Akka promises anyway: every
/// message is handled, in order per sender, a chain of any length goes on, fan-out beyond the one
/// hand-over goes to the pool and loses nothing, an actor that fails is restarted and the rest runs on, and a completion inside
/// another dispatcher's actor never runs this dispatcher's actors inside that actor's message.
/// </summary>
public sealed class HandOffExecutorSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(AkkaSpecConfig.With(), output: output)
{
    /// <param name="BusyAfterTelling">How long each step keeps its thread after passing the relay on (another thread would be free to take it).</param>
    private sealed record Relay(int Left, List<int> Threads, TimeSpan BusyAfterTelling = default);

    /// <summary>Passes a relay on to the next actor of the ring until it is spent, noting the thread of each step.</summary>
    private sealed class RingMember : ReceiveActor
    {
        public IActorRef? Next { get; private set; }

        public RingMember(IActorRef done)
        {
            Receive<IActorRef>(next => Next = next);
            Receive<Relay>(relay =>
            {
                relay.Threads.Add(Environment.CurrentManagedThreadId);
                if (relay.Left == 0)
                {
                    done.Tell(relay);
                    return;
                }

                Next!.Tell(relay with { Left = relay.Left - 1 });
                var busy = System.Diagnostics.Stopwatch.StartNew();
                while (busy.Elapsed < relay.BusyAfterTelling)
                {
                    Thread.SpinWait(20);
                }
            });
        }
    }

    private IActorRef[] Ring(int size)
    {
        var members = Enumerable.Range(0, size)
            .Select(_ => Sys.ActorOf(Props.Create(() => new RingMember(TestActor)).WithDispatcher(SessionDispatcher.ConfigPath)))
            .ToArray();
        for (var i = 0; i < size; i++)
        {
            members[i].Tell(members[(i + 1) % size]);
        }

        return members;
    }

    [Fact]
    public void The_pooler_names_it_for_its_sessions()
    {
        var settings = PgBouncerActors.Configuration.SettingsLoader.LoadString("pgbouncer { listen_port = 0, auth_type = trust }");
        var named = PoolerHost.ActorSystemConfig(settings).GetString($"{SessionDispatcher.ConfigPath}.executor");
        Assert.Equal(typeof(HandOffExecutorConfigurator), Type.GetType(named, throwOnError: true));
    }

    [Fact]
    public void A_step_that_hands_over_to_another_actor_runs_next_on_the_same_thread()
    {
        var ring = Ring(3);
        // Settle the ring's own setup first, so the relay is the only work of the dispatcher.
        Thread.Sleep(200);
        // Each step stays busy after it hands over: on the bare pool another thread would take the next step meanwhile.
        ring[0].Tell(new Relay(HandOffExecutor.RunsPerTurn - 2, [], TimeSpan.FromMilliseconds(1)));
        var relay = ExpectMsg<Relay>(TimeSpan.FromSeconds(10));
        Assert.Equal(HandOffExecutor.RunsPerTurn - 1, relay.Threads.Count);
        Assert.Single(relay.Threads.Distinct());
    }

    [Fact]
    public void A_chain_of_any_length_goes_on()
    {
        var ring = Ring(4);
        ring[0].Tell(new Relay(10_000, []));
        Assert.Equal(10_001, ExpectMsg<Relay>(TimeSpan.FromSeconds(30)).Threads.Count);
    }

    [Fact]
    public void Fan_out_to_many_actors_of_the_dispatcher_delivers_every_message_in_order()
    {
        // One step makes eight actors of the dispatcher runnable: one is handed over, the other seven go to the pool.
        var sinks = Enumerable.Range(0, 8).Select(_ => CreateTestProbe()).ToArray();
        var forwarders = sinks.Select(sink => Sys.ActorOf(Props.Create(() => new Forwarder(sink.Ref)).WithDispatcher(SessionDispatcher.ConfigPath)))
            .ToArray();
        var fan = Sys.ActorOf(Props.Create(() => new FanOut(forwarders)).WithDispatcher(SessionDispatcher.ConfigPath));
        for (var i = 0; i < 200; i++)
        {
            fan.Tell(i);
        }

        foreach (var sink in sinks)
        {
            for (var i = 0; i < 200; i++)
            {
                sink.ExpectMsg(i, TimeSpan.FromSeconds(10));
            }
        }
    }

    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(IActorRef to) => Receive<int>(n => to.Tell(n));
    }

    private sealed class FanOut : ReceiveActor
    {
        public FanOut(IActorRef[] to) => Receive<int>(n =>
        {
            foreach (var target in to)
            {
                target.Tell(n);
            }
        });
    }

    private sealed class Failing : ReceiveActor
    {
        public Failing(IActorRef next) => Receive<string>(text =>
        {
            if (text == "fail")
            {
                throw new InvalidOperationException("a step that fails");
            }

            next.Tell(text);
        });
    }

    [Fact]
    public void An_actor_that_fails_is_restarted_and_the_messages_after_it_are_handled()
    {
        var failing = Sys.ActorOf(Props.Create(() => new Failing(TestActor)).WithDispatcher(SessionDispatcher.ConfigPath));
        EventFilter.Exception<InvalidOperationException>().ExpectOne(() =>
        {
            failing.Tell("before");
            failing.Tell("fail");
            failing.Tell("after");
        });
        ExpectMsg("before");
        ExpectMsg("after");
    }

    [Fact]
    public void A_turn_that_throws_still_hands_on_the_step_it_held()
    {
        var ring = Ring(1);
        Thread.Sleep(200); // settled: the relay below is the only step, held in the turn when the action throws
        Exception? thrown = null;
        // A plain thread, as a socket's: the test's own thread counts as inside TestActor, where no turn starts.
        var thread = new Thread(() => thrown = Record.Exception(() => HandOffExecutor.RunHere(static member =>
        {
            member.Tell(new Relay(0, []));
            throw new InvalidOperationException("the socket's completion failed after it set off a step");
        }, ring[0])));
        thread.Start();
        thread.Join();
        Assert.IsType<InvalidOperationException>(thrown);
        Assert.Single(ExpectMsg<Relay>(TimeSpan.FromSeconds(10)).Threads);
    }

    /// <summary>Where the hand-off actor of the spec below ran: on the other actor's thread while it was inside its message, or not.</summary>
    private static class Witness
    {
        public static volatile int InsideOnThread = -1;
    }

    /// <summary>On Akka's default dispatcher: a completion inside its message calls RunHere.</summary>
    private sealed class OtherDispatcherActor : ReceiveActor
    {
        public OtherDispatcherActor(IActorRef handOffActor) => ReceiveAny(_ =>
        {
            Witness.InsideOnThread = Environment.CurrentManagedThreadId;
            HandOffExecutor.RunHere(static target => target.Tell("from a completion"), handOffActor);
            Witness.InsideOnThread = -1;
            Sender.Tell("done", Self);
        });
    }

    private sealed class ReportsWhereItRan : ReceiveActor
    {
        public ReportsWhereItRan(IActorRef to) => ReceiveAny(_ =>
            to.Tell(Witness.InsideOnThread == Environment.CurrentManagedThreadId ? "ran inside the other actor's message" : "ran apart"));
    }

    [Fact]
    public void A_completion_inside_another_dispatchers_actor_runs_no_turn_there()
    {
        var handOff = Sys.ActorOf(Props.Create(() => new ReportsWhereItRan(TestActor)).WithDispatcher(SessionDispatcher.ConfigPath));
        var other = Sys.ActorOf(Props.Create(() => new OtherDispatcherActor(handOff)));
        for (var i = 0; i < 20; i++)
        {
            other.Tell("go");
            var answers = new[] { ExpectMsg<string>(TimeSpan.FromSeconds(10)), ExpectMsg<string>(TimeSpan.FromSeconds(10)) };
            Assert.Contains("done", answers);
            Assert.Contains("ran apart", answers);
        }
    }

    [Fact]
    public void A_turn_run_from_a_plain_thread_runs_at_most_a_turn_there_and_the_rest_on_the_pool()
    {
        var ring = Ring(2);
        Thread.Sleep(200);
        var caller = -1;
        var thread = new Thread(() =>
        {
            caller = Environment.CurrentManagedThreadId;
            HandOffExecutor.RunHere(static state => state.Ring.Tell(state.Relay), (Ring: ring[0], Relay: new Relay(100, [])));
        });
        thread.Start();
        thread.Join();
        var relay = ExpectMsg<Relay>(TimeSpan.FromSeconds(10));
        Assert.Equal(101, relay.Threads.Count);
        // A socket's thread serves other connections: it gives the chain back after one turn, and the pool finishes it.
        Assert.All(relay.Threads.Take(HandOffExecutor.RunsPerTurn), id => Assert.Equal(caller, id));
        Assert.All(relay.Threads.Skip(HandOffExecutor.RunsPerTurn), id => Assert.NotEqual(caller, id));
    }
}
