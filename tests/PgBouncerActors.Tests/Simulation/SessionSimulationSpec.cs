using System.Buffers.Binary;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Simulation;

/// <summary>
/// The actor tree (listener, sessions, pool, backends) in a TestKit system, between a bare wire
/// client and a scripted fake server; a probe on the event stream sees server connections open and close.
/// </summary>
public sealed class SessionSimulationSpec(ITestOutputHelper output) : PoolerSimulation(output, "default_pool_size = 1")
{

    [Fact]
    public async Task Login_is_answered_with_the_servers_parameters_and_key_and_a_query_round_trips()
    {
        var client = await WireClient.ConnectAsync(Pooler.Port);
        var loggingIn = client.LoginAsync();
        var server = await Servers.AcceptAsync();
        var startup = await server.AcceptLoginAsync(processId: 9001);
        Assert.Contains(new KeyValuePair<string, string>("database", "app"), startup);
        var login = await loggingIn;
        Assert.Equal("RSSSKZ", string.Concat(login.Select(m => m.Type)));
        var key = login.Single(m => m.Type == 'K');
        Assert.Equal(9001, BinaryPrimitives.ReadInt32BigEndian(key.Payload)); // session mode: the server's own key

        var answering = client.QueryAsync("select 1");
        Assert.Equal("select 1", await server.ExpectQueryAsync());
        await server.CompleteAsync("SELECT 1");
        Assert.Equal("CZ", string.Concat((await answering).Select(m => m.Type)));
    }

    [Fact]
    public async Task Session_end_resets_the_server_connection_and_the_next_client_reuses_it()
    {
        var (first, server) = await LoggedInClientAsync();
        Events.ExpectMsg<ServerConnectionEvent>(e => e.Opened);

        await first.TerminateAsync();
        Assert.Equal("DISCARD ALL", await server.ExpectQueryAsync());
        await server.CompleteAsync("DISCARD ALL");

        var second = await WireClient.ConnectAsync(Pooler.Port);
        await second.LoginAsync();
        var answering = second.QueryAsync("select 2");
        Assert.Equal("select 2", await server.ExpectQueryAsync()); // same server connection
        await server.CompleteAsync("SELECT 1");
        await answering;
        Assert.False(Servers.HasPendingConnection(TimeSpan.FromMilliseconds(200)));
        Events.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_backend_dying_mid_query_gives_the_client_an_error_and_the_pool_a_replacement()
    {
        var (client, server) = await LoggedInClientAsync();

        var answering = client.QueryAsync("select pg_sleep(10)");
        await server.ExpectQueryAsync();
        server.Socket.Abort();
        var reply = await answering;
        var error = PgError.Parse(Assert.Single(reply, m => m.Type == 'E').Payload);
        Assert.Equal(("FATAL", "08006"), (error.Severity, error.SqlState));
        Events.FishForMessage<ServerConnectionEvent>(e => !e.Opened);

        var next = await WireClient.ConnectAsync(Pooler.Port);
        var nextLogin = next.LoginAsync();
        var replacement = await Servers.AcceptAsync();
        await replacement.AcceptLoginAsync(2);
        Assert.Equal('Z', (await nextLogin).Last().Type);
    }

    [Fact]
    public async Task A_client_dying_mid_transaction_gets_its_server_connection_closed_instead_of_returned()
    {
        var (client, server) = await LoggedInClientAsync();
        var answering = client.QueryAsync("begin");
        await server.ExpectQueryAsync();
        await server.CompleteAsync("BEGIN", Protocol.TransactionStatus.InBlock);
        await answering;

        client.Socket.Abort();
        var closed = Events.FishForMessage<ServerConnectionEvent>(e => !e.Opened);
        Assert.Contains("inside a transaction", closed.Reason);
        // The server hears Terminate and the close, never a reset it would run inside the open transaction.
        var last = await server.ReadAsync();
        Assert.True(last is null || last.Type == 'X', $"expected Terminate or close, got '{last?.Type}'");
    }
}
