using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Clients queued for a busy pool hold their requests, and so a receive buffer each, while they
/// wait. The buffers go round: thousands of requests are read into the buffers earlier requests
/// gave back, not into new ones (each new one is 16 KB of garbage for the GC), and every buffer
/// is back once the clients have left.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClientBuffersSpec(PostgresFixture postgres, ITestOutputHelper output)
{
    private const int Clients = 200;
    private const int QueriesPerClient = 25;

    /// <param name="mode">Transaction mode: a client's goodbye comes between transactions; session mode: while it holds its server.</param>
    [Theory]
    [InlineData("transaction")]
    [InlineData("session")]
    public async Task Requests_queued_for_a_pool_of_two_reuse_the_buffers_of_earlier_requests_and_every_buffer_is_back_when_the_clients_leave(string mode)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 2, max_client_conn = 500");
        var buffers = pooler.ClientReceiveBuffers;

        var wrong = await Task.WhenAll(Enumerable.Range(1, Clients).Select(client => Task.Run(() => RunClientAsync(pooler.Port, client))));

        Assert.Equal([], wrong.OfType<string>());
        const int requests = Clients * QueriesPerClient;
        output.WriteLine($"{requests} requests from {Clients} clients over a pool of 2: {buffers.Created} receive buffers made");
        // At most one per client at a time (its request while it waits, or its login), and a few more while TLS-less logins overlap.
        Assert.True(buffers.Created <= Clients + 16, $"{buffers.Created} receive buffers made for {requests} requests of {Clients} clients");

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (buffers.InUse > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50); // the sessions close their sockets after the clients' Terminate
        }

        Assert.Equal(0, buffers.InUse);
    }

    private static async Task<string?> RunClientAsync(int port, int client)
    {
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port) + ";Timeout=60;Command Timeout=60");
        await connection.OpenAsync();
        for (var q = 0; q < QueriesPerClient; q++)
        {
            await using var echo = new NpgsqlCommand($"select {client * 1000 + q}", connection);
            if (await echo.ExecuteScalarAsync() is not int answer || answer != client * 1000 + q)
            {
                return $"client {client} asked for {client * 1000 + q} and got another answer";
            }
        }

        return null;
    }
}
