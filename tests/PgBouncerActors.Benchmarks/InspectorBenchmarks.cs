using PgBouncerActors.Tests.Shared;
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Net;
using PgBouncerActors.Prepared;
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
    private ClientLink _link = null!;
    private ClientToServerInspector _toServer = null!;
    private ServerToClientInspector _toClient = null!;
    private byte[] _prepared = [];
    private byte[] _preparedAnswer = [];
    private ClientLink _preparedLink = null!;
    private ClientToServerInspector _preparedToServer = null!;
    private ServerToClientInspector _preparedToClient = null!;
    private Socket _peer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _simple = Messages.SimpleRequest();
        _extended = Messages.ExtendedRequest();
        _answer = Messages.ExtendedAnswer();
        _simpleAnswer = Messages.SimpleAnswer();
        _link = new ClientLink();
        _toServer = new ClientToServerInspector(_link, new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));
        _toClient = new ServerToClientInspector(_link, new Dictionary<string, string>(), PoolMode.Transaction, new Dictionary<string, string>());

        // pgbench -M prepared in transaction mode: Bind of a named statement the server connection has, renamed on the way.
        _prepared = Messages.PreparedRequest("P_0");
        _preparedAnswer = Messages.PreparedAnswer();
        _preparedLink = new ClientLink();
        _preparedLink.HoldFromTheStart(LoopbackServer());
        var statements = new StatementRewriter(() => 200, new StatementInvalidation());
        _preparedLink.Statements = statements;
        _preparedToServer = new ClientToServerInspector(_preparedLink, new Dictionary<string, string>(), statements);
        _preparedToClient = new ServerToClientInspector(_preparedLink, new Dictionary<string, string>(), PoolMode.Transaction, new Dictionary<string, string>());
        Forward(Messages.PrepareRequest("P_0"), _preparedToServer, _preparedLink.ToServer); // Parse, Sync: the first transaction
        Forward(Messages.PrepareAnswer(), _preparedToClient, _preparedLink.ToClient);
    }

    [GlobalCleanup]
    public void Cleanup() => _peer?.Dispose();

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

    [Benchmark(Description = "prepared transaction (named statement renamed), both directions")]
    public void PreparedTransaction()
    {
        Forward(_prepared, _preparedToServer, _preparedLink.ToServer);
        Forward(_preparedAnswer, _preparedToClient, _preparedLink.ToClient);
    }

    [Benchmark(Description = "prepared transaction, statements off (named statement passed as it is)")]
    public void PreparedTransactionPassedAsItIs()
    {
        Forward(_prepared, _toServer, _link.ToServer);
        Forward(_preparedAnswer, _toClient, _link.ToClient);
    }

    [Benchmark(Description = "extended transaction, statements tracked (unnamed: passed)")]
    public void ExtendedTransactionWithStatements()
    {
        Forward(_extended, _preparedToServer, _preparedLink.ToServer);
        Forward(_answer, _preparedToClient, _preparedLink.ToClient);
    }

    [Benchmark(Description = "simple-query transaction, statements tracked (query looked at)")]
    public void SimpleTransactionWithStatements()
    {
        Forward(_simple, _preparedToServer, _preparedLink.ToServer);
        Forward(_simpleAnswer, _preparedToClient, _preparedLink.ToClient);
    }

    /// <summary>A server connection whose socket is never written to here: the rewriter only needs its statements.</summary>
    private ServerConnection LoopbackServer()
    {
        (var socket, _peer) = LoopbackSockets.Connect();
        return new ServerConnection(socket, new ServerEndpoint("127.0.0.1", 5432, "bench"), "bench", 1 << 20);
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
