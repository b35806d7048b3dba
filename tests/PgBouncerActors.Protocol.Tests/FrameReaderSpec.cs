using System.Buffers;
using System.IO.Pipelines;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Protocol.Tests;

public sealed class FrameReaderSpec
{
    private static ReadOnlySequence<byte> Bytes(params byte[] bytes) => new(bytes);

    [Fact]
    public void A_whole_message_is_cut_out_and_the_rest_is_left()
    {
        var buffer = new ReadOnlySequence<byte>([.. new MessageBuilder().Query("select 1").ToArray(), (byte)'S', 0, 0]);
        Assert.True(FrameReader.TryReadMessage(ref buffer, 1024, out var frame));
        Assert.Equal((byte)'Q', frame.Code);
        Assert.Equal("select 1\0"u8.ToArray(), frame.Payload.ToArray());
        Assert.Equal(3, buffer.Length);
        Assert.False(FrameReader.TryReadMessage(ref buffer, 1024, out _));
        Assert.Equal(3, buffer.Length);
    }

    [Fact]
    public void A_message_split_across_segments_is_read_whole()
    {
        var whole = new MessageBuilder().Query("select 42").ToArray();
        var first = new Segment(whole.AsMemory(0, 3));
        var last = first.Append(whole.AsMemory(3));
        var buffer = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        Assert.True(FrameReader.TryReadMessage(ref buffer, 1024, out var frame));
        Assert.Equal("select 42\0"u8.ToArray(), frame.Payload.ToArray());
    }

    [Fact]
    public void A_length_over_the_limit_fails_before_its_payload_arrives()
    {
        var buffer = Bytes((byte)'Q', 0x10, 0, 0, 0);
        var error = Assert.Throws<FrameTooLargeException>(() => FrameReader.TryReadMessage(ref buffer, 1024, out _));
        Assert.Equal(0x10000000, error.Length);
    }

    [Theory]
    [InlineData(0xFF, 0xFF, 0xFF, 0xFF)] // -1
    [InlineData(0, 0, 0, 3)] // shorter than the length field itself
    public void A_negative_or_too_small_length_is_an_invalid_frame(byte a, byte b, byte c, byte d)
    {
        var buffer = Bytes((byte)'Q', a, b, c, d);
        Assert.Throws<InvalidFrameLengthException>(() => FrameReader.TryReadMessage(ref buffer, 1024, out _));
    }

    [Fact]
    public void A_startup_packet_over_10000_bytes_is_refused()
    {
        var buffer = Bytes(0, 0, 0x27, 0x11, 0, 3, 0, 0); // 10001
        Assert.Throws<FrameTooLargeException>(() => FrameReader.TryReadStartupPacket(ref buffer, out _));
    }

    [Fact]
    public async Task A_stream_that_ends_mid_message_is_a_truncated_frame()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { (byte)'Q', 0, 0, 0, 20, 1, 2 });
        await pipe.Writer.CompleteAsync();
        await Assert.ThrowsAsync<TruncatedFrameException>(async () => await pipe.Reader.ReadMessageAsync(1024));
    }

    [Fact]
    public async Task A_stream_that_ends_between_messages_reads_as_null()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new MessageBuilder().Query("a").WrittenMemory);
        await pipe.Writer.CompleteAsync();
        Assert.Equal((byte)'Q', (await pipe.Reader.ReadMessageAsync(1024))!.Code);
        Assert.Null(await pipe.Reader.ReadMessageAsync(1024));
    }

    [Fact]
    public async Task Messages_arriving_byte_by_byte_are_reassembled()
    {
        var pipe = new Pipe();
        var bytes = new MessageBuilder().Query("select 1").Query("select 2").ToArray();
        var reading = Task.Run(async () => new[] { await pipe.Reader.ReadMessageAsync(1024), await pipe.Reader.ReadMessageAsync(1024) });
        foreach (var b in bytes)
        {
            await pipe.Writer.WriteAsync(new[] { b });
        }

        var messages = await reading;
        Assert.Equal("select 2\0"u8.ToArray(), messages[1]!.Payload);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
