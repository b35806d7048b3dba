using System.Text.Json;
using PgBouncerActors.LoadTester;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The load tester (pgba-load) run as its command line, against the pooler in front of the
/// fixture's PostgreSQL in transaction mode: what it reports is what happened.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LoadTesterSpec(PostgresFixture postgres) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-load-spec").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private async Task<(int ExitCode, JsonElement Report, string Output)> RunAsync(int port, params string[] arguments)
    {
        var json = Path.Combine(_folder, "report.json");
        File.Delete(json);
        var output = new StringWriter();
        var exitCode = await Cli.RunAsync([.. arguments, "--quiet", "--json", json, "-c", PostgresFixture.ConnectionString(port)], output);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        return (exitCode, document.RootElement.Clone(), output.ToString());
    }

    private PgBouncerActors.Hosting.PoolerHost StartPooler() => postgres.StartPooler("pool_mode = transaction, default_pool_size = 2");

    [Fact]
    public async Task Throughput_counts_every_checked_query_and_writes_json_and_an_html_chart()
    {
        await using var pooler = StartPooler();
        var html = Path.Combine(_folder, "report.html");
        var (exitCode, report, output) = await RunAsync(pooler.Port, "throughput", "--clients", "8", "--queries", "50", "--html", html);

        Assert.Equal(0, exitCode);
        Assert.Equal(400, report.GetProperty("operations").GetInt64());
        Assert.Equal(0, report.GetProperty("errors").GetInt64());
        Assert.Equal(8, report.GetProperty("connectionsOpened").GetInt64());
        var latency = report.GetProperty("latencyMs");
        Assert.InRange(latency.GetProperty("p50").GetDouble(), 0.001, latency.GetProperty("p99").GetDouble());
        Assert.InRange(latency.GetProperty("p99").GetDouble(), latency.GetProperty("p50").GetDouble(), latency.GetProperty("max").GetDouble());
        Assert.Equal(400, report.GetProperty("timeline").EnumerateArray().Sum(point => point.GetProperty("operations").GetInt64()));
        Assert.Contains("operations per second", output);

        var page = await File.ReadAllTextAsync(html);
        Assert.Contains("<svg", page);
        Assert.Contains("<polyline class=\"p99\"", page);
    }

    [Fact]
    public async Task A_wrong_answer_is_an_error_never_a_success()
    {
        await using var pooler = StartPooler();
        var (exitCode, report, _) = await RunAsync(pooler.Port, "throughput", "--clients", "2", "--queries", "5", "--query", "SELECT 41", "--expect", "42");

        Assert.Equal(1, exitCode);
        Assert.Equal(0, report.GetProperty("operations").GetInt64());
        Assert.Equal(10, report.GetProperty("errorsBySqlState").GetProperty("wrong-result").GetInt64());
    }

    [Fact]
    public async Task Server_errors_are_counted_by_sqlstate()
    {
        await using var pooler = StartPooler();
        var (exitCode, report, _) = await RunAsync(pooler.Port, "throughput", "--clients", "3", "--queries", "4", "--query", "SELECT 1/0");

        Assert.Equal(1, exitCode);
        Assert.Equal(12, report.GetProperty("errorsBySqlState").GetProperty("22012").GetInt64());
    }

    [Fact]
    public async Task Storm_opens_a_connection_per_operation_and_burst_connects_everyone_at_once()
    {
        await using var pooler = StartPooler();
        var (stormExit, storm, _) = await RunAsync(pooler.Port, "storm", "--clients", "4", "--duration", "1");
        Assert.Equal(0, stormExit);
        Assert.InRange(storm.GetProperty("operations").GetInt64(), 4, long.MaxValue);
        Assert.Equal(storm.GetProperty("operations").GetInt64(), storm.GetProperty("connectionsOpened").GetInt64());

        var (burstExit, burst, _) = await RunAsync(pooler.Port, "burst", "--clients", "40");
        Assert.Equal(0, burstExit);
        Assert.Equal(40, burst.GetProperty("operations").GetInt64());
        Assert.Equal(40, burst.GetProperty("connectionsOpened").GetInt64());
    }

    [Fact]
    public async Task Idle_holds_connections_and_checks_each_still_answers()
    {
        await using var pooler = StartPooler();
        var ready = Path.Combine(_folder, "ready");
        var (exitCode, report, _) = await RunAsync(pooler.Port, "idle", "--connections", "60", "--hold", "0.5", "--ready-file", ready);

        Assert.Equal(0, exitCode);
        Assert.Equal(60, report.GetProperty("connectionsAnswering").GetInt64());
        Assert.Equal("60", (await File.ReadAllTextAsync(ready)).Trim()); // all open at once, over a pool of 2
    }

    [Fact]
    public async Task Ramp_steps_up_until_a_bound_breaks()
    {
        await using var pooler = StartPooler();
        var (_, within, _) = await RunAsync(pooler.Port, "ramp", "--start", "2", "--step", "2", "--max", "6", "--step-seconds", "0.5", "--max-p99-ms", "10000");
        Assert.Equal([2, 4, 6], within.GetProperty("steps").EnumerateArray().Select(step => step.GetProperty("clients").GetInt32()));
        Assert.All(within.GetProperty("steps").EnumerateArray(), step => Assert.True(step.GetProperty("withinBounds").GetBoolean()));

        // Every query fails: the first step breaks the error bound and the ramp stops there.
        var (_, broken, _) = await RunAsync(pooler.Port, "ramp", "--start", "2", "--step", "2", "--max", "6", "--step-seconds", "0.5", "--query", "SELECT 1/0");
        var step = Assert.Single(broken.GetProperty("steps").EnumerateArray());
        Assert.False(step.GetProperty("withinBounds").GetBoolean());
    }
}
