using System.Collections.Concurrent;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace PgBouncerActors.Tests.Integration;

/// <summary>Every line a pooler logs, rendered as its console sink renders it (values escaped by the pooler's own pipeline).</summary>
public sealed class LogCapture : ILogEventSink
{
    private static readonly MessageTemplateTextFormatter Format = new("{Message:lj}");
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public void Emit(LogEvent logEvent)
    {
        using var line = new StringWriter();
        Format.Format(logEvent, line);
        _lines.Enqueue(line.ToString());
    }

    public int Count(string containing) => _lines.Count(line => line.Contains(containing, StringComparison.Ordinal));
}
