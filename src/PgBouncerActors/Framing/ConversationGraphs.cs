using System.Collections.Concurrent;
using Akka.Streams;
using Akka.Streams.Dsl;
using PgBouncerActors.Protocol.Framing;

namespace PgBouncerActors.Framing;

/// <summary>
/// Where conversations get their running graph. Materializing one means making and later stopping
/// a stream actor, most of what a conversation cost a login; so a graph whose conversation ended
/// cleanly (nothing in flight, no failure, nothing given up on) is kept, running and holding no
/// connection, for the next conversation, up to <paramref name="keep"/> of them. Every graph is
/// materialized from one blueprint, built and fused once per process.
/// </summary>
internal sealed class ConversationGraphs(IMaterializer materializer, int keep = ConversationGraphs.DefaultKeep)
{
    /// <summary>Enough for the logins a busy pooler runs at once; a graph kept costs an idle stream actor.</summary>
    public const int DefaultKeep = 64;

    private static readonly IRunnableGraph<((OfferSource<FrameRequest>.Handle, TakeSink<PgMessage>.Handle), OfferSource<OutgoingFrames>.Handle)> Blueprint =
        BuildBlueprint();

    private readonly ConcurrentStack<ConversationLines> _idle = new();
    private int _idleCount;
    private long _materialized;

    public IMaterializer Materializer { get; } = materializer;

    /// <summary>Graphs kept running for the next conversation.</summary>
    public int Idle => Volatile.Read(ref _idleCount);

    /// <summary>Graphs materialized since this was made: a conversation that found a kept one made none.</summary>
    public long Materialized => Interlocked.Read(ref _materialized);

    /// <summary>A kept graph that is still running, or a new one.</summary>
    public ConversationLines Take()
    {
        while (_idle.TryPop(out var kept))
        {
            Interlocked.Decrement(ref _idleCount);
            if (kept.Running)
            {
                return kept;
            }
        }

        Interlocked.Increment(ref _materialized);
        var ((requests, frames), outgoing) = Blueprint.Run(Materializer);
        return new ConversationLines(requests, frames, outgoing);
    }

    /// <summary>Keeps a cleanly ended conversation's graph for the next one, or stops it when enough are kept.</summary>
    public void Return(ConversationLines lines)
    {
        if (Interlocked.Increment(ref _idleCount) <= keep && lines.Running)
        {
            _idle.Push(lines);
            return;
        }

        Interlocked.Decrement(ref _idleCount);
        lines.Stop();
    }

    /// <summary>
    /// Both lines in one graph, so one stream actor per conversation, not two. The stages hold no
    /// connection (each read request and each write carries its pipe): that is what lets every
    /// conversation share the blueprint, and a graph serve one connection after another.
    /// </summary>
    private static IRunnableGraph<((OfferSource<FrameRequest>.Handle, TakeSink<PgMessage>.Handle), OfferSource<OutgoingFrames>.Handle)> BuildBlueprint()
    {
        var reading = Source.FromGraph(new OfferSource<FrameRequest>())
            .Via(new FrameDecoderStage())
            .ToMaterialized(new TakeSink<PgMessage>(), Keep.Both);
        var writing = Source.FromGraph(new OfferSource<OutgoingFrames>()).To(new PipeWriterSink());
        var graph = GraphDsl.Create(reading, writing, Keep.Both, (_, _, _) => ClosedShape.Instance);
        return RunnableGraph.FromGraph(Fusing.Aggressive(graph));
    }
}

/// <summary>The ends of one running conversation graph: read requests in, frames out, and writes in.</summary>
internal sealed record ConversationLines(OfferSource<FrameRequest>.Handle Requests, TakeSink<PgMessage>.Handle Frames,
    OfferSource<OutgoingFrames>.Handle Outgoing)
{
    /// <summary>No stage of it has stopped.</summary>
    public bool Running => !Requests.Ended.Task.IsCompleted && !Frames.Stopped.IsCompleted && !Outgoing.Ended.Task.IsCompleted;

    /// <summary>Ends both lines; the reading end's stop (<see cref="TakeSink{T}.Handle.Stopped"/>) says when the pipe is free.</summary>
    public void Stop()
    {
        Requests.CompleteStream();
        Outgoing.CompleteStream();
    }
}
