using System.Net;
using System.Net.Sockets;
using PgBouncerActors.Backend;
using PgBouncerActors.Net;
using PgBouncerActors.Proxy;
using Xunit;

namespace PgBouncerActors.Tests.Proxy;

/// <summary>The hand-over of a parked connection to its client's next request, decided against what the server already sent.</summary>
public sealed class ParkedConnectionSpec : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public ParkedConnectionSpec() => _listener.Start();

    /// <summary>A server connection parked on a fresh link, its server loop's wait begun, and the server's end of the socket.</summary>
    private async Task<(ServerLinkState Link, ServerConnection Connection, Task Waiting, Socket Server)> ParkedAsync()
    {
        var accepting = _listener.AcceptSocketAsync();
        var socket = await PgSocket.ConnectAsync("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port, CancellationToken.None);
        var connection = new ServerConnection(socket, new ServerEndpoint("127.0.0.1", 1, "app"), "alice", 1 << 20);
        var link = new ServerLinkState();
        CancellationToken wake;
        lock (link.Gate)
        {
            wake = link.Park(connection);
        }

        return (link, connection, connection.Socket.WaitForInputAsync(wake).AsTask(), await accepting);
    }

    [Fact]
    public async Task A_parked_connection_whose_server_already_spoke_is_not_taken_and_its_wait_ends_lost()
    {
        var (link, _, waiting, server) = await ParkedAsync();
        server.Send("E\0\0\0\x04"u8.ToArray()); // whatever it is (a FATAL, a close), it came before any request
        await waiting.WaitAsync(TimeSpan.FromSeconds(5)); // the wait sees it without reading it

        Assert.Null(link.TryTakeParked());
        Assert.Equal(ParkOutcome.Lost, link.EndParkedWait());
        server.Dispose();
    }

    [Fact]
    public async Task A_quiet_parked_connection_is_taken_and_what_arrives_then_is_its_clients_answer()
    {
        var (link, connection, waiting, server) = await ParkedAsync();
        Assert.Same(connection, link.TryTakeParked());
        server.Send("Z\0\0\0\x05I"u8.ToArray());
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(ParkOutcome.TakenByClient, link.EndParkedWait());
        server.Dispose();
    }

    public void Dispose() => _listener.Stop();
}
