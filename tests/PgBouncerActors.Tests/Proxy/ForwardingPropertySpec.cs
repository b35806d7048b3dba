using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using CsCheck;
using PgBouncerActors.Configuration;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;
using PgBouncerActors.Session;
using PgBouncerActors.Tests.Shared;
using Xunit;

namespace PgBouncerActors.Tests.Proxy;

/// <summary>
/// The inspectors and the forwarder on streams a peer chose, cut into reads at random: what
/// PostgreSQL reads passes unchanged whatever the cuts, anything else stops the stream at the
/// message that broke it, and nothing throws but the framing errors.
/// </summary>
public sealed class ForwardingPropertySpec
{
    private static readonly IReadOnlyDictionary<string, string> Startup =
        new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["TimeZone"] = "Europe/Berlin" };

    private static readonly string[] Queries = ["select 1", "begin", "commit", "reset all", "discard all", "set timezone to default", "copy t from stdin"];

    /// <summary>A message a client may send: the types and shapes PostgreSQL reads after login.</summary>
    private static readonly Gen<byte[]> ClientMessage = Gen.OneOf(
        Gen.OneOf(Queries).Select(sql => new MessageBuilder().Query(sql).ToArray()),
        Gen.OneOf(Queries).Select(sql => new MessageBuilder().Parse(sql.Length % 2 == 0 ? "" : "s1", sql).ToArray()),
        Gen.Const(new MessageBuilder().Bind("", "s1").ToArray()),
        Gen.Const(new MessageBuilder().Bind("", "").ToArray()),
        Gen.Const(new MessageBuilder().Describe('P', "").ToArray()),
        Gen.Const(new MessageBuilder().Execute("").ToArray()),
        Gen.Const(new MessageBuilder().Sync().ToArray()),
        Gen.Const(new MessageBuilder().Flush().ToArray()),
        Gen.Byte.Array[0, 3000].Select(data => new MessageBuilder().CopyData(data).ToArray()),
        Gen.Const(new MessageBuilder().CopyDone().ToArray()),
        Gen.Const(new MessageBuilder().CopyFail("no").ToArray()));

    /// <summary>Anything at all: a valid message, or a random type byte and length with random bytes.</summary>
    private static readonly Gen<byte[]> AnyMessage = Gen.OneOf(ClientMessage,
        Gen.Select(Gen.Byte, Gen.Byte.Array[0, 40], (code, payload) => new MessageBuilder().Begin(code).WriteBytes(payload).End().ToArray()),
        Gen.Byte.Array[1, 12]);

    private static readonly Gen<int[]> Cuts = Gen.Int[1, 700].Array[1, 30];

    /// <summary>Feeds <paramref name="stream"/> to the forwarder in reads of the given sizes; returns what reached the other side and how it ended.</summary>
    private static (byte[] Output, bool Stopped) Forward(byte[] stream, int[] cuts, IFrameInspector inspector, ForwardPosition position)
    {
        var source = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var destination = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var stopped = false;
        for (int at = 0, cut = 0; at < stream.Length && !stopped; cut++)
        {
            var length = Math.Min(cuts[cut % cuts.Length], stream.Length - at);
            source.Writer.Write(stream.AsSpan(at, length));
            at += length;
            _ = source.Writer.FlushAsync().AsTask().Result;
            Assert.True(source.Reader.TryRead(out var read));
            stopped = FrameForwarder.Copy(source.Reader, read, destination.Writer, inspector, 1 << 20, position).Stop;
        }

        _ = destination.Writer.FlushAsync().AsTask().Result;
        destination.Writer.Complete();
        Assert.True(destination.Reader.TryRead(out var written));
        return (written.Buffer.ToArray(), stopped);
    }

    /// <summary>The client's own bytes in what went to the server: the pooler's re-apply queries taken out.</summary>
    private static byte[] WithoutReapplies(byte[] output)
    {
        var kept = new List<byte>();
        var buffer = new ReadOnlySequence<byte>(output);
        while (FrameReader.TryReadMessage(ref buffer, 1 << 20, out var frame))
        {
            var message = new MessageBuilder().Begin(frame.Code).WriteBytes(frame.Payload.ToArray()).End().ToArray();
            if (!(frame.Code == 'Q' && Encoding.UTF8.GetString(frame.Payload.ToArray()).StartsWith("SELECT pg_catalog.set_config(", StringComparison.Ordinal)))
            {
                kept.AddRange(message);
            }
        }

        return [.. kept];
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void What_PostgreSQL_reads_passes_unchanged_however_it_is_cut_into_reads(string seed)
    {
        Gen.Select(ClientMessage.Array[1, 20], Cuts).Sample((messages, cuts) =>
        {
            var stream = messages.SelectMany(m => m).ToArray();
            var link = new ClientLink();
            var (output, stopped) = Forward(stream, cuts, new ClientToServerInspector(link, Startup), link.ToServer);
            Assert.False(stopped);
            Assert.Equal(Convert.ToHexString(stream), Convert.ToHexString(WithoutReapplies(output)));
            Assert.Null(link.ClientViolation);
            Assert.True(link.ToServer.AtFrameBoundary);
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations / 5, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void Anything_else_stops_the_stream_at_the_message_that_broke_it_and_only_framing_errors_are_thrown(string seed)
    {
        Gen.Select(AnyMessage.Array[1, 20], Cuts).Sample((messages, cuts) =>
        {
            var stream = messages.SelectMany(m => m).ToArray();
            var link = new ClientLink();
            try
            {
                var (output, stopped) = Forward(stream, cuts, new ClientToServerInspector(link, Startup), link.ToServer);
                var passed = WithoutReapplies(output);
                Assert.Equal(Convert.ToHexString(stream[..passed.Length]), Convert.ToHexString(passed)); // always a prefix
                if (stopped && link.ClientViolation is null)
                {
                    Assert.Equal((byte)'X', stream[passed.Length]); // only a Terminate stops without a refusal
                }
            }
            catch (FramingException)
            {
                // a length no message can have
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations / 5, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void Server_messages_of_any_kind_pass_to_a_session_client_unchanged_and_the_tracker_never_throws(string seed)
    {
        var serverMessage = Gen.Select(Gen.OneOf("TDCZEISNAGHdc12ntsV3WK"u8.ToArray()), Gen.Byte.Array[1, 60],
            (code, payload) => new MessageBuilder().Begin(code).WriteBytes(payload).End().ToArray());
        Gen.Select(ClientMessage.Array[0, 10], serverMessage.Array[1, 30], Cuts).Sample((sent, answers, cuts) =>
        {
            var link = new ClientLink();
            foreach (var message in sent)
            {
                link.Tracker.ClientSent(message[0]);
            }

            var stream = answers.SelectMany(m => m).ToArray();
            var inspector = new ServerToClientInspector(link, new Dictionary<string, string>(), PoolMode.Session);
            try
            {
                var (output, stopped) = Forward(stream, cuts, inspector, link.ToClient);
                Assert.False(stopped);
                Assert.Equal(Convert.ToHexString(stream), Convert.ToHexString(output));
            }
            catch (FramingException)
            {
                // a message whose layout is wrong (a ReadyForQuery without its one status byte): the server broke the protocol
            }

            _ = link.IsClean;
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations / 5, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void A_user_list_parses_or_fails_with_a_located_ConfigurationException_and_valid_ones_read_back(string seed)
    {
        var text = Gen.String[Gen.OneOf('"', '"', ' ', '\n', '\r', 'a', 'b', '$', ';', '\t'), 0, 80];
        text.Sample(document =>
        {
            try
            {
                UserList.Parse(document, "userlist.txt");
            }
            catch (ConfigurationException e)
            {
                Assert.StartsWith("userlist.txt:", e.Message);
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);

        var name = Gen.String[Gen.Char.Where(c => c is not ('\n' or '\r')), 1, 20];
        Gen.Select(name, name).Array[1, 8].Sample(entries =>
        {
            var document = string.Join("\n", entries.Select(e => $"\"{e.Item1.Replace("\"", "\"\"")}\" \"{e.Item2.Replace("\"", "\"\"")}\""));
            var list = UserList.Parse(document, "userlist.txt");
            foreach (var (user, secret) in entries.DistinctBy(e => e.Item1).Select(e => (e.Item1, entries.Last(x => x.Item1 == e.Item1).Item2)))
            {
                Assert.Equal(secret, list.SecretOf(user));
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void Reset_detection_and_startup_options_read_any_text_without_throwing_anything_unexpected(string seed)
    {
        var sql = Gen.OneOf(Gen.String[0, 80],
            Gen.String[Gen.OneOf('r', 'e', 's', 't', ' ', ';', '\'', '"', '$', '-', '/', '*', 'a', 'l', 'E', '\\', '\n'), 0, 60]);
        sql.Sample(text =>
        {
            SettingsReset.FindIn(text);
            SettingsReset.FindIn(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(text + "\0")));
            try
            {
                _ = StartupParameters.ParseOptions(text).ToList();
            }
            catch (FormatException)
            {
                // an options value that is not -c name=value
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void The_tracker_takes_any_interleaving_of_client_and_server_messages_and_settled_means_nothing_owed(string seed)
    {
        var step = Gen.Select(Gen.Bool, Gen.OneOf("QPBDEHSFdcf"u8.ToArray()), Gen.OneOf("TDCZzEISNAGHdc12ntsV3"u8.ToArray()));
        step.Array[0, 60].Sample(steps =>
        {
            var tracker = new ProtocolTracker();
            foreach (var (fromClient, client, server) in steps)
            {
                if (fromClient)
                {
                    tracker.ClientSent(client);
                }
                else if (server is (byte)'Z' or (byte)'z')
                {
                    tracker.OnReadyForQuery(server == 'Z' ? (byte)'I' : (byte)'T');
                }
                else
                {
                    tracker.OnServerMessage(server);
                }

                Assert.True(!tracker.IsSettled || tracker.Awaiting == 0, tracker.Describe());
                Assert.True(tracker.Awaiting >= 0);
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [InlineData(new byte[0])] // found by AFL++ (fuzz.sh server-inspector): a ReadyForQuery without its status crashed the inspector
    [InlineData(new byte[] { (byte)'I', (byte)'I' })]
    [InlineData(new byte[] { (byte)'x' })]
    public void A_ReadyForQuery_without_exactly_one_known_status_byte_is_a_framing_error(byte[] payload)
    {
        var link = new ClientLink();
        link.Tracker.ClientSent((byte)'Q');
        var stream = new MessageBuilder().Begin((byte)'Z').WriteBytes(payload).End().ToArray();
        var inspector = new ServerToClientInspector(link, new Dictionary<string, string>(), PoolMode.Transaction, new Dictionary<string, string>());
        Assert.Throws<MalformedMessageException>(() => Forward(stream, [stream.Length], inspector, link.ToClient));
    }
}
