using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace PgBouncerActors.Protocol.Messages;

/// <summary>
/// Writes messages into a growing buffer: <see cref="Begin"/> reserves the length field,
/// <see cref="End"/> fills it in. Used for the messages the pooler composes itself (login answers,
/// errors, startup and authentication), never for forwarded traffic.
/// </summary>
public sealed class MessageBuilder
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private int _messageStart = -1;

    public int Length => _buffer.WrittenCount;

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.WrittenMemory;

    /// <summary>Starts a typed message.</summary>
    public MessageBuilder Begin(byte code)
    {
        WriteByte(code);
        return BeginUntyped();
    }

    /// <summary>Starts a message without a type byte (startup, SSL, cancel requests).</summary>
    public MessageBuilder BeginUntyped()
    {
        _messageStart = _buffer.WrittenCount;
        return WriteInt32(0); // placeholder for the length
    }

    public MessageBuilder End()
    {
        var length = _buffer.WrittenCount - _messageStart;
        var written = System.Runtime.InteropServices.MemoryMarshal.AsMemory(_buffer.WrittenMemory);
        BinaryPrimitives.WriteInt32BigEndian(written.Span.Slice(_messageStart, 4), length);
        _messageStart = -1;
        return this;
    }

    public MessageBuilder WriteByte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public MessageBuilder WriteInt16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
        return this;
    }

    public MessageBuilder WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public MessageBuilder WriteBytes(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        return this;
    }

    /// <summary>A NUL-terminated UTF-8 string, as every string field of the protocol is.</summary>
    /// <summary>A count, then each value as a length and its UTF-8 bytes, -1 for SQL NULL (DataRow's and Bind's layout).</summary>
    public MessageBuilder WriteTextValues(IReadOnlyList<string?> values)
    {
        WriteInt16((short)values.Count);
        foreach (var value in values)
        {
            if (value is null)
            {
                WriteInt32(-1);
                continue;
            }

            var bytes = System.Text.Encoding.UTF8.GetBytes(value);
            WriteInt32(bytes.Length).WriteBytes(bytes);
        }

        return this;
    }

    public MessageBuilder WriteCString(string value)
    {
        var span = _buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(value.Length) + 1);
        var count = Encoding.UTF8.GetBytes(value, span);
        span[count] = 0;
        _buffer.Advance(count + 1);
        return this;
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    public void Clear()
    {
        _buffer.Clear();
        _messageStart = -1;
    }
}
