using System.Diagnostics;
using Npgsql;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Both directions busy at once: the client still sends a large batch while the server already
/// streams the results of its first statement and will not read on until they are read. Neither
/// of the pooler's two loops may wait on the other while one of them is blocked on a socket.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PipelinedBatchSpec(PostgresFixture postgres)
{
    private const int Rows = 2_000_000; // tens of megabytes of results: more than every socket buffer on the way
    private static readonly string Parameter = new('p', 16 * 1024 * 1024);

    [Theory]
    [InlineData("transaction")]
    [InlineData("session")]
    public async Task A_batch_sending_a_large_parameter_while_the_first_statement_streams_its_rows_completes(string mode)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 2");
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var builder = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { CommandTimeout = 60 };
            await using var connection = new NpgsqlConnection(builder.ConnectionString);
            await connection.OpenAsync();
            await using (var first = new NpgsqlCommand("select 1", connection))
            {
                await first.ExecuteScalarAsync(); // after one transaction, as the connection the client keeps between them
            }

            await using var batch = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    // Its first row comes after a pause, when the client's parameter has filled every buffer on the way.
                    new NpgsqlBatchCommand($"select generate_series(1, {Rows}) from pg_sleep(0.5)"),
                    new NpgsqlBatchCommand("select length(@p)") { Parameters = { new NpgsqlParameter("p", Parameter) } },
                },
            };
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var clock = Stopwatch.StartNew();
            await using var reader = await batch.ExecuteReaderAsync(timeout.Token);
            var rows = 0;
            while (await reader.ReadAsync(timeout.Token))
            {
                rows++;
            }

            Assert.True(await reader.NextResultAsync(timeout.Token));
            Assert.True(await reader.ReadAsync(timeout.Token));
            Assert.Equal((Rows, Parameter.Length), (rows, reader.GetInt32(0)));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60));
        }
    }

    [Fact]
    public async Task A_client_that_vanishes_while_both_directions_are_stalled_frees_its_server_connection()
    {
        await using var pooler = postgres.StartPooler("auth_type = trust, pool_mode = transaction, default_pool_size = 1, query_wait_timeout = 30");
        var hostile = await WireClient.ConnectAsync(pooler.Port);
        await hostile.LoginAsync(PostgresFixture.ScramUser, "postgres");
        // Results it never reads, then a parameter the server will not read until those are out.
        var sending = hostile.SendAsync(new MessageBuilder()
            .Parse("", $"select generate_series(1, {Rows * 5})").Bind("", "").Execute("")
            .Begin((byte)'P').WriteCString("").WriteCString("select $1::text").WriteInt16(0).End()
            .Begin((byte)'B').WriteCString("").WriteCString("").WriteInt16(0).WriteInt16(1).WriteInt32(Parameter.Length)
            .WriteBytes(System.Text.Encoding.ASCII.GetBytes(Parameter)).WriteInt16(0).End()
            .Execute("").Sync());
        await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(2))); // stalls: nobody reads the rows
        Assert.False(sending.IsCompleted, "the batch went out whole: nothing was stalled");
        hostile.Socket.Abort();

        // The pool's only server connection comes free: the next client is served.
        var clock = Stopwatch.StartNew();
        await using var next = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await next.OpenAsync();
        await using var select = new NpgsqlCommand("select 7", next);
        Assert.Equal(7, await select.ExecuteScalarAsync());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the next client waited {clock.Elapsed.TotalSeconds:0.0}s");
    }
}
