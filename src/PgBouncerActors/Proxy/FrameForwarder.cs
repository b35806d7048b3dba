using System.Buffers;
using System.IO.Pipelines;
using PgBouncerActors.Protocol.Framing;

namespace PgBouncerActors.Proxy;

/// <summary>What a forwarder does with the frame whose header it has just read.</summary>
internal enum FrameDecision
{
    /// <summary>Pass the frame through as it streams in; the payload is not looked at.</summary>
    Pass,

    /// <summary>Wait for the whole frame, show it to the inspector, then pass it.</summary>
    Inspect,

    /// <summary>Stop before this frame; it is neither consumed nor forwarded.</summary>
    Stop,

    /// <summary>Forward this (inspected) frame and what precedes it, flush, then stop: the caller decides what follows.</summary>
    StopAfter,

    /// <summary>Consume the frame without forwarding it (an answer to the pooler's own request).</summary>
    Drop,

    /// <summary>
    /// Show the inspector the start of the frame (<see cref="FrameForwarder.HeadLimit"/> bytes at most),
    /// which it may replace, header included; the rest streams through as Pass.
    /// </summary>
    RewriteHead,
}

internal interface IFrameInspector
{
    /// <summary>
    /// Decides on a frame from its header. A frame answered with Inspect is asked about again on
    /// the next read while it is incomplete, so state changes for such frames belong in OnFrame.
    /// </summary>
    FrameDecision OnHeader(byte code, int length);

    /// <summary>Sees a whole inspected frame; answers Pass, Drop, Stop (before it) or StopAfter.</summary>
    FrameDecision OnFrame(byte code, ReadOnlySequence<byte> payload);

    /// <summary>Bytes of the pooler's own to write right after the frame just inspected (empty: none).</summary>
    ReadOnlyMemory<byte> TakeInjection() => ReadOnlyMemory<byte>.Empty;

    /// <summary>
    /// Sees the start of a frame answered with RewriteHead: its payload's first bytes, up to
    /// <see cref="FrameForwarder.HeadLimit"/>. Answers 0 to pass the frame as it is; n > 0 when the
    /// bytes of <see cref="TakeInjection"/> go out instead of the header and the payload's first n
    /// bytes (the new header carries the new length); -1 to stop before the frame.
    /// </summary>
    int OnHead(byte code, int length, ReadOnlySequence<byte> head) => 0;

    /// <summary>After <see cref="OnHead"/>: whether the rest of that frame is dropped instead of streamed on (asked once; the request is cleared).</summary>
    bool TakeDropRest() => false;

    /// <summary>Whether to stop once this read is forwarded (asked after each read; the request is cleared).</summary>
    bool TakeStopRequest() => false;
}

internal enum ForwardEnd
{
    /// <summary>The inspector asked to stop (for example at a client's Terminate).</summary>
    Stopped,

    /// <summary>Someone cancelled the pending read: the session is ending.</summary>
    Cancelled,

    /// <summary>The source closed its side cleanly between frames.</summary>
    SourceClosed,

    /// <summary>The destination no longer accepts data.</summary>
    DestinationClosed,
}

/// <summary>What one read turned into: how much of it was consumed, how much went out, and whether to stop.</summary>
internal readonly record struct ForwardedRead(long Consumed, long Written, bool NeedMore, bool Stop);

/// <summary>
/// The proxy loop of one direction: frames flow from one pipe to the other as slices of the
/// receive buffer, one flush per read, without a mailbox hop. Large frames stream through (only
/// their header is looked at), so a 1 GB row needs no 1 GB buffer; small control frames the
/// inspector cares about are held until whole.
/// </summary>
internal static class FrameForwarder
{
    /// <summary>
    /// Frames up to this size go out whole or not at all; larger ones stream. A connection that
    /// breaks in the middle of a small message then leaves the other side at a message boundary,
    /// where it can still be told why in a message of its own.
    /// </summary>
    private const int WholeFrameLimit = 64 * 1024;

    /// <summary>
    /// How much of a frame's payload an inspector sees when it asks to rewrite the frame's head: a
    /// Bind's portal and statement names (PostgreSQL sets no limit on a protocol-level statement's
    /// name; PgBouncer's suite binds one of 16 KB).
    /// </summary>
    public const int HeadLimit = 64 * 1024;

    public static async Task<ForwardEnd> RunAsync(PipeReader source, PipeWriter destination, IFrameInspector inspector,
        long maxFrameLength, ForwardPosition position, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var result = await source.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (await ForwardReadAsync(source, result, destination, inspector, maxFrameLength, position, cancellationToken).ConfigureAwait(false) is { } end)
            {
                return end;
            }
        }
    }

    /// <summary>
    /// Forwards what one read brought: the whole frames and the streaming part of a large one,
    /// with one flush. Returns how the forwarding ended, or null to read on.
    /// </summary>
    public static async ValueTask<ForwardEnd?> ForwardReadAsync(PipeReader source, ReadResult result, PipeWriter destination,
        IFrameInspector inspector, long maxFrameLength, ForwardPosition position, CancellationToken cancellationToken)
    {
        if (result.IsCanceled)
        {
            source.AdvanceTo(result.Buffer.Start);
            return ForwardEnd.Cancelled;
        }

        var forwarded = Copy(source, result, destination, inspector, maxFrameLength, position);
        if (forwarded.Written > 0)
        {
            var flushed = await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCompleted)
            {
                return ForwardEnd.DestinationClosed;
            }
        }

        return EndOf(result, forwarded, position);
    }

    /// <summary>
    /// Copies what one read brought into <paramref name="destination"/> (not flushed) and advances
    /// the source past what was consumed. Synchronous: the pooled client loop does it under the link's gate.
    /// </summary>
    public static ForwardedRead Copy(PipeReader source, ReadResult result, PipeWriter destination, IFrameInspector inspector,
        long maxFrameLength, ForwardPosition position)
    {
        var buffer = result.Buffer;
        ForwardedRead forwarded = default;
        try
        {
            forwarded = Scan(buffer, destination, inspector, maxFrameLength, position);
            position.Forwarded += forwarded.Written;
        }
        finally
        {
            var consumed = buffer.GetPosition(forwarded.Consumed);
            source.AdvanceTo(consumed, forwarded.NeedMore ? buffer.End : consumed);
        }

        if (inspector.TakeStopRequest())
        {
            forwarded = forwarded with { Stop = true };
        }

        return forwarded;
    }

    /// <summary>How a read that was forwarded ends the loop, or null to read on.</summary>
    public static ForwardEnd? EndOf(ReadResult result, ForwardedRead forwarded, ForwardPosition position)
    {
        if (forwarded.Stop)
        {
            return ForwardEnd.Stopped;
        }

        if (result.IsCompleted)
        {
            var left = result.Buffer.Length - forwarded.Consumed + position.RemainingInFrame;
            return left == 0 ? ForwardEnd.SourceClosed : throw new TruncatedFrameException(result.Buffer.Length - forwarded.Consumed);
        }

        return null;
    }

    private static ForwardedRead Scan(ReadOnlySequence<byte> buffer, PipeWriter destination, IFrameInspector inspector,
        long maxFrameLength, ForwardPosition position)
    {
        var output = new Output(buffer, destination);
        long offset = 0;
        var total = buffer.Length;
        while (offset < total)
        {
            if (position.RemainingInFrame > 0)
            {
                var take = Math.Min(position.RemainingInFrame, total - offset);
                offset += take;
                position.RemainingInFrame -= take;
                if (position.Dropping)
                {
                    output.Skip(offset - take, offset);
                    position.Dropping = position.RemainingInFrame > 0;
                }

                continue;
            }

            var rest = buffer.Slice(offset);
            if (!FrameReader.TryReadHeader(rest, maxFrameLength, out var code, out var length))
            {
                return output.Done(offset, needMore: true, stop: false);
            }

            var frameEnd = offset + 1 + (long)length;
            if (length < WholeFrameLimit && rest.Length < 1 + (long)length)
            {
                return output.Done(offset, needMore: true, stop: false); // a small frame waits until it is whole, unseen
            }

            switch (inspector.OnHeader(code, length))
            {
                case FrameDecision.Stop:
                    return output.Done(offset, needMore: false, stop: true);
                case FrameDecision.RewriteHead:
                    var headLength = Math.Min(length - 4, HeadLimit);
                    if (rest.Length < FrameReader.TypedHeaderLength + headLength)
                    {
                        return output.Done(offset, needMore: true, stop: false);
                    }

                    var replaced = inspector.OnHead(code, length, rest.Slice(FrameReader.TypedHeaderLength, headLength));
                    if (replaced < 0)
                    {
                        return output.Done(offset, needMore: false, stop: true);
                    }

                    if (replaced > 0)
                    {
                        output.Replace(offset, offset + FrameReader.TypedHeaderLength + replaced, inspector.TakeInjection());
                    }

                    // The rest streams (this read and the next), the new head before it, or goes nowhere.
                    offset += FrameReader.TypedHeaderLength + replaced;
                    position.RemainingInFrame = length - 4 - replaced;
                    position.Dropping = inspector.TakeDropRest() && position.RemainingInFrame > 0;
                    break;
                case FrameDecision.Inspect:
                    if (rest.Length < 1 + (long)length)
                    {
                        return output.Done(offset, needMore: true, stop: false);
                    }

                    switch (inspector.OnFrame(code, rest.Slice(FrameReader.TypedHeaderLength, length - 4)))
                    {
                        case FrameDecision.Stop:
                            return output.Done(offset, needMore: false, stop: true);
                        case FrameDecision.StopAfter:
                            return output.Done(frameEnd, needMore: false, stop: true);
                        case FrameDecision.Drop:
                            output.Skip(offset, frameEnd);
                            break;
                    }

                    offset = frameEnd;
                    output.Inject(offset, inspector.TakeInjection());
                    break;
                case var decision:
                    // Streamed: the header now, the payload as it arrives (this read and the next).
                    position.RemainingInFrame = length - 4;
                    position.Dropping = decision == FrameDecision.Drop && length > 4;
                    if (decision == FrameDecision.Drop)
                    {
                        output.Skip(offset, offset + FrameReader.TypedHeaderLength);
                    }

                    offset += FrameReader.TypedHeaderLength;
                    break;
            }
        }

        return output.Done(offset, needMore: false, stop: false);
    }

    /// <summary>Copies the forwarded ranges of one read into the destination, leaving out dropped frames and adding injected bytes.</summary>
    private struct Output(ReadOnlySequence<byte> buffer, PipeWriter destination)
    {
        private long _copyFrom;
        private long _written;

        /// <summary>Leaves out [start, end): what precedes it goes out first.</summary>
        public void Skip(long start, long end)
        {
            CopyUpTo(start);
            _copyFrom = end;
        }

        /// <summary>Writes <paramref name="bytes"/> instead of [start, end).</summary>
        public void Replace(long start, long end, ReadOnlyMemory<byte> bytes)
        {
            Skip(start, end);
            destination.Write(bytes.Span);
            _written += bytes.Length;
        }

        public void Inject(long at, ReadOnlyMemory<byte> bytes)
        {
            if (!bytes.IsEmpty)
            {
                CopyUpTo(at);
                destination.Write(bytes.Span);
                _written += bytes.Length;
            }
        }

        public ForwardedRead Done(long consumed, bool needMore, bool stop)
        {
            CopyUpTo(consumed);
            return new ForwardedRead(consumed, _written, needMore, stop);
        }

        private void CopyUpTo(long end)
        {
            if (end <= _copyFrom)
            {
                return;
            }

            foreach (var segment in buffer.Slice(_copyFrom, end - _copyFrom))
            {
                destination.Write(segment.Span);
            }

            _written += end - _copyFrom;
            _copyFrom = end;
        }
    }
}

/// <summary>Where a direction stands between reads: inside a frame that is still streaming (and whether it is being dropped), or at a boundary.</summary>
internal sealed class ForwardPosition
{
    /// <summary>Bytes written this way so far (SHOW STATS's received and sent); written by this direction's loop only.</summary>
    public long Forwarded;

    public long RemainingInFrame { get; set; }

    public bool Dropping { get; set; }

    public bool AtFrameBoundary => RemainingInFrame == 0;
}
