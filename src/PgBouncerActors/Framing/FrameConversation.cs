using System.IO.Pipelines;
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
/// The graph comes from <see cref="ConversationGraphs"/>, which keeps graphs of conversations that
/// ended cleanly for the next ones.
/// Disposing it leaves the pipes to the proxy loops, exactly at the end of the last frame read. A linked session's bytes do not go through it: they
/// flow pipe to pipe, because a graph per direction per idle client would cost memory and CPU
/// per transaction that the pooler's users pay for (see README "Akka.NET").
/// </summary>
internal sealed class FrameConversation : IAsyncDisposable
{
    private readonly ConversationGraphs _graphs;
    private readonly ConversationLines _lines;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private int _inFlight; // reads and sends not settled yet
    private volatile bool _spoiled; // a read or send failed or was given up on: the graph may be mid-way, it is not kept
    private int _disposed;

    private FrameConversation(PgSocket socket, ConversationGraphs graphs)
    {
        _graphs = graphs;
        _lines = graphs.Take();
        _input = socket.Input;
        _output = socket.Output;
    }

    public static FrameConversation Open(PgSocket socket, ConversationGraphs graphs) => new(socket, graphs);

    /// <summary>The untyped first packet, or null when the peer closed before sending one.</summary>
    public Task<PgMessage?> ReadStartupPacketAsync(CancellationToken cancellationToken) => ReadAsync(FrameRequest.Startup(_input), cancellationToken);

    /// <summary>The next typed message, or null when the peer closed cleanly between messages.</summary>
    public Task<PgMessage?> ReadMessageAsync(long maxFrameLength, CancellationToken cancellationToken) =>
        ReadAsync(FrameRequest.Message(_input, maxFrameLength), cancellationToken);

    /// <summary>Writes composed messages; done when they are flushed to the socket.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> messages, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            ThrowIfDisposed();
            var written = new TaskCompletionSource(); // continued on the stage's thread (see OfferSource)
            // Given up on, the write is cancelled where it is awaited: one registration, where WaitAsync made a
            // task, a registration and a continuation per await. The offer itself is taken at once (each write
            // is awaited before the next, so the sink is free), and a stopped graph settles it.
            using var giveUp = cancellationToken.UnsafeRegister(static written => ((TaskCompletionSource)written!).TrySetCanceled(), written);
            await _lines.Outgoing.OfferAsync(new OutgoingFrames(_output, messages, written)).ConfigureAwait(false);
            await written.Task.ConfigureAwait(false);
        }
        catch
        {
            _spoiled = true;
            throw;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public Task SendAsync(MessageBuilder builder, CancellationToken cancellationToken) => SendAsync(builder.WrittenMemory, cancellationToken);

    private async Task<PgMessage?> ReadAsync(FrameRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            ThrowIfDisposed();
            // A read given up on ends the decoder, which lets go of the pipe at once, and the stream's end settles
            // the take: so the take alone is awaited (no WaitAsync: a task, a registration and a hop per read).
            using var giveUp = cancellationToken.Register(static lines => ((ConversationLines)lines!).Requests.CompleteStream(), _lines);
            // The frame is awaited, not the request's acceptance: a request the stream never takes ends the take too.
            var frame = _lines.Frames.TakeAsync();
            _lines.Requests.Post(request);
            // The decoder's own exception (FrameTooLargeException, ...) comes out as a direct read would throw it.
            var message = await frame.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested(); // given up on: what the ended stream settled the take with is no answer
            return message ?? Ended();
        }
        catch
        {
            _spoiled = true;
            throw;
        }
        finally
        {
            // Given up on just as the frame came: the read succeeded, but its graph is ending.
            if (cancellationToken.IsCancellationRequested)
            {
                _spoiled = true;
            }

            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>
    /// A conversation disposed is done with its graph, which may already serve another: what
    /// counts an operation in flight comes before this check, and disposal sets the flag before it
    /// looks at that count, so either the operation sees the disposal or the disposal sees it in flight.
    /// </summary>
    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);

    /// <summary>The peer closed between frames: the reading line has completed, and the graph with it.</summary>
    private PgMessage? Ended()
    {
        _spoiled = true;
        return null;
    }

    /// <summary>
    /// Gives the graph back for the next conversation when this one ended cleanly; otherwise ends
    /// both lines and waits until the reading end has stopped, so the pipe is the proxy loops'
    /// again. Every send was awaited until flushed, so nothing written is behind.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (!_spoiled && Volatile.Read(ref _inFlight) == 0)
        {
            _graphs.Return(_lines);
            return;
        }

        _lines.Stop();
        try
        {
            await _lines.Frames.Stopped.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // a graph that fails to end is not worth holding a session for
        }
    }
}
