using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hocon;
using PgBouncerActors.Protocol.Auth;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;
using PgBouncerActors.Session;

namespace PgBouncerActors.Fuzz;

/// <summary>
/// Every parser that takes bytes from the wire or from a file, as a function of the fuzzer's
/// input. Each catches the exceptions its parser documents; anything else escapes, and AFL++
/// records the input as a crash. A seed corpus of valid inputs starts each target.
/// </summary>
internal static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["startup"] = StartupPacketTarget,
        ["frames"] = FramesTarget,
        ["client-inspector"] = bytes => InspectorTarget(bytes, toServer: true),
        ["server-inspector"] = bytes => InspectorTarget(bytes, toServer: false),
        ["scram-server"] = ScramServerTarget,
        ["scram-client"] = ScramClientTarget,
        ["userlist"] = bytes => Expect<ConfigurationException>(() => UserList.Parse(Encoding.UTF8.GetString(bytes), "userlist.txt")),
        ["hocon"] = bytes => Expect<HoconException>(() => ConfigFactory.ParseString(Encoding.UTF8.GetString(bytes), "fuzz.conf", "/nonexistent", _ => null).Resolve()),
        ["sql-resets"] = bytes => SettingsReset.FindIn(new ReadOnlySequence<byte>(bytes)),
    };

    /// <summary>Valid inputs to start from, per target.</summary>
    public static IEnumerable<(string Target, string Name, byte[] Bytes)> Seeds()
    {
        yield return ("startup", "startup", new MessageBuilder().StartupMessage([new("user", "alice"), new("database", "app"), new("options", "-c a=b")]).ToArray());
        yield return ("startup", "ssl", new MessageBuilder().SslRequest().ToArray());
        yield return ("startup", "cancel", new MessageBuilder().CancelRequest(1, 2).ToArray());
        var session = new MessageBuilder().Query("reset all").Parse("s", "select $1").Bind("", "s").Describe('P', "").Execute("").Sync()
            .CopyData("x"u8).CopyDone().Flush().Terminate().ToArray();
        yield return ("frames", "session", session);
        yield return ("client-inspector", "session", session);
        yield return ("server-inspector", "answers", new MessageBuilder().ParameterStatus("TimeZone", "UTC")
            .Begin((byte)'T').WriteInt16(0).End().Begin((byte)'C').WriteCString("SELECT 1").End().ReadyForQuery().ToArray());
        yield return ("scram-server", "client-first", Encoding.UTF8.GetBytes("n,,n=,r=fyko+d2lbbFgONRv9qkxdawL\nc=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
        yield return ("scram-client", "server-first", Encoding.UTF8.GetBytes("r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096\nv=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
        yield return ("userlist", "list", Encoding.UTF8.GetBytes("\"alice\" \"secret\"\n;; comment\n\"b\"\"ob\" \"md5abc\"\n"));
        yield return ("hocon", "reference", Encoding.UTF8.GetBytes("a { b = 1, c = ${a.b}, d += [1, 2] }\ninclude \"x.conf\"\ne = \"\"\"t\"\"\" \n"));
        yield return ("sql-resets", "resets", Encoding.UTF8.GetBytes("select 1; reset all; set local x to default; /* c */ discard all\0"));
    }

    private static void Expect<TDocumented>(Action parse) where TDocumented : Exception
    {
        try
        {
            parse();
        }
        catch (TDocumented)
        {
            // the parser's own refusal
        }
    }

    private static void StartupPacketTarget(byte[] bytes)
    {
        try
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            if (FrameReader.TryReadStartupPacket(ref buffer, out var frame))
            {
                StartupParameters.SettingsOf(StartupPacket.Parse(frame.Payload.ToArray()).Parameters, new HashSet<string>());
            }
        }
        catch (Exception e) when (e is FormatException or FramingException)
        {
            // refused as documented
        }
    }

    private static void FramesTarget(byte[] bytes)
    {
        try
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            while (FrameReader.TryReadMessage(ref buffer, 1 << 16, out var frame))
            {
                PgError.Parse(frame.Payload);
                ParameterStatusReader.Read(frame.Payload);
            }
        }
        catch (FramingException)
        {
            // a length no message can have
        }
    }

    /// <summary>The bytes go through the forwarder and an inspector in reads cut where the first byte says.</summary>
    private static void InspectorTarget(byte[] bytes, bool toServer)
    {
        if (bytes.Length == 0)
        {
            return;
        }

        var link = new ClientLink();
        IFrameInspector inspector = toServer
            ? new ClientToServerInspector(link, new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["TimeZone"] = "UTC" })
            : new ServerToClientInspector(link, new Dictionary<string, string>(), PoolMode.Transaction, new Dictionary<string, string>());
        if (!toServer)
        {
            foreach (var code in "QPBDESQ"u8)
            {
                link.Tracker.ClientSent(code);
            }
        }

        var cut = 1 + bytes[0] % 64;
        var source = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var destination = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        try
        {
            for (var at = 1; at < bytes.Length; at += cut)
            {
                source.Writer.Write(bytes.AsSpan(at, Math.Min(cut, bytes.Length - at)));
                _ = source.Writer.FlushAsync().AsTask().Result;
                source.Reader.TryRead(out var read);
                if (FrameForwarder.Copy(source.Reader, read, destination.Writer, inspector, 1 << 16, toServer ? link.ToServer : link.ToClient).Stop)
                {
                    break;
                }
            }

            _ = link.IsClean;
            link.DescribeState();
        }
        catch (FramingException)
        {
            // a length no message can have
        }
    }

    private static void ScramServerTarget(byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes).Split('\n', 2);
        var exchange = new ScramServerExchange(ScramSecret.FromPassword("pencil", "QSXCR+Q6sek8bf92"u8.ToArray(), 2));
        Expect<ScramException>(() =>
        {
            exchange.HandleClientFirst(text[0]);
            exchange.HandleClientFinal(text.Length > 1 ? text[1] : "");
        });
    }

    private static void ScramClientTarget(byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes).Split('\n', 2);
        var exchange = ScramClientExchange.WithPassword("pencil", "fyko+d2lbbFgONRv9qkxdawL");
        Expect<ScramException>(() =>
        {
            exchange.HandleServerFirst(text[0]);
            exchange.VerifyServerFinal(text.Length > 1 ? text[1] : "");
        });
    }
}
