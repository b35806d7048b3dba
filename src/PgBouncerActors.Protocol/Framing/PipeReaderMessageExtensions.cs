using System.Buffers;
using System.IO.Pipelines;

namespace PgBouncerActors.Protocol.Framing;

/// <summary>
/// Whole-message reads for the low-rate phases (startup, authentication, login, reset), where a
/// copy per message costs nothing that matters. The proxy loops frame in place instead.
/// </summary>
public static class PipeReaderMessageExtensions
{
    /// <summary>The next typed message, or null when the peer closed cleanly between messages.</summary>
    public static ValueTask<PgMessage?> ReadMessageAsync(this PipeReader reader, long maxFrameLength, CancellationToken cancellationToken = default) =>
        ReadAsync(reader, (ref ReadOnlySequence<byte> buffer, out Frame frame) =>
            FrameReader.TryReadMessage(ref buffer, maxFrameLength, out frame), cancellationToken);

    /// <summary>The untyped first packet, or null when the peer closed before sending one.</summary>
    public static ValueTask<PgMessage?> ReadStartupPacketAsync(this PipeReader reader, CancellationToken cancellationToken = default) =>
        ReadAsync(reader, FrameReader.TryReadStartupPacket, cancellationToken);

    private delegate bool FrameParser(ref ReadOnlySequence<byte> buffer, out Frame frame);

    private static async ValueTask<PgMessage?> ReadAsync(PipeReader reader, FrameParser parse, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            try
            {
                if (parse(ref buffer, out var frame))
                {
                    consumed = buffer.Start;
                    examined = consumed;
                    return frame.ToMessage();
                }

                if (result.IsCompleted)
                {
                    return buffer.IsEmpty ? null : throw new TruncatedFrameException(buffer.Length);
                }

                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("the read was cancelled");
                }
            }
            finally
            {
                reader.AdvanceTo(consumed, examined);
            }
        }
    }
}
