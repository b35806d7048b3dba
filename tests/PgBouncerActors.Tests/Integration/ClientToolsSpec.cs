using PgBouncerActors.Demo;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>PostgreSQL's own clients through the pooler: psql running a script, pgbench in every query mode.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ClientToolsSpec(PostgresFixture postgres)
{
    [Fact]
    public async Task Psql_runs_a_script_through_the_pooler()
    {
        await using var pooler = postgres.StartPooler();
        var output = await postgres.RunToolAsync("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", pooler.Port.ToString(),
            "-U", PostgresFixture.ScramUser, "-d", "postgres", "-f", "-"], """
            create temp table fruit(name text);
            insert into fruit values ('apple'), ('pear'), ('fig');
            \copy fruit from stdin
            plum
            \.
            select string_agg(name, ',' order by name) from fruit;
            """);
        Assert.Equal("apple,fig,pear,plum", output.Trim());
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("extended")]
    [InlineData("prepared")]
    public async Task Pgbench_select_only_completes_with_zero_failed_transactions(string queryMode)
    {
        await postgres.EnsurePgbenchInitializedAsync();
        // Session mode: each of the 8 clients holds a server connection for its whole run.
        await using var pooler = postgres.StartPooler("default_pool_size = 8");
        var output = await postgres.RunToolAsync("pgbench", ["-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", PostgresFixture.ScramUser,
            "-S", "-M", queryMode, "-c", "8", "-j", "2", "-t", "300", "bench"]);
        Assert.Matches("number of transactions actually processed: 2400/2400", output);
        Assert.Equal("0", PostgresFixture.FailedTransactions(output));
    }
}
