using System.Text;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Simulation;

/// <summary>
/// Named prepared statements in transaction mode, between bare wire clients and a scripted
/// server: the server sees the pooler's names and the pooler's own Parse, the client sees exactly
/// the answers PostgreSQL would give it for what it sent.
/// </summary>
public sealed class PreparedSimulationSpec(ITestOutputHelper output) : PoolerSimulation(output, "default_pool_size = 1, pool_mode = transaction")
{
    [Fact]
    public async Task A_Bind_on_a_new_server_connection_is_preceded_by_the_poolers_Parse_whose_ParseComplete_the_client_never_sees()
    {
        var (client, first) = await LoggedInClientAsync();
        await client.SendAsync(new MessageBuilder().Parse("s1", "select 1").Sync());
        var parse = await first.ReadAsync();
        Assert.Equal(('P', "PGBA_1"), (parse!.Type, FirstName(parse)));
        Assert.Equal('S', (await first.ReadAsync())!.Type);
        await first.SendAsync(b => b.ParseComplete().ReadyForQuery());
        Assert.Equal("1Z", Types(await client.ReadUntilReadyAsync()));

        await first.Socket.DisposeAsync(); // the server connection is gone between transactions
        Events.ExpectMsg<ServerConnectionEvent>(e => e.Opened);
        Events.ExpectMsg<ServerConnectionEvent>(e => !e.Opened);

        await client.SendAsync(new MessageBuilder().Bind("", "s1").Execute("").Sync());
        var second = await Servers.AcceptAsync();
        await second.AcceptLoginAsync(processId: 2);
        var injected = await second.ReadAsync();
        Assert.Equal(('P', "PGBA_1"), (injected!.Type, FirstName(injected)));
        Assert.Equal(Encoding.UTF8.GetBytes("PGBA_1\0select 1\0\0\0"), injected.Payload); // the client's text and parameter types
        var bind = await second.ReadAsync();
        Assert.Equal(('B', "PGBA_1"), (bind!.Type, SecondName(bind)));
        Assert.Equal("ES", await second.ReadTypesAsync(2));
        await second.SendAsync(b => b.ParseComplete().Begin((byte)BackendMessageCode.BindComplete).End()
            .Begin((byte)BackendMessageCode.DataRow).WriteInt16(1).WriteInt32(1).WriteByte((byte)'1').End()
            .Begin((byte)BackendMessageCode.CommandComplete).WriteCString("SELECT 1").End().ReadyForQuery());
        Assert.Equal("2DCZ", Types(await client.ReadUntilReadyAsync()));
    }

    [Fact]
    public async Task A_Parse_of_a_statement_the_connection_has_prepares_nothing_and_still_answers_ParseComplete_in_its_place()
    {
        var (first, server) = await LoggedInClientAsync();
        var second = await WireClient.ConnectAsync(Pooler.Port);
        Assert.Equal('Z', (await second.LoginAsync()).Last().Type);

        await first.SendAsync(new MessageBuilder().Parse("mine", "select 1").Sync());
        Assert.Equal("PS", await server.ReadTypesAsync(2));
        await server.SendAsync(b => b.ParseComplete().ReadyForQuery());
        Assert.Equal("1Z", Types(await first.ReadUntilReadyAsync()));

        // The same text under another client's name, pipelined with a query: the connection shares the pooler's statement.
        await second.SendAsync(new MessageBuilder().Parse("theirs", "select 1").Bind("", "theirs").Execute("").Sync());
        var close = await server.ReadAsync();
        Assert.Equal(('C', "PPGBA_NONE"), (close!.Type, FirstName(close))); // a portal that does not exist: only its answer matters
        var bind = await server.ReadAsync();
        Assert.Equal(('B', "PGBA_1"), (bind!.Type, SecondName(bind)));
        Assert.Equal("ES", await server.ReadTypesAsync(2));
        await server.SendAsync(b => b.Begin((byte)BackendMessageCode.CloseComplete).End().Begin((byte)BackendMessageCode.BindComplete).End()
            .Begin((byte)BackendMessageCode.CommandComplete).WriteCString("SELECT 0").End().ReadyForQuery());
        Assert.Equal("12CZ", Types(await second.ReadUntilReadyAsync())); // ParseComplete where the CloseComplete was
    }

    private static string Types(IEnumerable<PgMessage> messages) => string.Concat(messages.Select(m => m.Type));

    private static string FirstName(PgMessage message) => Encoding.UTF8.GetString(message.Payload).Split('\0')[0];

    private static string SecondName(PgMessage message) => Encoding.UTF8.GetString(message.Payload).Split('\0')[1];
}
