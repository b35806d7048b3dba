using System.Buffers.Binary;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Simulation;

/// <summary>
/// Transaction mode between bare wire clients and a scripted server, over a pool of one: a second
/// client's request reaching the server shows exactly when the first client's lease ended.
/// </summary>
public sealed class PooledSimulationSpec(ITestOutputHelper output) : PoolerSimulation(output, "default_pool_size = 1, pool_mode = transaction")
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_pipelined_extended_batch_holds_the_lease_until_its_last_ReadyForQuery(bool firstBatchFails)
    {
        var (first, second, server) = await TwoClientsOnOneServerAsync();
        await first.SendAsync(new MessageBuilder()
            .Parse("", "select 1").Bind("", "").Execute("").Sync()
            .Parse("", "select 2").Bind("", "").Execute("").Sync());
        Assert.Equal("PBESPBES", await server.ReadTypesAsync(8));
        await second.SendQueryAsync("select 'second'");

        if (firstBatchFails)
        {
            // The server skips the rest of a failed batch up to its Sync, and answers that Sync.
            await server.SendAsync(b => b.Error(PgError.Error("22012", "division by zero")).ReadyForQuery());
        }
        else
        {
            await server.SendAsync(b => Complete(b.Begin((byte)BackendMessageCode.ParseComplete).End()
                .Begin((byte)BackendMessageCode.BindComplete).End(), "SELECT 1"));
        }

        Assert.True(await server.StaysQuietAsync(Quiet), "the second client got the server while a batch was still owed a ReadyForQuery");
        await server.SendAsync(b => Complete(b.Begin((byte)BackendMessageCode.ParseComplete).End()
            .Begin((byte)BackendMessageCode.BindComplete).End(), "SELECT 1"));
        Assert.Equal("select 'second'", await server.ExpectQueryAsync());
        await server.CompleteAsync("SELECT 1");

        var firstReplies = string.Concat((await first.ReadUntilReadyAsync()).Select(m => m.Type)) +
                           string.Concat((await first.ReadUntilReadyAsync()).Select(m => m.Type));
        Assert.Equal(firstBatchFails ? "EZ12CZ" : "12CZ12CZ", firstReplies);
        Assert.Equal("CZ", string.Concat((await second.ReadUntilReadyAsync()).Select(m => m.Type)));
    }

    [Fact]
    public async Task A_batch_arriving_in_many_small_segments_reaches_the_server_whole_and_in_order()
    {
        var (first, _, server) = await TwoClientsOnOneServerAsync();
        var batch = new MessageBuilder().Parse("", "select 1").Bind("", "").Execute("").Sync().WrittenMemory.ToArray();
        for (var offset = 0; offset < batch.Length; offset += 3)
        {
            await first.Socket.SendAsync(batch.AsMemory(offset, Math.Min(3, batch.Length - offset)));
            await Task.Delay(5); // separate TCP segments, and separate reads on the pooler's side
        }

        Assert.Equal("PBES", await server.ReadTypesAsync(4));
        await server.SendAsync(b => Complete(b.Begin((byte)BackendMessageCode.ParseComplete).End()
            .Begin((byte)BackendMessageCode.BindComplete).End(), "SELECT 1"));
        Assert.Equal("12CZ", string.Concat((await first.ReadUntilReadyAsync()).Select(m => m.Type)));
    }

    [Fact]
    public async Task Copy_holds_the_lease_until_the_copy_and_its_ReadyForQuery_are_done()
    {
        var (first, second, server) = await TwoClientsOnOneServerAsync();
        await first.SendQueryAsync("copy t from stdin");
        await server.ExpectQueryAsync();
        await server.SendAsync(b => b.Begin((byte)BackendMessageCode.CopyInResponse).WriteByte(0).WriteInt16(0).End());
        await first.SendAsync(new MessageBuilder().Begin((byte)FrontendMessageCode.CopyData).WriteCString("row").End());
        await second.SendQueryAsync("select 'second'");
        Assert.Equal("d", await server.ReadTypesAsync(1));
        Assert.True(await server.StaysQuietAsync(Quiet), "the second client got the server in the middle of a COPY");

        await first.SendAsync(new MessageBuilder().Begin((byte)FrontendMessageCode.CopyDone).End());
        Assert.Equal("c", await server.ReadTypesAsync(1));
        await server.CompleteAsync("COPY 1");
        Assert.Equal("select 'second'", await server.ExpectQueryAsync());
    }

    [Fact]
    public async Task A_connection_whose_parameters_differ_is_brought_in_line_before_the_next_client_uses_it()
    {
        var (first, second, server) = await TwoClientsOnOneServerAsync();
        await first.SendQueryAsync("set TimeZone = 'Asia/Tokyo'");
        await server.ExpectQueryAsync();
        await server.SendAsync(b => b.Begin((byte)BackendMessageCode.CommandComplete).WriteCString("SET").End()
            .ParameterStatus("TimeZone", "Asia/Tokyo").ReadyForQuery());
        Assert.Contains(await first.ReadUntilReadyAsync(), m => m.Type == 'S'); // the client sees its own change

        var answering = second.QueryAsync("show TimeZone");
        Assert.Equal("SELECT pg_catalog.set_config('TimeZone', 'UTC', false)", await server.ExpectQueryAsync());
        await server.SendAsync(b => b.ParameterStatus("TimeZone", "UTC").Begin((byte)BackendMessageCode.CommandComplete).WriteCString("SELECT 1").End()
            .ReadyForQuery());
        Assert.Equal("show TimeZone", await server.ExpectQueryAsync());
        await server.CompleteAsync("SHOW");
        Assert.Equal("CZ", string.Concat((await answering).Select(m => m.Type))); // the re-sync's replies were swallowed

        var firstAgain = first.QueryAsync("show TimeZone");
        Assert.Equal("SELECT pg_catalog.set_config('TimeZone', 'Asia/Tokyo', false)", await server.ExpectQueryAsync());
        await server.SendAsync(b => b.ParameterStatus("TimeZone", "Asia/Tokyo").ReadyForQuery());
        Assert.Equal("show TimeZone", await server.ExpectQueryAsync());
        await server.CompleteAsync("SHOW");
        await firstAgain;
    }

    [Fact]
    public async Task A_cancel_reaches_the_server_connection_its_client_holds_with_the_servers_key_and_is_ignored_between_transactions()
    {
        var first = await WireClient.ConnectAsync(Pooler.Port);
        var loggingIn = first.LoginAsync();
        var server = await Servers.AcceptAsync();
        await server.AcceptLoginAsync(processId: 77);
        var key = (await loggingIn).Single(m => m.Type == 'K').Payload;
        var (clientPid, clientSecret) = (BinaryPrimitives.ReadInt32BigEndian(key), BinaryPrimitives.ReadInt32BigEndian(key.AsSpan(4)));
        Assert.NotEqual((77, FakeServerConnection.SecretKey), (clientPid, clientSecret)); // a key of its own

        await SendCancelAsync(clientPid, clientSecret); // between transactions: nothing to cancel
        Assert.False(Servers.HasPendingConnection(Quiet));

        await first.SendQueryAsync("select pg_sleep(10)");
        await server.ExpectQueryAsync();
        await SendCancelAsync(clientPid, clientSecret);
        var cancelConnection = await Servers.AcceptAsync();
        var packet = (await cancelConnection.Socket.Input.ReadStartupPacketAsync())!.Payload;
        Assert.Equal(StartupCodes.CancelRequest, BinaryPrimitives.ReadInt32BigEndian(packet));
        Assert.Equal((77, FakeServerConnection.SecretKey), (BinaryPrimitives.ReadInt32BigEndian(packet.AsSpan(4)), BinaryPrimitives.ReadInt32BigEndian(packet.AsSpan(8))));
        cancelConnection.Socket.Abort();
    }

    [Fact]
    public async Task A_client_leaving_mid_transaction_gets_its_server_connection_closed_and_the_next_client_a_new_one()
    {
        var (first, second, server) = await TwoClientsOnOneServerAsync();
        var answering = first.QueryAsync("begin");
        await server.ExpectQueryAsync();
        await server.CompleteAsync("BEGIN", TransactionStatus.InBlock);
        await answering;

        first.Socket.Abort();
        var closed = Events.FishForMessage<ServerConnectionEvent>(e => !e.Opened);
        Assert.Contains("inside a transaction", closed.Reason);

        var next = second.QueryAsync("select 'second'");
        var replacement = await Servers.AcceptAsync();
        await replacement.AcceptLoginAsync(processId: 3);
        Assert.Equal("select 'second'", await replacement.ExpectQueryAsync());
        await replacement.CompleteAsync("SELECT 1");
        await next;
    }

    private static MessageBuilder Complete(MessageBuilder builder, string tag) =>
        builder.Begin((byte)BackendMessageCode.CommandComplete).WriteCString(tag).End().ReadyForQuery();

    private async Task SendCancelAsync(int processId, int secretKey)
    {
        var canceller = await WireClient.ConnectAsync(Pooler.Port);
        await canceller.SendAsync(new MessageBuilder().CancelRequest(processId, secretKey));
    }

    /// <summary>Two logged-in clients and the one server connection they share (the first login opened it).</summary>
    private async Task<(WireClient First, WireClient Second, FakeServerConnection Server)> TwoClientsOnOneServerAsync()
    {
        var first = await WireClient.ConnectAsync(Pooler.Port);
        var loggingIn = first.LoginAsync();
        var server = await Servers.AcceptAsync();
        await server.AcceptLoginAsync(processId: 1);
        await loggingIn;
        var second = await WireClient.ConnectAsync(Pooler.Port);
        Assert.Equal('Z', (await second.LoginAsync()).Last().Type); // served by the same connection, nothing sent to it
        Events.ExpectMsg<ServerConnectionEvent>(e => e.Opened);
        return (first, second, server);
    }
}
