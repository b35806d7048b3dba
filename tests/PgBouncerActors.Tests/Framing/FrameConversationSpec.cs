using PgBouncerActors.Tests.Shared;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Streams;
using PgBouncerActors.Framing;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Framing;

/// <summary>
/// The Akka.Streams bridge on a real loopback socket: one frame per read and nothing read ahead
/// (what a conversation leaves is exactly where the proxy loops go on), typed errors for bad
/// frames, and writes flushed in order.
/// </summary>
public sealed class FrameConversationSpec : Akka.TestKit.Xunit2.TestKit
{
    private readonly ConversationGraphs _streams;
    private readonly Socket _peer;
    private readonly PgSocket _socket;

    public FrameConversationSpec(ITestOutputHelper output) : base(AkkaSpecConfig.With(), output: output)
    {
        _streams = new ConversationGraphs(Sys.Materializer());
        (_socket, _peer) = LoopbackSockets.Connect();
    }

    private void PeerSends(params MessageBuilder[] messages)
    {
        foreach (var message in messages)
        {
            _peer.Send(message.WrittenMemory.Span);
        }
    }

    [Fact]
    public async Task Each_read_takes_one_frame_and_what_follows_the_last_one_stays_in_the_pipe()
    {
        // All at once, as a pipelining client sends them: startup packet, a Query, then more.
        PeerSends(new MessageBuilder().StartupMessage([new("user", "alice"), new("database", "app")]),
            new MessageBuilder().Query("select 1"), new MessageBuilder().Query("select 2").Sync());
        await Task.Delay(50); // let every byte arrive, so a reader that read ahead would take them

        await using (var frames = FrameConversation.Open(_socket, _streams))
        {
            var startup = await frames.ReadStartupPacketAsync(CancellationToken.None);
            Assert.Equal("alice", StartupPacket.Parse(startup!.Payload).Parameters.Single(p => p.Key == "user").Value);
            var query = await frames.ReadMessageAsync(1 << 20, CancellationToken.None);
            Assert.Equal(('Q', "select 1\0"), (query!.Type, System.Text.Encoding.UTF8.GetString(query.Payload)));
        }

        // The proxy loop's own reader finds the next message whole, and the one after it.
        var next = await _socket.Input.ReadMessageAsync(1 << 20);
        Assert.Equal(('Q', "select 2\0"), (next!.Type, System.Text.Encoding.UTF8.GetString(next.Payload)));
        Assert.Equal('S', (await _socket.Input.ReadMessageAsync(1 << 20))!.Type);
    }

    [Fact]
    public async Task A_frame_over_the_limit_fails_with_the_decoders_own_exception_before_its_payload_arrives()
    {
        _peer.Send([(byte)'p', 0x00, 0x10, 0x00, 0x00]); // declares a 1 MB password message, sends none of it
        await using var frames = FrameConversation.Open(_socket, _streams);
        var error = await Assert.ThrowsAsync<FrameTooLargeException>(() => frames.ReadMessageAsync(10_000, CancellationToken.None));
        Assert.Equal(0x100000, error.Length);
    }

    [Fact]
    public async Task A_length_below_four_fails_as_an_invalid_frame_length()
    {
        _peer.Send([(byte)'Q', 0x00, 0x00, 0x00, 0x02]);
        await using var frames = FrameConversation.Open(_socket, _streams);
        await Assert.ThrowsAsync<InvalidFrameLengthException>(() => frames.ReadMessageAsync(1 << 20, CancellationToken.None));
    }

    [Fact]
    public async Task A_peer_that_closes_inside_a_frame_fails_as_truncated_and_one_that_closes_between_frames_ends_cleanly()
    {
        await using (var frames = FrameConversation.Open(_socket, _streams))
        {
            PeerSends(new MessageBuilder().Sync());
            Assert.Equal('S', (await frames.ReadMessageAsync(1 << 20, CancellationToken.None))!.Type);
            _peer.Shutdown(SocketShutdown.Send);
            Assert.Null(await frames.ReadMessageAsync(1 << 20, CancellationToken.None));
        }
    }

    [Fact]
    public async Task A_peer_that_closes_in_the_middle_of_a_frame_fails_the_read_as_truncated()
    {
        _peer.Send([(byte)'Q', 0x00, 0x00, 0x00, 0x20, (byte)'s', (byte)'e']);
        _peer.Shutdown(SocketShutdown.Send);
        await using var frames = FrameConversation.Open(_socket, _streams);
        await Assert.ThrowsAsync<TruncatedFrameException>(() => frames.ReadMessageAsync(1 << 20, CancellationToken.None));
    }

    [Fact]
    public async Task Writes_are_flushed_in_order_before_each_send_completes()
    {
        await using (var frames = FrameConversation.Open(_socket, _streams))
        {
            await frames.SendAsync(new MessageBuilder().AuthenticationOk(), CancellationToken.None);
            await frames.SendAsync(new MessageBuilder().ReadyForQuery(), CancellationToken.None);
        }

        var received = new byte[64];
        var total = 0;
        while (total < 15)
        {
            total += await _peer.ReceiveAsync(received.AsMemory(total), SocketFlags.None);
        }

        Assert.Equal(new MessageBuilder().AuthenticationOk().ReadyForQuery().WrittenMemory.ToArray(), received[..total]);
    }

    [Fact]
    public async Task A_read_given_up_on_lets_go_of_the_pipe_for_the_next_reader()
    {
        await using (var frames = FrameConversation.Open(_socket, _streams))
        {
            using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => frames.ReadMessageAsync(1 << 20, giveUp.Token));
        }

        await Task.Delay(50); // the decoder's pending read is cancelled as its stage stops
        PeerSends(new MessageBuilder().Sync());
        Assert.Equal('S', (await _socket.Input.ReadMessageAsync(1 << 20))!.Type);
    }

    [Fact]
    public async Task Conversations_one_after_another_run_on_one_graph_and_a_graph_given_up_on_is_stopped_not_kept()
    {
        for (var i = 0; i < 10; i++)
        {
            await using var frames = FrameConversation.Open(_socket, _streams);
            PeerSends(new MessageBuilder().Sync());
            Assert.Equal('S', (await frames.ReadMessageAsync(1 << 20, CancellationToken.None))!.Type);
            await frames.SendAsync(new MessageBuilder().ReadyForQuery(), CancellationToken.None);
        }

        await using (FrameConversation.Open(_socket, _streams))
        {
            // opened and closed without a read, as trust authentication does
        }

        Assert.Equal((1, 1), (_streams.Materialized, _streams.Idle));
        await AwaitAssertAsync(async () => Assert.Equal(1, await RunningGraphsAsync()), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));

        // A read given up on may leave its graph mid-way: that graph stops, and the next conversation gets a new one.
        await using (var frames = FrameConversation.Open(_socket, _streams))
        {
            using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => frames.ReadMessageAsync(1 << 20, giveUp.Token));
        }

        await using (var frames = FrameConversation.Open(_socket, _streams))
        {
            PeerSends(new MessageBuilder().Sync());
            Assert.Equal('S', (await frames.ReadMessageAsync(1 << 20, CancellationToken.None))!.Type);
        }

        Assert.Equal((2, 1), (_streams.Materialized, _streams.Idle));
        await AwaitAssertAsync(async () => Assert.Equal(1, await RunningGraphsAsync()), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_kept_graph_reads_and_writes_the_socket_of_the_conversation_that_took_it()
    {
        var (other, otherPeer) = LoopbackSockets.Connect();
        try
        {
            await using (var frames = FrameConversation.Open(_socket, _streams))
            {
                PeerSends(new MessageBuilder().Query("on the first"));
                Assert.Equal('Q', (await frames.ReadMessageAsync(1 << 20, CancellationToken.None))!.Type);
            }

            otherPeer.Send(new MessageBuilder().Query("on the second").WrittenMemory.Span);
            PeerSends(new MessageBuilder().Query("left for the first socket's proxy loop"));
            await using (var frames = FrameConversation.Open(other, _streams))
            {
                var query = await frames.ReadMessageAsync(1 << 20, CancellationToken.None);
                Assert.Equal("on the second\0", System.Text.Encoding.UTF8.GetString(query!.Payload));
                await frames.SendAsync(new MessageBuilder().ReadyForQuery(), CancellationToken.None);
            }

            Assert.Equal(1, _streams.Materialized);
            var received = new byte[6];
            var total = 0;
            while (total < received.Length)
            {
                total += await otherPeer.ReceiveAsync(received.AsMemory(total), SocketFlags.None);
            }

            Assert.Equal(new MessageBuilder().ReadyForQuery().WrittenMemory.ToArray(), received);
            var left = await _socket.Input.ReadMessageAsync(1 << 20);
            Assert.Equal("left for the first socket's proxy loop\0", System.Text.Encoding.UTF8.GetString(left!.Payload));
        }
        finally
        {
            otherPeer.Dispose();
            other.Abort();
        }
    }

    [Fact]
    public async Task A_conversation_whose_peer_closed_does_not_keep_its_graph()
    {
        await using (var frames = FrameConversation.Open(_socket, _streams))
        {
            _peer.Shutdown(SocketShutdown.Send);
            Assert.Null(await frames.ReadMessageAsync(1 << 20, CancellationToken.None));
        }

        Assert.Equal(0, _streams.Idle);
        await AwaitAssertAsync(async () => Assert.Equal(0, await RunningGraphsAsync()), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));
    }

    /// <summary>One stream actor per running graph lives under the materializer's supervisor.</summary>
    private async Task<int> RunningGraphsAsync()
    {
        var supervisor = ((ActorMaterializer)_streams.Materializer).Supervisor;
        var probe = CreateTestProbe();
        Sys.ActorSelection(supervisor.Path / "*").Tell(new Identify(null), probe.Ref);
        var running = 0;
        while (await probe.ReceiveOneAsync(TimeSpan.FromMilliseconds(300)) is ActorIdentity { Subject: not null })
        {
            running++;
        }

        return running;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _peer.Dispose();
            _socket.Abort();
        }

        base.Dispose(disposing);
    }
}
