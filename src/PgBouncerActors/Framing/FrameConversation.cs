using Akka.Streams;
using Akka.Streams.Dsl;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Framing;

/// <summary>
/// A message-level conversation on a socket, run as one Akka.Streams graph of two lines: frame
/// requests (an <see cref="OfferSource{T}"/>) → <see cref="FrameDecoderStage"/> → a
/// <see cref="TakeSink{T}"/> the conversation takes frames from, and outgoing messages (another
/// OfferSource) → <see cref="PipeWriterSink"/>. It serves the low-rate phases (the client's
/// startup, SSL negotiation and authentication, the server login), one read or write at a time.
/// Disposing it leaves the pipes to the proxy loops, exactly at the end of the last frame read. A linked session's bytes do not go through it: they
/// flow pipe to pipe, because a graph per direction per idle client would cost memory and CPU
/// per transaction that the pooler's users pay for (see README "Akka.NET").
/// </summary>
internal sealed class FrameConversation : IAsyncDisposable
{
    private readonly OfferSource<FrameRequest>.Handle _requests;
    private readonly TakeSink<PgMessage>.Handle _frames;
    private readonly OfferSource<OutgoingFrames>.Handle _outgoing;
    private int _disposed;

    private FrameConversation(PgSocket socket, IMaterializer materializer)
    {
        var reading = Source.FromGraph(new OfferSource<FrameRequest>())
            .Via(new FrameDecoderStage(socket.Input))
            .ToMaterialized(new TakeSink<PgMessage>(), Keep.Both);
        var writing = Source.FromGraph(new OfferSource<OutgoingFrames>()).To(new PipeWriterSink(socket.Output));
        // Both directions in one graph: one stream actor per conversation, not two.
        ((_requests, _frames), _outgoing) = RunnableGraph.FromGraph(
                GraphDsl.Create(reading, writing, Keep.Both, (_, _, _) => ClosedShape.Instance))
            .Run(materializer);
    }

    public static FrameConversation Open(PgSocket socket, IMaterializer materializer) => new(socket, materializer);

    /// <summary>The untyped first packet, or null when the peer closed before sending one.</summary>
    public Task<PgMessage?> ReadStartupPacketAsync(CancellationToken cancellationToken) => ReadAsync(FrameRequest.Startup, cancellationToken);

    /// <summary>The next typed message, or null when the peer closed cleanly between messages.</summary>
    public Task<PgMessage?> ReadMessageAsync(long maxFrameLength, CancellationToken cancellationToken) =>
        ReadAsync(FrameRequest.Message(maxFrameLength), cancellationToken);

    /// <summary>Writes composed messages; done when they are flushed to the socket.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> messages, CancellationToken cancellationToken)
    {
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _outgoing.OfferAsync(new OutgoingFrames(messages, written)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await written.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task SendAsync(MessageBuilder builder, CancellationToken cancellationToken) => SendAsync(builder.WrittenMemory, cancellationToken);

    private async Task<PgMessage?> ReadAsync(FrameRequest request, CancellationToken cancellationToken)
    {
        // A read given up on ends the decoder, which lets go of the pipe at once.
        using var giveUp = cancellationToken.Register(static requests => ((OfferSource<FrameRequest>.Handle)requests!).CompleteStream(), _requests);
        var frame = _frames.TakeAsync();
        await _requests.OfferAsync(request).ConfigureAwait(false);
        // The decoder's own exception (FrameTooLargeException, ...) comes out as a direct read would throw it.
        return await frame.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends both lines of the graph and waits until the reading end has stopped, so the pipe is
    /// the proxy loops' again. Every send was awaited until flushed, so nothing written is behind.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _requests.CompleteStream();
        _outgoing.CompleteStream();
        try
        {
            await _frames.Stopped.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // a graph that fails to end is not worth holding a session for
        }
    }
}
