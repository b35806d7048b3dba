using Microsoft.Playwright;
using Npgsql;
using PgBouncerActors.Demo;
using PgBouncerActors.Tests.Integration;
using Xunit;

namespace PgBouncerActors.Tests.Metrics;

/// <summary>
/// The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright (no browser
/// download; .ci/run installs the chromium package). It must list the pools and show figures
/// that move while load runs through the pooler.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class DashboardSpec(PostgresFixture postgres)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task The_dashboard_lists_the_pools_and_its_transaction_count_and_rate_move_while_load_runs()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium package (.ci/run does)");
        await using var pooler = postgres.StartPooler(
            "auth_type = trust, pool_mode = transaction, default_pool_size = 2",
            databases: $"shop {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres }}",
            own: $"shutdown_timeout = 0, metrics {{ port = {ScratchCluster.FreePort()} }}");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // As root Chromium needs --no-sandbox; the rest keep it off a network this machine does not have.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync($"http://127.0.0.1:{pooler.MetricsPort}/");

        using var stop = new CancellationTokenSource();
        var load = RunLoadAsync(PostgresFixture.ConnectionString(pooler.Port, PostgresFixture.ScramUser, database: "shop"), stop.Token);
        try
        {
            var row = page.Locator($"tr[data-pool=\"shop/{PostgresFixture.ScramUser}\"]");
            await Assertions.Expect(row).ToBeVisibleAsync(new() { Timeout = 15_000 });
            await Assertions.Expect(row.Locator(".pool-size")).ToHaveTextAsync("2");
            var first = long.Parse(await row.Locator(".transactions").InnerTextAsync());
            await Assertions.Expect(row.Locator(".transactions")).Not.ToHaveTextAsync(first.ToString(), new() { Timeout = 15_000 });
            Assert.True(long.Parse(await row.Locator(".transactions").InnerTextAsync()) > first);
            await Assertions.Expect(page.Locator("#tps")).Not.ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^(–|0)$"),
                new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator("#clients")).Not.ToHaveTextAsync("–");
            Assert.Equal("ok", await row.Locator(".health").InnerTextAsync());
            Assert.Equal(2, await page.Locator(".uplot").CountAsync()); // both charts drew
        }
        finally
        {
            await stop.CancelAsync();
            await load;
        }
    }

    /// <summary>Two clients running short transactions until told to stop.</summary>
    private static Task RunLoadAsync(string connectionString, CancellationToken stop) => Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select 1", connection);
        while (!stop.IsCancellationRequested)
        {
            await command.ExecuteScalarAsync();
            await Task.Delay(5);
        }
    })));
}
