using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

[Collection(PostgresCollection.Name)]
public sealed class LoginTimeoutSpec(PostgresFixture postgres)
{
    [Fact]
    public async Task Thousands_of_simultaneous_login_timeouts_each_get_their_error_and_their_log_line()
    {
        const int clients = 2000;
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler($"client_login_timeout = 1, max_client_conn = {clients + 10}", log: log);
        var sockets = await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => PgSocket.ConnectAsync("127.0.0.1", pooler.Port, CancellationToken.None)));
        try
        {
            // Each sends nothing: each gets 57014 client_login_timeout and a "client login failed" line.
            var errors = await Task.WhenAll(sockets.Select(async socket =>
                PgError.Parse((await socket.Input.ReadMessageAsync(1 << 16).AsTask().WaitAsync(TimeSpan.FromSeconds(30)))!.Payload)));
            Assert.All(errors, error => Assert.Equal("57014", error.SqlState));
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (log.Count("reason=client_login_timeout") < clients && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.Equal(clients, log.Count("client login failed:"));
            Assert.Equal(clients, log.Count("reason=client_login_timeout"));
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Abort();
            }
        }
    }
}
