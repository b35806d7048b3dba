using System.Buffers;
using System.Text;
using CsCheck;
using PgBouncerActors.Protocol.Auth;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Shared;
using Xunit;

namespace PgBouncerActors.Protocol.Tests;

/// <summary>
/// The parsers that read bytes a peer chose, on random and on mutated valid input: each answers
/// with a result or its own documented exception, never another one. CsCheck shrinks a failure
/// to a small input and prints the seed that reproduces it.
/// </summary>
public sealed class ParserPropertySpec
{
    private static readonly Gen<byte[]> Bytes = Gen.Byte.Array[0, 300];

    /// <summary>Valid startup packets, with a random share of their bytes then changed.</summary>
    private static readonly Gen<byte[]> StartupPackets =
        Gen.Select(Gen.String[Gen.Char['a', 'z'], 1, 12].Array[0, 6], Gen.Int[0, 3], Gen.Int.Array[0, 4], (names, kind, noise) =>
        {
            var builder = new MessageBuilder();
            var packet = kind switch
            {
                0 => builder.SslRequest(),
                1 => builder.CancelRequest(42, 4242),
                _ => builder.StartupMessage(names.Select(name => new KeyValuePair<string, string>(name, name + "-value"))),
            };
            var bytes = packet.ToArray();
            foreach (var position in noise)
            {
                bytes[(int)((uint)position % bytes.Length)] ^= (byte)position;
            }

            return bytes;
        });

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void A_startup_packet_parses_or_fails_with_FormatException_or_a_framing_error(string seed)
    {
        Gen.OneOf(Bytes, StartupPackets).Sample(bytes =>
        {
            try
            {
                var buffer = new ReadOnlySequence<byte>(bytes);
                if (FrameReader.TryReadStartupPacket(ref buffer, out var frame))
                {
                    StartupPacket.Parse(frame.Payload.ToArray());
                }
            }
            catch (Exception e) when (e is FormatException or FramingException)
            {
                // refused as documented
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void A_startup_message_of_any_parameters_reads_back_the_same(string seed)
    {
        var text = Gen.String[Gen.Char.Where(c => c != '\0'), 0, 40];
        Gen.Select(text.Where(t => t.Length > 0), text).Array[0, 10].Sample(parameters =>
        {
            var sent = parameters.Select(p => new KeyValuePair<string, string>(p.Item1, p.Item2)).ToArray();
            var buffer = new ReadOnlySequence<byte>(new MessageBuilder().StartupMessage(sent).ToArray());
            Assert.True(FrameReader.TryReadStartupPacket(ref buffer, out var frame));
            Assert.Equal(sent, StartupPacket.Parse(frame.Payload.ToArray()).Parameters);
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void The_frame_decoder_cuts_exactly_the_declared_frame_or_fails_with_a_framing_error(string seed)
    {
        Gen.Select(Bytes, Gen.Int[5, 400]).Sample((bytes, maximum) =>
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            try
            {
                if (FrameReader.TryReadMessage(ref buffer, maximum, out var frame))
                {
                    var declared = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(1));
                    Assert.Equal((bytes[0], declared - 4, bytes.Length - 1 - declared), (frame.Code, (int)frame.Payload.Length, (int)buffer.Length));
                    Assert.InRange(declared, 4, maximum);
                }
            }
            catch (FramingException)
            {
                // a negative, too short or too long length
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void Messages_read_back_whole_and_in_order_however_the_bytes_are_split(string seed)
    {
        var messages = Gen.Select(Gen.Byte[(byte)'A', (byte)'z'], Gen.Byte.Array[0, 100]).Array[1, 20];
        Gen.Select(messages, Gen.Int[1, 50].Array[1, 40]).Sample((sent, cuts) =>
        {
            var stream = sent.SelectMany(m => new MessageBuilder().Begin(m.Item1).WriteBytes(m.Item2).End().ToArray()).ToArray();
            var received = new List<(byte, string)>();
            var pending = new List<byte>();
            for (int at = 0, cut = 0; at < stream.Length; cut++)
            {
                var length = Math.Min(cuts[cut % cuts.Length], stream.Length - at);
                pending.AddRange(stream.AsSpan(at, length));
                at += length;
                var buffer = new ReadOnlySequence<byte>(pending.ToArray());
                while (FrameReader.TryReadMessage(ref buffer, 1 << 16, out var frame))
                {
                    received.Add((frame.Code, Convert.ToHexString(frame.Payload.ToArray())));
                }

                pending = [.. buffer.ToArray()];
            }

            Assert.Empty(pending);
            Assert.Equal(sent.Select(m => (m.Item1, Convert.ToHexString(m.Item2))), received);
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void An_error_response_of_any_bytes_parses_without_throwing(string seed)
    {
        Bytes.Sample(bytes => Assert.NotNull(PgError.Parse(bytes).Message), seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    /// <summary>SCRAM messages as a client or server might send them, and random text, and real messages with characters changed.</summary>
    private static readonly Gen<string> ScramText = Gen.OneOf(
        Gen.String[0, 120],
        Gen.Select(Gen.Int[0, 60], Gen.Char, (at, c) => Mutate("n,,n=,r=fyko+d2lbbFgONRv9qkxdawL", at, c)),
        Gen.Select(Gen.Int[0, 90], Gen.Char, (at, c) => Mutate("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", at, c)),
        Gen.Select(Gen.Int[0, 90], Gen.Char, (at, c) => Mutate("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096", at, c)),
        Gen.Select(Gen.Int[0, 50], Gen.Char, (at, c) => Mutate("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", at, c)));

    private static string Mutate(string text, int at, char c) => at < text.Length ? text[..at] + c + text[(at + 1)..] : text + c;

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void The_SCRAM_server_side_answers_any_client_message_or_refuses_it_with_ScramException(string seed)
    {
        var secret = ScramSecret.FromPassword("secret", Encoding.ASCII.GetBytes("0123456789abcdef"), 16);
        Gen.Select(ScramText, ScramText).Sample((first, final) =>
        {
            var exchange = new ScramServerExchange(secret);
            try
            {
                exchange.HandleClientFirst(first);
                exchange.HandleClientFinal(final);
            }
            catch (ScramException)
            {
                // refused as documented
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void The_SCRAM_client_side_answers_any_server_message_or_refuses_it_with_ScramException(string seed)
    {
        Gen.Select(ScramText, ScramText).Sample((first, final) =>
        {
            var exchange = ScramClientExchange.WithPassword("secret", "fyko+d2lbbFgONRv9qkxdawL");
            try
            {
                exchange.HandleServerFirst(first);
                exchange.VerifyServerFinal(final);
            }
            catch (ScramException)
            {
                // refused as documented
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }
}
