using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using PgBouncerActors.Configuration;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Benchmarks;

/// <summary>
/// A transaction through the forwarder and the inspectors of a transaction-mode link, both
/// directions: the protocol tracker, the message rules, the reset detection and the answer
/// bookkeeping, as one pgbench -S transaction costs them (without the sockets).
/// </summary>
[MemoryDiagnoser]
public class InspectorBenchmarks
{
    private readonly Pipe _source = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Pipe _destination = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private byte[] _simple = [];
    private byte[] _extended = [];
    private byte[] _answer = [];
    private byte[] _simpleAnswer = [];
    private ServerLinkState _link = null!;
    private ClientToServerInspector _toServer = null!;
    private ServerToClientInspector _toClient = null!;

    [GlobalSetup]
    public void Setup()
    {
        _simple = Messages.SimpleRequest();
        _extended = Messages.ExtendedRequest();
        _answer = Messages.ExtendedAnswer();
        _simpleAnswer = Messages.SimpleAnswer();
        _link = new ServerLinkState();
        _toServer = new ClientToServerInspector(_link, new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));
        _toClient = new ServerToClientInspector(_link, new Dictionary<string, string>(), PoolMode.Transaction, new Dictionary<string, string>());
    }

    [Benchmark(Description = "extended transaction, both directions")]
    public void ExtendedTransaction()
    {
        Forward(_extended, _toServer, _link.ToServer);
        Forward(_answer, _toClient, _link.ToClient);
    }

    [Benchmark(Description = "simple-query transaction, both directions")]
    public void SimpleTransaction()
    {
        Forward(_simple, _toServer, _link.ToServer);
        Forward(_simpleAnswer, _toClient, _link.ToClient);
    }

    private void Forward(byte[] bytes, IFrameInspector inspector, ForwardPosition position)
    {
        _source.Writer.Write(bytes);
        _ = _source.Writer.FlushAsync().GetAwaiter().GetResult();
        _source.Reader.TryRead(out var read);
        FrameForwarder.Copy(_source.Reader, read, _destination.Writer, inspector, 1 << 16, position);
        _ = _destination.Writer.FlushAsync().GetAwaiter().GetResult();
        _destination.Reader.TryRead(out var written);
        _destination.Reader.AdvanceTo(written.Buffer.End);
    }
}
