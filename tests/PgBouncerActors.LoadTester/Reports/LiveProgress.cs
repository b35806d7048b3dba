using PgBouncerActors.LoadTester.Measurement;
using Spectre.Console;

namespace PgBouncerActors.LoadTester.Reports;

/// <summary>
/// While a run goes on: a live table on a terminal (elapsed, operations, ops/s over the last
/// second, errors, connections open), or one plain line every few seconds when the output is
/// redirected, so logs stay readable. Written to standard error so the report can be piped.
/// </summary>
internal static class LiveProgress
{
    public static async Task WatchAsync(string title, RunRecorder recorder, Task run, bool quiet)
    {
        if (quiet)
        {
            await run.ConfigureAwait(false);
            return;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (!console.Profile.Capabilities.Interactive || Console.IsErrorRedirected)
        {
            await PlainLinesAsync(title, recorder, run).ConfigureAwait(false);
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).Title(title);
        foreach (var column in new[] { "elapsed", "operations", "ops/s", "errors", "connections open" })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }

        table.AddRow("", "", "", "", "");
        await console.Live(table).StartAsync(async live =>
        {
            var last = (Operations: 0L, At: TimeSpan.Zero);
            while (!run.IsCompleted)
            {
                await Task.WhenAny(run, Task.Delay(250)).ConfigureAwait(false);
                last = Update(table, recorder, last);
                live.Refresh();
            }
        }).ConfigureAwait(false);
        await run.ConfigureAwait(false);
    }

    private static (long, TimeSpan) Update(Table table, RunRecorder recorder, (long Operations, TimeSpan At) last)
    {
        var now = (Operations: recorder.Operations, At: recorder.Elapsed);
        var seconds = (now.At - last.At).TotalSeconds;
        var rate = seconds > 0 ? (now.Operations - last.Operations) / seconds : 0;
        var errors = recorder.ErrorCount;
        table.UpdateCell(0, 0, $"{now.At.TotalSeconds:0.0}s");
        table.UpdateCell(0, 1, $"{now.Operations:N0}");
        table.UpdateCell(0, 2, $"{rate:N0}");
        table.UpdateCell(0, 3, errors == 0 ? "0" : $"[red]{errors:N0}[/]");
        table.UpdateCell(0, 4, $"{recorder.ConnectionsOpen:N0}");
        return now;
    }

    private static async Task PlainLinesAsync(string title, RunRecorder recorder, Task run)
    {
        var last = (Operations: 0L, At: TimeSpan.Zero);
        while (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false) != run)
        {
            var now = (Operations: recorder.Operations, At: recorder.Elapsed);
            var rate = (now.Operations - last.Operations) / Math.Max((now.At - last.At).TotalSeconds, 1e-9);
            await Console.Error.WriteLineAsync(
                $"{title}: {now.At.TotalSeconds:0}s, {now.Operations} operations, {rate:0} ops/s, {recorder.ErrorCount} errors, {recorder.ConnectionsOpen} connections open")
                .ConfigureAwait(false);
            last = now;
        }

        await run.ConfigureAwait(false);
    }
}
