using Xunit;

namespace PgBouncerActors.Actors.Tests;

public sealed class ReceiveActorSpec : TestKit.TestKit
{
    [Fact]
    public void Become_must_replace_the_handlers_for_the_following_messages()
    {
        var door = Sys.ActorOf(Props.Create<Door>());
        door.Tell("knock", TestActor);
        ExpectMsg("closed");
        door.Tell("open", TestActor);
        ExpectMsg("opening");
        door.Tell("knock", TestActor);
        ExpectMsg("come in");
        door.Tell("close", TestActor);
        ExpectMsg("closing");
        door.Tell("knock", TestActor);
        ExpectMsg("closed");
    }

    [Fact]
    public void Handlers_must_be_tried_in_order_of_registration_and_respect_their_predicates()
    {
        var router = Sys.ActorOf(Props.Create<Classifier>());
        router.Tell(-5, TestActor);
        ExpectMsg("negative");
        router.Tell(7, TestActor);
        ExpectMsg("number");
        router.Tell(2.5, TestActor);
        ExpectMsg("anything else: Double");
    }

    [Fact]
    public void An_unhandled_message_must_be_published_as_UnhandledMessage()
    {
        var door = Sys.ActorOf(Props.Create<Door>());
        Sys.EventStream.Subscribe(TestActor, typeof(UnhandledMessage));
        door.Tell(42, TestActor);
        var unhandled = ExpectMsg<UnhandledMessage>();
        Assert.Equal(42, unhandled.Message);
        Assert.Same(door, unhandled.Recipient);
        Assert.Same(TestActor, unhandled.Sender);
    }

    [Fact]
    public void Registering_a_handler_while_handling_a_message_must_fail_the_actor()
    {
        var actor = Sys.ActorOf(Props.Create<LateRegistrar>());
        actor.Tell("ping", TestActor);
        ExpectMsg("pong 1");
        actor.Tell("register now");
        actor.Tell("ping", TestActor);
        ExpectMsg("pong 1"); // a fresh instance: the late Receive threw and the default strategy restarted it
    }

    [Fact]
    public async Task Failures_must_reach_the_systems_logger_with_their_cause()
    {
        var logger = new RecordingLogger();
        await using var system = ActorSystem.Create("logged", new ActorSystemSettings { Logger = logger });
        var actor = system.ActorOf(Props.Create<LateRegistrar>(), "logged-actor");

        actor.Tell("fail");

        AwaitCondition(() => logger.Lines.Any(line => line.Contains("logged-actor") && line.Contains("boom")));
        Assert.Contains(logger.Lines, line => line.StartsWith("Error") && line.Contains("Restart"));
    }

    private sealed class Door : ReceiveActor
    {
        public Door() => Closed();

        private void Closed()
        {
            Receive<string>(_ => Sender.Tell("closed", Self), text => text == "knock");
            Receive<string>(_ =>
            {
                Sender.Tell("opening", Self);
                Become(Open);
            }, text => text == "open");
        }

        private void Open()
        {
            Receive<string>(_ => Sender.Tell("come in", Self), text => text == "knock");
            Receive<string>(_ =>
            {
                Sender.Tell("closing", Self);
                Become(Closed);
            }, text => text == "close");
        }
    }

    private sealed class Classifier : ReceiveActor
    {
        public Classifier()
        {
            Receive<int>(_ => Sender.Tell("negative", Self), number => number < 0);
            Receive<int>(_ => Sender.Tell("number", Self));
            ReceiveAny(message => Sender.Tell("anything else: " + message.GetType().Name, Self));
        }
    }

    private sealed class LateRegistrar : ReceiveActor
    {
        private int _pings;

        public LateRegistrar()
        {
            Receive<string>(_ => Receive<int>(_ => { }), text => text == "register now");
            Receive<string>(_ => throw new InvalidOperationException("boom"), text => text == "fail");
            Receive<string>(_ => Sender.Tell($"pong {++_pings}", Self));
        }
    }

    private sealed class RecordingLogger : IActorLogger
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return _lines.ToArray();
                }
            }
        }

        public bool IsEnabled(ActorLogLevel level) => true;

        public void Log(ActorLogLevel level, string source, string message, Exception? exception)
        {
            lock (_lines)
            {
                _lines.Add($"{level} {source}: {message}");
            }
        }
    }
}
