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
}

internal interface IFrameInspector
{
    /// <summary>
    /// Decides on a frame from its header. A frame answered with Inspect is asked about again on
    /// the next read while it is incomplete, so state changes for such frames belong in OnFrame.
    /// </summary>
    FrameDecision OnHeader(byte code, int length);

    /// <summary>Sees a whole inspected frame; answers Pass, Stop (before it) or StopAfter.</summary>
    FrameDecision OnFrame(byte code, ReadOnlySequence<byte> payload);
}

internal enum ForwardEnd
{
    /// <summary>The inspector asked to stop (for example at a client's Terminate).</summary>
    Stopped,

    /// <summary>Someone cancelled the pending read: the lease is being taken back.</summary>
    Cancelled,

    /// <summary>The source closed its side cleanly between frames.</summary>
    SourceClosed,

    /// <summary>The destination no longer accepts data.</summary>
    DestinationClosed,

    /// <summary>Transaction and statement modes: the server connection went back to the pool at a clean point.</summary>
    Released,

    /// <summary>Transaction and statement modes: a parked connection sent something or closed between transactions; it is not used again.</summary>
    ParkedConnectionLost,
}

/// <summary>
/// The proxy loop of one direction: frames flow from one pipe to the other as slices of the
/// receive buffer, one flush per read, without a mailbox hop. Large frames stream through (only
/// their header is looked at), so a 1 GB row needs no 1 GB buffer; small control frames the
/// inspector cares about are held until whole.
/// </summary>
internal static class FrameForwarder
{
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

        var buffer = result.Buffer;
        var (taken, needMore, stop) = Scan(buffer, inspector, maxFrameLength, position);
        var consumed = buffer.GetPosition(taken);
        try
        {
            if (taken > 0)
            {
                foreach (var segment in buffer.Slice(0, taken))
                {
                    destination.Write(segment.Span);
                }

                var flushed = await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (flushed.IsCompleted)
                {
                    return ForwardEnd.DestinationClosed;
                }
            }
        }
        finally
        {
            source.AdvanceTo(consumed, needMore ? buffer.End : consumed);
        }

        if (stop)
        {
            return ForwardEnd.Stopped;
        }

        if (result.IsCompleted)
        {
            var left = buffer.Length - taken + position.RemainingInFrame;
            return left == 0 ? ForwardEnd.SourceClosed : throw new TruncatedFrameException(buffer.Length - taken);
        }

        return null;
    }

    private static (long Taken, bool NeedMore, bool Stop) Scan(ReadOnlySequence<byte> buffer, IFrameInspector inspector,
        long maxFrameLength, ForwardPosition position)
    {
        long offset = 0;
        var total = buffer.Length;
        while (offset < total)
        {
            if (position.RemainingInFrame > 0)
            {
                var take = Math.Min(position.RemainingInFrame, total - offset);
                offset += take;
                position.RemainingInFrame -= take;
                continue;
            }

            var rest = buffer.Slice(offset);
            if (!FrameReader.TryReadHeader(rest, maxFrameLength, out var code, out var length))
            {
                return (offset, true, false);
            }

            switch (inspector.OnHeader(code, length))
            {
                case FrameDecision.Stop:
                    return (offset, false, true);
                case FrameDecision.Inspect:
                    if (rest.Length < 1 + (long)length)
                    {
                        return (offset, true, false);
                    }

                    switch (inspector.OnFrame(code, rest.Slice(FrameReader.TypedHeaderLength, length - 4)))
                    {
                        case FrameDecision.Stop:
                            return (offset, false, true);
                        case FrameDecision.StopAfter:
                            return (offset + 1 + (long)length, false, true);
                    }

                    offset += 1 + (long)length;
                    break;
                default:
                    offset += FrameReader.TypedHeaderLength;
                    position.RemainingInFrame = length - 4;
                    break;
            }
        }

        return (offset, false, false);
    }
}

/// <summary>Where a direction stands between reads: inside a frame that is still streaming, or at a boundary.</summary>
internal sealed class ForwardPosition
{
    public long RemainingInFrame { get; set; }

    public bool AtFrameBoundary => RemainingInFrame == 0;
}
