using System.Globalization;
using System.Net;
using System.Text;
using PgBouncerActors.LoadTester.Measurement;

namespace PgBouncerActors.LoadTester.Reports;

/// <summary>
/// A self-contained HTML page (no script, no external file): the summary table and an SVG chart
/// of latency p50/p99 per second over the run, with operations per second as bars behind them.
/// </summary>
internal static class HtmlReport
{
    private const int Width = 900;
    private const int Height = 320;
    private const int Margin = 50;

    public static string Render(RunSummary summary)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
            .Append(Encode($"pgba-load {summary.Scenario}"))
            .Append("</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}")
            .Append("th{text-align:left}.p50{stroke:#1f77b4}.p99{stroke:#d62728}.ops{fill:#ddd}</style></head><body>\n")
            .Append("<h1>").Append(Encode($"{summary.Scenario}: {summary.Parameters.GetValueOrDefault("workload", "")}")).Append("</h1>\n<table>\n");
        Row(html, "duration", $"{summary.Seconds:0.00} s");
        Row(html, "operations", $"{summary.Operations:N0}");
        Row(html, "operations per second", $"{summary.OperationsPerSecond:N1}");
        Row(html, "latency p50 / p95 / p99 / max",
            $"{summary.LatencyMs.P50:0.000} / {summary.LatencyMs.P95:0.000} / {summary.LatencyMs.P99:0.000} / {summary.LatencyMs.Max:0.000} ms");
        Row(html, "connections opened", $"{summary.ConnectionsOpened:N0}");
        Row(html, "errors", $"{summary.Errors:N0}");
        foreach (var (state, count) in summary.ErrorsBySqlState)
        {
            Row(html, $"errors {state}", $"{count:N0}");
        }

        foreach (var (name, value) in summary.Parameters)
        {
            Row(html, name, value);
        }

        html.Append("</table>\n<h2>Latency over time</h2>\n").Append(Chart(summary.Timeline)).Append("\n</body></html>\n");
        return html.ToString();
    }

    private static string Chart(IReadOnlyList<TimelinePoint> timeline)
    {
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-label=\"latency per second\">");
        if (timeline.Count == 0)
        {
            return svg.Append("<text x=\"50\" y=\"50\">no operation completed</text></svg>").ToString();
        }

        var seconds = Math.Max(timeline[^1].Second + 1, 1);
        var maxLatency = Math.Max(timeline.Max(point => point.P99Ms), 0.001);
        var maxOps = Math.Max(timeline.Max(point => point.Operations), 1);
        var plotWidth = Width - 2 * Margin;
        var plotHeight = Height - 2 * Margin;
        double X(double second) => Margin + second / seconds * plotWidth;
        double Y(double value, double max) => Height - Margin - value / max * plotHeight;

        var barWidth = Math.Max(plotWidth / (double)seconds - 1, 1);
        foreach (var point in timeline)
        {
            var top = Y(point.Operations, maxOps);
            svg.Append(CultureInfo.InvariantCulture,
                $"<rect class=\"ops\" x=\"{X(point.Second):0.#}\" y=\"{top:0.#}\" width=\"{barWidth:0.#}\" height=\"{Height - Margin - top:0.#}\"><title>{point.Operations} ops in second {point.Second}</title></rect>");
        }

        foreach (var (name, pick) in new (string, Func<TimelinePoint, double>)[] { ("p50", point => point.P50Ms), ("p99", point => point.P99Ms) })
        {
            var points = string.Join(' ', timeline.Select(point => string.Create(CultureInfo.InvariantCulture, $"{X(point.Second + 0.5):0.#},{Y(pick(point), maxLatency):0.#}")));
            svg.Append(CultureInfo.InvariantCulture, $"<polyline class=\"{name}\" fill=\"none\" stroke-width=\"2\" points=\"{points}\"/>");
        }

        svg.Append(CultureInfo.InvariantCulture,
            $"<line x1=\"{Margin}\" y1=\"{Height - Margin}\" x2=\"{Width - Margin}\" y2=\"{Height - Margin}\" stroke=\"black\"/>" +
            $"<line x1=\"{Margin}\" y1=\"{Margin}\" x2=\"{Margin}\" y2=\"{Height - Margin}\" stroke=\"black\"/>" +
            $"<text x=\"{Margin}\" y=\"{Margin - 10}\">{maxLatency:0.###} ms</text>" +
            $"<text x=\"{Width - Margin}\" y=\"{Margin - 10}\" text-anchor=\"end\">{maxOps:N0} ops/s (bars)</text>" +
            $"<text x=\"{Margin}\" y=\"{Height - Margin + 20}\">0 s</text>" +
            $"<text x=\"{Width - Margin}\" y=\"{Height - Margin + 20}\" text-anchor=\"end\">{seconds} s</text>" +
            $"<text x=\"{Width / 2}\" y=\"{Height - 10}\" text-anchor=\"middle\"><tspan class=\"p50\" fill=\"#1f77b4\">p50</tspan> and <tspan fill=\"#d62728\">p99</tspan> latency per second</text>");
        return svg.Append("</svg>").ToString();
    }

    private static void Row(StringBuilder html, string name, string value) =>
        html.Append("<tr><th>").Append(Encode(name)).Append("</th><td>").Append(Encode(value)).Append("</td></tr>\n");

    private static string Encode(string text) => WebUtility.HtmlEncode(text);
}
