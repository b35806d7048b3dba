using System.Data;
using Npgsql;
using PgBouncerActors.Configuration;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>max_frame_length: by default everything PostgreSQL can send gets through; a smaller limit refuses with a message naming it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class LargeMessageSpec(PostgresFixture postgres)
{
    [Fact]
    public async Task A_row_of_more_than_a_billion_bytes_streams_through_the_default_configuration()
    {
        const int length = 1_000_000_000; // its DataRow declares 10^9 + 10 bytes: more than "1GB" in HOCON's reading
        await using var pooler = postgres.StartPooler();
        var builder = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { CommandTimeout = 300 };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        await using (var command = new NpgsqlCommand($"select repeat('x', {length})", connection))
        await using (var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess))
        {
            Assert.True(await reader.ReadAsync());
            await using var value = reader.GetStream(0);
            var buffer = new byte[1 << 20];
            long received = 0;
            int read;
            while ((read = await value.ReadAsync(buffer)) > 0)
            {
                received += read;
            }

            Assert.Equal(length, received);
        }

        await using var after = new NpgsqlCommand("select 1", connection);
        Assert.Equal(1, await after.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_server_message_over_the_configured_limit_ends_the_client_with_a_message_naming_max_frame_length()
    {
        await using var pooler = postgres.StartPooler(own: "max_frame_length = 1MiB");
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select repeat('x', 2000000)", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());
        Assert.Equal("08006", error.SqlState);
        Assert.Contains("max_frame_length (1048576)", error.MessageText);
        Assert.DoesNotContain("broke the protocol", error.MessageText);
    }

    [Fact]
    public async Task A_client_message_over_the_configured_limit_is_refused_with_08P01_naming_max_frame_length()
    {
        await using var pooler = postgres.StartPooler(own: "max_frame_length = 1MiB");
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select length('{new string('y', 2_000_000)}')", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("max_frame_length (1048576)", error.MessageText);
    }

    [Fact]
    public void Sizes_follow_HOCON_and_the_default_is_PostgreSQLs_own_largest_message()
    {
        Assert.Equal(1_073_741_826, SettingsLoader.LoadString("").MaxFrameLength);
        Assert.Equal(1_000_000_000, SettingsLoader.LoadString("pgbouncer-actors { max_frame_length = 1GB }").MaxFrameLength);
        Assert.Equal(1L << 30, SettingsLoader.LoadString("pgbouncer-actors { max_frame_length = 1GiB }").MaxFrameLength);
    }
}
