using System.Buffers;
using BenchmarkDotNet.Attributes;
using PgBouncerActors.Proxy;
using PgBouncerActors.Session;

namespace PgBouncerActors.Benchmarks;

/// <summary>Parameter tracking: a ParameterStatus applied to a client's settings, and the reset check every Query passes.</summary>
[MemoryDiagnoser]
public class ParameterTrackingBenchmarks
{
    private readonly Dictionary<string, string> _settings = new(StringComparer.OrdinalIgnoreCase)
    {
        ["TimeZone"] = "UTC",
        ["DateStyle"] = "ISO, MDY",
        ["client_encoding"] = "UTF8",
    };

    private ReadOnlySequence<byte> _status;
    private ReadOnlySequence<byte> _query;

    [GlobalSetup]
    public void Setup()
    {
        _status = new ReadOnlySequence<byte>(Messages.ParameterStatusPayload());
        _query = Messages.SelectText();
    }

    [Benchmark(Description = "ParameterStatus applied")]
    public void ApplyParameterStatus() => ParameterStatusReader.Apply(_status, _settings);

    [Benchmark(Description = "reset check of an ordinary query")]
    public int ResetCheck() => SettingsReset.FindIn(_query).Count;
}
