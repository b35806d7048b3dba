using System.Globalization;
using System.Text.RegularExpressions;

namespace PgBouncerActors.Tests.Metrics;

/// <summary>A scrape of /metrics read as Prometheus reads its text format: one sample per line, <c>name{labels} value</c>.</summary>
internal sealed partial class PrometheusText
{
    private readonly Dictionary<string, double> _samples = new(StringComparer.Ordinal);

    private PrometheusText(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var match = Sample().Match(line);
            if (!match.Success)
            {
                throw new FormatException($"not a Prometheus sample line: '{line}'");
            }

            _samples[match.Groups["series"].Value] = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
    }

    public IReadOnlyCollection<string> Series => _samples.Keys;

    public static async Task<PrometheusText> ScrapeAsync(int port)
    {
        using var http = new HttpClient();
        var response = await http.GetAsync($"http://127.0.0.1:{port}/metrics");
        response.EnsureSuccessStatusCode();
        Xunit.Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.ToString());
        return new PrometheusText(await response.Content.ReadAsStringAsync());
    }

    /// <summary>The value of one series, named as Prometheus prints it: <c>metric{label="value",...}</c>.</summary>
    public double Value(string series) => _samples.TryGetValue(series, out var value) ? value
        : throw new KeyNotFoundException($"no series {series} in the scrape; it has: {string.Join(", ", _samples.Keys.Where(key => key.StartsWith(series.Split('{')[0], StringComparison.Ordinal)))}");

    [GeneratedRegex(@"^(?<series>[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (?<value>\S+)( \d+)?$")]
    private static partial Regex Sample();
}
