using System.Buffers;
using BenchmarkDotNet.Attributes;
using PgBouncerActors.Protocol.Framing;

namespace PgBouncerActors.Benchmarks;

/// <summary>The one frame decoder cutting a transaction's messages out of a buffer, as every loop does per read.</summary>
[MemoryDiagnoser]
public class FrameScanBenchmarks
{
    private ReadOnlySequence<byte> _request;
    private ReadOnlySequence<byte> _answer;

    [GlobalSetup]
    public void Setup()
    {
        _request = new ReadOnlySequence<byte>(Messages.ExtendedRequest());
        _answer = new ReadOnlySequence<byte>(Messages.ExtendedAnswer());
    }

    [Benchmark(Description = "scan extended request (5 frames)")]
    public int ScanRequest() => Scan(_request);

    [Benchmark(Description = "scan extended answer (6 frames)")]
    public int ScanAnswer() => Scan(_answer);

    private static int Scan(ReadOnlySequence<byte> buffer)
    {
        var frames = 0;
        while (FrameReader.TryReadMessage(ref buffer, 1 << 30, out _))
        {
            frames++;
        }

        return frames;
    }
}
