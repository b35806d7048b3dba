using System.Buffers.Binary;
using System.Text;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>A cancel key is its client's alone: it dies with the client, whatever the pool mode.</summary>
[Collection(PostgresCollection.Name)]
public sealed class CancelKeySpec(PostgresFixture postgres)
{
    private static (int ProcessId, int SecretKey) KeyOf(List<PgMessage> login)
    {
        var key = login.Single(message => message.Type == 'K').Payload;
        return (BinaryPrimitives.ReadInt32BigEndian(key), BinaryPrimitives.ReadInt32BigEndian(key.AsSpan(4)));
    }

    private static string FirstValue(List<PgMessage> answer)
    {
        var row = answer.First(message => message.Type == 'D').Payload;
        var length = BinaryPrimitives.ReadInt32BigEndian(row.AsSpan(2));
        return Encoding.UTF8.GetString(row.AsSpan(6, length));
    }

    private static async Task CancelAsync(int port, (int ProcessId, int SecretKey) key)
    {
        var canceller = await WireClient.ConnectAsync(port);
        await canceller.SendAsync(new MessageBuilder().CancelRequest(key.ProcessId, key.SecretKey));
    }

    /// <summary>
    /// Seen with psycopg before the fix: in session mode the first client was given the server
    /// connection's own key, and after it left that key cancelled the next client's pg_sleep.
    /// </summary>
    [Theory]
    [InlineData("session")]
    [InlineData("transaction")]
    public async Task The_key_of_a_client_that_left_cancels_nothing_of_the_next_client_on_the_same_server_connection(string mode)
    {
        await using var pooler = postgres.StartPooler($"auth_type = trust, auth_file = \"{postgres.UserListPath}\", pool_mode = {mode}, default_pool_size = 1");
        var first = await WireClient.ConnectAsync(pooler.Port);
        var firstKey = KeyOf(await first.LoginAsync(PostgresFixture.ScramUser, "postgres"));
        var firstBackend = FirstValue(await first.QueryAsync("select pg_backend_pid()"));
        if (mode == "session")
        {
            Assert.Equal(firstBackend, firstKey.ProcessId.ToString()); // pg_backend_pid() and the key agree, as without a pooler
        }

        await first.TerminateAsync();

        var second = await WireClient.ConnectAsync(pooler.Port);
        var secondKey = KeyOf(await second.LoginAsync(PostgresFixture.ScramUser, "postgres"));
        Assert.Equal(firstBackend, FirstValue(await second.QueryAsync("select pg_backend_pid()"))); // the same server connection (a pool of one)
        Assert.NotEqual(firstKey, secondKey);

        await second.SendQueryAsync("select pg_sleep(1.5)");
        await Task.Delay(300); // running on the server
        await CancelAsync(pooler.Port, firstKey);
        var answer = await second.ReadUntilReadyAsync();
        Assert.DoesNotContain(answer, message => message.Type == 'E'); // pg_sleep ran to its end

        await second.SendQueryAsync("select pg_sleep(30)");
        await Task.Delay(300);
        await CancelAsync(pooler.Port, secondKey); // its own key still works
        var cancelled = Assert.Single(await second.ReadUntilReadyAsync(), message => message.Type == 'E');
        Assert.Contains("C57014", Encoding.UTF8.GetString(cancelled.Payload));
    }
}
