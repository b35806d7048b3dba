using System.Text.Json;
using System.Text.Json.Serialization;
using PgBouncerActors.LoadTester.Measurement;

namespace PgBouncerActors.LoadTester.Reports;

/// <summary>The run summary as JSON (camelCase), for scripts and dashboards.</summary>
internal static class JsonReport
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Render(RunSummary summary) => JsonSerializer.Serialize(summary, Options);
}
