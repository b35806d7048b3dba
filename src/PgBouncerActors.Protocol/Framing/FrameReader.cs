using System.Buffers;
using System.Buffers.Binary;

namespace PgBouncerActors.Protocol.Framing;

/// <summary>
/// Cuts PostgreSQL messages out of a buffer. Typed messages are a type byte, an int32 length that
/// counts itself, and the payload; the startup packet has no type byte. Lengths are checked before
/// any payload is awaited, so a lying length fails at once instead of making the reader buffer it.
/// </summary>
public static class FrameReader
{
    public const int TypedHeaderLength = 5;

    /// <summary>Reads a typed message from the start of <paramref name="buffer"/> and slices it off.</summary>
    /// <returns>false when the buffer holds only part of a message (read more and call again).</returns>
    public static bool TryReadMessage(ref ReadOnlySequence<byte> buffer, long maxFrameLength, out Frame frame)
    {
        frame = default;
        if (!TryReadHeader(buffer, maxFrameLength, out var code, out var length))
        {
            return false;
        }

        if (buffer.Length < 1 + (long)length)
        {
            return false;
        }

        frame = new Frame(code, buffer.Slice(TypedHeaderLength, length - 4));
        buffer = buffer.Slice(1 + length);
        return true;
    }

    /// <summary>Reads and validates a typed message header (type byte and length) without its payload.</summary>
    /// <param name="length">The declared length, which counts the 4 length bytes but not the type byte.</param>
    public static bool TryReadHeader(ReadOnlySequence<byte> buffer, long maxFrameLength, out byte code, out int length)
    {
        code = 0;
        length = 0;
        if (buffer.Length < TypedHeaderLength)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[TypedHeaderLength];
        buffer.Slice(0, TypedHeaderLength).CopyTo(header);
        code = header[0];
        length = BinaryPrimitives.ReadInt32BigEndian(header[1..]);
        if (length < 4)
        {
            throw new InvalidFrameLengthException(code, length);
        }

        if (length > maxFrameLength)
        {
            throw new FrameTooLargeException(code, length, maxFrameLength);
        }

        return true;
    }

    /// <summary>Reads the untyped first packet (startup, SSL, GSS or cancel request).</summary>
    public static bool TryReadStartupPacket(ref ReadOnlySequence<byte> buffer, out Frame frame)
    {
        frame = default;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(header);
        var length = BinaryPrimitives.ReadInt32BigEndian(header);
        if (length < 8)
        {
            throw new InvalidFrameLengthException(0, length);
        }

        if (length > StartupCodes.MaxStartupPacketLength)
        {
            throw new FrameTooLargeException(0, length, StartupCodes.MaxStartupPacketLength);
        }

        if (buffer.Length < length)
        {
            return false;
        }

        frame = new Frame(0, buffer.Slice(4, length - 4));
        buffer = buffer.Slice(length);
        return true;
    }
}
