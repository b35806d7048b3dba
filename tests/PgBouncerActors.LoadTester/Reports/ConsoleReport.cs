using PgBouncerActors.LoadTester.Measurement;
using Spectre.Console;

namespace PgBouncerActors.LoadTester.Reports;

/// <summary>The table printed at the end of a run.</summary>
internal static class ConsoleReport
{
    public static void Print(RunSummary summary, IAnsiConsole console)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"{summary.Scenario}: {summary.Parameters.GetValueOrDefault("workload", "")}");
        table.AddColumn("measure");
        table.AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("duration", $"{summary.Seconds:0.00} s");
        table.AddRow("operations", $"{summary.Operations:N0}");
        table.AddRow("operations per second", $"{summary.OperationsPerSecond:N1}");
        table.AddRow("latency p50", Ms(summary.LatencyMs.P50));
        table.AddRow("latency p95", Ms(summary.LatencyMs.P95));
        table.AddRow("latency p99", Ms(summary.LatencyMs.P99));
        table.AddRow("latency max", Ms(summary.LatencyMs.Max));
        table.AddRow("connections opened", $"{summary.ConnectionsOpened:N0}");
        if (summary.ConnectionsAnswering is { } answering)
        {
            table.AddRow("held connections answering", $"{answering:N0}");
        }

        table.AddRow("errors", summary.Errors == 0 ? "0" : $"[red]{summary.Errors:N0}[/]");
        foreach (var (state, count) in summary.ErrorsBySqlState)
        {
            table.AddRow($"  {Markup.Escape(state)}", $"{count:N0}");
        }

        console.Write(table);
        if (summary.Steps.Count > 0)
        {
            var steps = new Table().Border(TableBorder.Rounded).Title("ramp steps");
            foreach (var column in new[] { "clients", "ops/s", "p99", "errors", "within bounds" })
            {
                steps.AddColumn(new TableColumn(column).RightAligned());
            }

            foreach (var step in summary.Steps)
            {
                steps.AddRow($"{step.Clients}", $"{step.OperationsPerSecond:N1}", Ms(step.P99Ms), $"{step.Errors}", step.WithinBounds ? "yes" : "[red]no[/]");
            }

            console.Write(steps);
        }
    }

    private static string Ms(double milliseconds) => $"{milliseconds:0.000} ms";
}
