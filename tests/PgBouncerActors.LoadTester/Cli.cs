using System.CommandLine;
using PgBouncerActors.LoadTester.Measurement;
using PgBouncerActors.LoadTester.Reports;
using PgBouncerActors.LoadTester.Scenarios;
using Spectre.Console;

namespace PgBouncerActors.LoadTester;

/// <summary>
/// The command line: one command per scenario, common options on each. Exit code 0 when every
/// operation succeeded with the right answer, 1 when any failed, 2 for bad arguments.
/// </summary>
internal static class Cli
{
    private const string DefaultConnection = "Host=127.0.0.1;Port=6432;Username=postgres;Database=postgres";

    private static readonly Option<string> Connection = new("--connection", "-c")
    {
        Description = "Npgsql connection string of the pooler (or server) under test",
        DefaultValueFactory = _ => DefaultConnection,
    };

    private static readonly Option<string?> Query = new("--query", "-q") { Description = "SQL each operation runs (default: SELECT of a random number, checked)" };
    private static readonly Option<FileInfo?> Script = new("--script") { Description = "file of SQL statements (each ending in ';' at a line end) run in order as one operation" };
    private static readonly Option<string?> Expect = new("--expect") { Description = "the value the (last) statement must return; anything else is an error" };
    private static readonly Option<FileInfo?> Json = new("--json") { Description = "also write the results to this JSON file" };
    private static readonly Option<FileInfo?> Html = new("--html") { Description = "also write an HTML report with a latency-over-time chart" };
    private static readonly Option<bool> Quiet = new("--quiet") { Description = "no live progress" };
    private static readonly Option<int> Clients = new("--clients", "-n") { Description = "concurrent clients", DefaultValueFactory = _ => 10 };
    private static readonly Option<int> Queries = new("--queries", "-m") { Description = "operations per client", DefaultValueFactory = _ => 1000 };
    private static readonly Option<double?> Duration = new("--duration", "-d") { Description = "seconds to run (throughput: instead of --queries)" };

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        var root = new RootCommand("pgba-load: load scenarios against a PostgreSQL pooler, with checked answers, latency percentiles and errors by SQLSTATE");

        var throughput = Scenario("throughput", "N clients, each on one connection, running M operations (or for --duration) back to back", Clients, Queries, Duration);
        throughput.SetAction((parse, token) => RunAsync(parse, console, "throughput", token, context =>
            Scenarios.Scenarios.ThroughputAsync(context, parse.GetValue(Clients), parse.GetValue(Queries),
                parse.GetValue(Duration) is { } seconds ? TimeSpan.FromSeconds(seconds) : null, token)));

        var burst = Scenario("burst", "all clients connect at the same moment and run one operation each", Clients);
        burst.SetAction((parse, token) => RunAsync(parse, console, "burst", token,
            context => Scenarios.Scenarios.BurstAsync(context, parse.GetValue(Clients), token)));

        var stormDuration = new Option<double>("--duration", "-d") { Description = "seconds to run", DefaultValueFactory = _ => 10 };
        var storm = Scenario("storm", "connect, one operation, disconnect, as fast as possible, per client, for --duration", Clients, stormDuration);
        storm.SetAction((parse, token) => RunAsync(parse, console, "storm", token,
            context => Scenarios.Scenarios.StormAsync(context, parse.GetValue(Clients), TimeSpan.FromSeconds(parse.GetValue(stormDuration)), token)));

        var start = new Option<int>("--start") { Description = "clients in the first step", DefaultValueFactory = _ => 10 };
        var step = new Option<int>("--step") { Description = "clients added per step", DefaultValueFactory = _ => 10 };
        var max = new Option<int>("--max") { Description = "the most clients to try", DefaultValueFactory = _ => 500 };
        var stepSeconds = new Option<double>("--step-seconds") { Description = "seconds per step", DefaultValueFactory = _ => 5 };
        var maxP99 = new Option<double>("--max-p99-ms") { Description = "a step whose p99 latency exceeds this ends the ramp", DefaultValueFactory = _ => 50 };
        var maxErrors = new Option<long>("--max-errors") { Description = "a step with more errors than this ends the ramp", DefaultValueFactory = _ => 0 };
        var ramp = Scenario("ramp", "concurrency steps up until latency or errors break a bound", start, step, max, stepSeconds, maxP99, maxErrors);
        ramp.SetAction((parse, token) => RunAsync(parse, console, "ramp", token, async context =>
        {
            var steps = await Scenarios.Scenarios.RampAsync(context, parse.GetValue(start), parse.GetValue(step), parse.GetValue(max),
                TimeSpan.FromSeconds(parse.GetValue(stepSeconds)), parse.GetValue(maxP99), parse.GetValue(maxErrors), token).ConfigureAwait(false);
            return summary => summary with { Steps = steps };
        }));

        var connections = new Option<int>("--connections") { Description = "connections to open and hold", DefaultValueFactory = _ => 1000 };
        var parallel = new Option<int>("--parallel-opens") { Description = "connections opened at a time", DefaultValueFactory = _ => 32 };
        var hold = new Option<double>("--hold") { Description = "seconds to hold them idle before querying each", DefaultValueFactory = _ => 5 };
        var readyFile = new Option<FileInfo?>("--ready-file") { Description = "written (with the number open) once every connection is open, for scripts that measure the pooler then" };
        var idle = Scenario("idle", "open N connections, hold them idle, then check each still answers", connections, parallel, hold, readyFile);
        idle.SetAction((parse, token) => RunAsync(parse, console, "idle", token, async context =>
        {
            var answering = await Scenarios.Scenarios.IdleAsync(context, parse.GetValue(connections), parse.GetValue(parallel),
                TimeSpan.FromSeconds(parse.GetValue(hold)), parse.GetValue(readyFile)?.FullName, token).ConfigureAwait(false);
            return summary => summary with { ConnectionsAnswering = answering };
        }));

        foreach (var command in new[] { throughput, burst, ramp, storm, idle })
        {
            root.Subcommands.Add(command);
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await Console.Error.WriteLineAsync(error.Message).ConfigureAwait(false);
            }

            return 2;
        }

        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output }).ConfigureAwait(false);
    }

    private static Command Scenario(string name, string description, params Option[] own)
    {
        var command = new Command(name, description);
        foreach (var option in new Option[] { Connection, Query, Script, Expect, Json, Html, Quiet }.Concat(own))
        {
            command.Options.Add(option);
        }

        return command;
    }

    private static Task<int> RunAsync(ParseResult parse, IAnsiConsole console, string scenario, CancellationToken token, Func<ScenarioContext, Task> run) =>
        RunAsync(parse, console, scenario, token, async context =>
        {
            await run(context).ConfigureAwait(false);
            return summary => summary;
        });

    /// <summary>Runs a scenario with live progress, then prints the table and writes the reports asked for.</summary>
    private static async Task<int> RunAsync(ParseResult parse, IAnsiConsole console, string scenario, CancellationToken token,
        Func<ScenarioContext, Task<Func<RunSummary, RunSummary>>> run)
    {
        Workload workload;
        try
        {
            workload = parse.GetValue(Script) is { } script ? Workload.Script(script.FullName, parse.GetValue(Expect))
                : parse.GetValue(Query) is { } sql ? Workload.Query(sql, parse.GetValue(Expect))
                : Workload.Echo;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 2;
        }

        var recorder = new RunRecorder();
        var context = new ScenarioContext(parse.GetValue(Connection)!, workload, recorder);
        var work = run(context);
        await LiveProgress.WatchAsync(scenario, recorder, work, parse.GetValue(Quiet)).ConfigureAwait(false);
        var complete = await work.ConfigureAwait(false);

        var parameters = parse.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>()
            .Where(option => option.Option != Connection)
            .ToDictionary(option => option.Option.Name.TrimStart('-'), option => string.Join(' ', option.Tokens.Select(token => token.Value)));
        parameters["workload"] = workload.Describe();
        var summary = complete(recorder.Summarise(scenario, parameters));

        ConsoleReport.Print(summary, console);
        if (parse.GetValue(Json) is { } json)
        {
            await File.WriteAllTextAsync(json.FullName, JsonReport.Render(summary), token).ConfigureAwait(false);
        }

        if (parse.GetValue(Html) is { } html)
        {
            await File.WriteAllTextAsync(html.FullName, HtmlReport.Render(summary), token).ConfigureAwait(false);
        }

        return summary.Errors == 0 ? 0 : 1;
    }
}
