using PgBouncerActors.Tests.Shared;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Streams;
using BenchmarkDotNet.Attributes;
using PgBouncerActors.Framing;
using PgBouncerActors.Hosting;
using PgBouncerActors.Net;

namespace PgBouncerActors.Benchmarks;

/// <summary>
/// What a login costs the pooler beyond the protocol: the session actor made and stopped, and
/// the Akka.Streams conversation of the startup and authentication opened and ended.
/// </summary>
[MemoryDiagnoser]
public class LoginPathBenchmarks
{
    private ActorSystem _system = null!;
    private ConversationGraphs _streams = null!;
    private ConversationGraphs _keepingNone = null!;
    private Socket _peer = null!;
    private PgSocket _socket = null!;

    [GlobalSetup]
    public void Setup()
    {
        _system = ActorSystem.Create("bench", "akka.loglevel = WARNING");
        var materializer = _system.Materializer();
        _streams = new ConversationGraphs(materializer);
        _keepingNone = new ConversationGraphs(materializer, keep: 0);
        (_socket, _peer) = LoopbackSockets.Connect();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _peer.Dispose();
        _socket.Abort();
        _system.Terminate().Wait();
    }

    [Benchmark(Description = "conversation opened and ended (a kept graph)")]
    public async Task Conversation()
    {
        var frames = FrameConversation.Open(_socket, _streams);
        await frames.DisposeAsync();
    }

    [Benchmark(Description = "conversation opened and ended (its graph materialized from the blueprint and stopped)")]
    public async Task ConversationOnANewGraph()
    {
        var frames = FrameConversation.Open(_socket, _keepingNone);
        await frames.DisposeAsync();
    }

    [Benchmark(Description = "actor made, asked once, stopped")]
    public async Task ActorLifetime()
    {
        var actor = _system.ActorOf(ActorProps.Of(() => new Echo()));
        await actor.Ask<int>(1);
        await actor.GracefulStop(TimeSpan.FromSeconds(5));
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<int>(n => Sender.Tell(n, Self));
    }
}
