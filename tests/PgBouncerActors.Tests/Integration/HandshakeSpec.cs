using System.Net.Sockets;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// What a client sends before its startup packet, answered byte for byte as PostgreSQL answers
/// it: the same bytes go to the scratch cluster directly and to the pooler.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HandshakeSpec(PostgresFixture postgres)
{
    /// <summary>Sends the packets and returns every byte the peer sends back until it closes (or 5 s pass).</summary>
    private static async Task<byte[]> ExchangeAsync(int port, params byte[][] packets)
    {
        await using var socket = await PgSocket.ConnectAsync("127.0.0.1", port, CancellationToken.None);
        var answer = new List<byte>();
        foreach (var packet in packets)
        {
            await socket.SendAsync(packet);
            if (packet.Length == 8 && packet[7] is 0x2f or 0x30) // an SSL or GSS request: its one-byte answer comes first
            {
                answer.AddRange(await ReadAsync(socket, stopAfter: 1));
            }
        }

        answer.AddRange(await ReadAsync(socket, stopAfter: int.MaxValue));
        return [.. answer];
    }

    private static async Task<byte[]> ReadAsync(PgSocket socket, int stopAfter)
    {
        var bytes = new List<byte>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            while (bytes.Count < stopAfter)
            {
                var result = await socket.Input.ReadAsync(timeout.Token);
                var take = (int)Math.Min(result.Buffer.Length, stopAfter - bytes.Count);
                bytes.AddRange(System.Buffers.BuffersExtensions.ToArray(result.Buffer.Slice(0, take)));
                socket.Input.AdvanceTo(result.Buffer.GetPosition(take));
                if (result.IsCompleted && take == result.Buffer.Length)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
        {
            // closed by a reset, or silent: what came so far is the answer
        }

        return [.. bytes];
    }

    private static byte[] Packet(Func<MessageBuilder, MessageBuilder> compose) => compose(new MessageBuilder()).ToArray();

    public static TheoryData<string, byte[][]> Openings => new()
    {
        // node-postgres' connect(); end(): a Terminate where the startup packet should be. PostgreSQL closes quietly.
        { "a Terminate before the startup packet", [Packet(b => b.Terminate())] },
        // libpq with sslmode=prefer asks once; a second request on the same connection is read as a startup packet of protocol 1234.5679.
        { "a second SSLRequest", [Packet(b => b.SslRequest()), Packet(b => b.SslRequest())] },
        // Protocol 2 is refused with 0A000, in protocol 2's own layout.
        { "a protocol 2.0 startup packet", [Packet(b => b.BeginUntyped().WriteInt32(2 << 16).WriteBytes(new byte[64]).End())] },
        { "a protocol 4.0 startup packet", [Packet(b => b.BeginUntyped().WriteInt32(4 << 16).WriteCString("user").WriteCString("x").WriteByte(0).End())] },
    };

    [Theory]
    [MemberData(nameof(Openings))]
    public async Task The_pooler_answers_what_comes_before_a_startup_packet_exactly_as_PostgreSQL_does(string _, byte[][] packets)
    {
        await using var pooler = postgres.StartPooler();
        var direct = Readable(await ExchangeAsync(postgres.Cluster.Port, packets));
        var pooled = Readable(await ExchangeAsync(pooler.Port, packets));
        Assert.Equal(direct, pooled);
    }

    /// <summary>
    /// What a client reads: one-byte answers as they are, a protocol 2 error as its text, a
    /// protocol 3 error as severity, SQLSTATE and message (PostgreSQL adds its source file and line).
    /// </summary>
    private static string Readable(byte[] answer)
    {
        var parts = new List<string>();
        var at = 0;
        while (at < answer.Length)
        {
            if (answer[at] == 'E' && at + 5 <= answer.Length && answer[at + 1] == 0)
            {
                var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(answer.AsSpan(at + 1));
                var error = PgError.Parse(answer.AsSpan(at + 5, length - 4));
                parts.Add($"E[{error.Fields!['S']} {error.Fields['V']} {error.SqlState} {error.Message}]");
                at += 1 + length;
            }
            else if (answer[at] == 'E')
            {
                parts.Add("E2[" + System.Text.Encoding.UTF8.GetString(answer, at + 1, answer.Length - at - 1) + "]");
                break;
            }
            else
            {
                parts.Add(((char)answer[at++]).ToString());
            }
        }

        return string.Join(" ", parts);
    }

    [Fact]
    public async Task After_an_SSLRequest_a_GSSENCRequest_is_still_answered_as_libpq_expects()
    {
        await using var pooler = postgres.StartPooler();
        var gss = Packet(b => b.BeginUntyped().WriteInt32(StartupCodes.GssEncRequest).End());
        var startup = Packet(b => b.StartupMessage([new("user", PostgresFixture.ScramUser), new("database", "postgres")]));
        var answer = await ExchangeAsync(pooler.Port, Packet(b => b.SslRequest()), gss, startup);
        Assert.Equal("NN", System.Text.Encoding.ASCII.GetString(answer, 0, 2));
        Assert.Equal((byte)'R', answer[2]); // and then the authentication request
    }
}
