using Npgsql;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// A client that sends what PostgreSQL would not read, or that leaves PostgreSQL in a state its
/// message types alone do not reveal, through a pool of one server connection in transaction
/// mode: whatever it does, nothing reaches the connection the next client gets.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HostileClientSpec(PostgresFixture postgres)
{
    private PoolerHost StartPoolOfOne(string extra = "") =>
        postgres.StartPooler($"auth_type = trust, pool_mode = transaction, default_pool_size = 1, query_wait_timeout = 5 {extra}");

    private static async Task<WireClient> LoginAsync(int port)
    {
        var client = await WireClient.ConnectAsync(port);
        Assert.Equal('Z', (await client.LoginAsync(PostgresFixture.ScramUser, "postgres")).Last().Type);
        return client;
    }

    private static string Types(IEnumerable<PgMessage> messages) => string.Concat(messages.Select(m => m.Type));

    [Theory]
    [InlineData((byte)'z')]
    [InlineData((byte)0)]
    [InlineData((byte)'<')]
    [InlineData((byte)'W')]
    [InlineData((byte)'}')]
    [InlineData((byte)'p')] // a password message is only for the login
    public async Task A_message_of_a_type_PostgreSQL_does_not_know_is_refused_with_08P01_and_never_reaches_another_clients_server(byte type)
    {
        await using var pooler = StartPoolOfOne();
        await using var innocents = new InnocentClients(pooler.Port, 3);
        await innocents.RunningAsync();
        for (var round = 0; round < 20; round++)
        {
            var hostile = await LoginAsync(pooler.Port);
            await hostile.SendAsync(new MessageBuilder().Query("select 1").Begin(type).End());
            Assert.Equal("TDCZ", Types(await hostile.ReadUntilReadyAsync())); // its valid query is answered, as PostgreSQL would
            var refusal = PgError.Parse(Assert.Single(await hostile.ReadUntilReadyAsync()).Payload);
            Assert.Equal(("FATAL", "08P01", $"invalid frontend message type {type}"), (refusal.Severity, refusal.SqlState, refusal.Message));
            hostile.Socket.Abort(); // as a driver closes on a FATAL
        }

        await innocents.RunningAsync();
        Assert.Empty(innocents.Harm);
    }

    [Theory]
    [InlineData("a Flush carrying data", "invalid message format")]
    [InlineData("a Sync carrying data", "invalid message format")]
    [InlineData("a Close longer than PostgreSQL reads", "invalid message length")]
    public async Task A_message_PostgreSQL_would_not_read_as_it_stands_is_refused_before_it_reaches_the_server(string what, string message)
    {
        await using var pooler = StartPoolOfOne();
        await using var innocents = new InnocentClients(pooler.Port, 2);
        var hostile = await LoginAsync(pooler.Port);
        var bad = what switch
        {
            "a Flush carrying data" => new MessageBuilder().Begin((byte)'H').WriteInt32(0).End(),
            "a Sync carrying data" => new MessageBuilder().Begin((byte)'S').WriteByte(1).End(),
            _ => new MessageBuilder().Begin((byte)'C').WriteByte((byte)'S').WriteBytes(new byte[20_000]).End(),
        };
        await hostile.SendAsync(bad);
        var refusal = PgError.Parse(Assert.Single(await hostile.ReadUntilReadyAsync()).Payload);
        Assert.Equal("08P01", refusal.SqlState);
        Assert.StartsWith(message, refusal.Message);
        await innocents.RunningAsync();
        Assert.Empty(innocents.Harm);
    }

    /// <summary>Sequences whose count of ReadyForQuery is not the count of Query and Sync messages.</summary>
    public static TheoryData<string, Func<MessageBuilder, MessageBuilder>, string> UncountedSequences => new()
    {
        // PostgreSQL ignores Sync during COPY IN; the CopyFail ends the COPY with one ReadyForQuery.
        { "COPY FROM, Sync, CopyFail", b => b.Query("copy hostile_copy from stdin").Sync().CopyFail("changed my mind"), "GEZ" },
        // After a failed Parse the server skips everything up to Sync, the Query included.
        { "a failing Parse, a Query, Sync", b => b.Parse("", "selec 1").Query("select 1").Sync(), "EZ" },
        // libpq's COPY over the extended protocol: the first Sync is read as part of the COPY.
        { "extended COPY with libpq's two Syncs", b => b.Parse("", "copy hostile_copy from stdin").Bind("", "").Execute("").Sync()
            .CopyData("1\n"u8).CopyDone().Sync(), "12GCZ" },
    };

    [Theory]
    [MemberData(nameof(UncountedSequences))]
    public async Task A_client_cannot_pin_the_server_connection_with_messages_PostgreSQL_does_not_answer(string _,
        Func<MessageBuilder, MessageBuilder> sequence, string answers)
    {
        await postgres.Cluster.RunSqlAsync($"create table if not exists hostile_copy(x int); grant all on hostile_copy to {PostgresFixture.ScramUser};");
        await using var pooler = StartPoolOfOne();
        var hostile = await LoginAsync(pooler.Port);
        for (var round = 0; round < 2; round++)
        {
            await hostile.SendAsync(sequence(new MessageBuilder()));
            Assert.Equal(answers, Types(await hostile.ReadUntilReadyAsync()));

            // The pool's only connection is free again: another client is served at once, not after query_wait_timeout.
            await using var other = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await other.OpenAsync();
            await using var select = new NpgsqlCommand("select 42", other);
            Assert.Equal(42, await select.ExecuteScalarAsync());
        }

        Assert.Equal("TDCZ", Types(await hostile.QueryAsync("select 1"))); // and the hostile session itself goes on
    }

    [Fact]
    public async Task A_Query_in_the_middle_of_COPY_data_ends_only_the_sender_whose_server_gives_up_on_it()
    {
        await postgres.Cluster.RunSqlAsync($"create table if not exists hostile_copy(x int); grant all on hostile_copy to {PostgresFixture.ScramUser};");
        await using var pooler = StartPoolOfOne();
        await using var innocents = new InnocentClients(pooler.Port, 2);
        await innocents.RunningAsync();
        var hostile = await LoginAsync(pooler.Port);
        await hostile.SendAsync(new MessageBuilder().Query("copy hostile_copy from stdin").CopyData("2\n"u8).Query("select 1"));
        var answers = await hostile.ReadUntilReadyAsync(); // PostgreSQL: an error, then FATAL, having lost message sync
        Assert.Equal("GEE", Types(answers));
        Assert.Equal(("FATAL", "08P01"), (PgError.Parse(answers[^1].Payload).Severity, PgError.Parse(answers[^1].Payload).SqlState));
        await innocents.RunningAsync();
        Assert.Empty(innocents.Harm);
    }
}
