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

    private async Task<(ServerConnection Pooler, Socket Server)> ConnectedPairAsync()
    {
        var accepting = _listener.AcceptSocketAsync();
        var socket = await PgSocket.ConnectAsync("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port, CancellationToken.None);
        return (new ServerConnection(socket, new ServerEndpoint("127.0.0.1", 1, "app"), "alice", 1 << 20), await accepting);
    }

    [Fact]
    public async Task A_parked_connection_whose_server_already_spoke_is_not_taken_and_its_wait_ends_lost()
    {
        var (connection, server) = await ConnectedPairAsync();
        var link = new ServerLinkState();
        CancellationToken wake;
        lock (link.Gate)
        {
            wake = link.Park(connection);
        }

        var waiting = connection.Socket.WaitForInputAsync(wake).AsTask();
        server.Send("E\0\0\0\x04"u8.ToArray()); // whatever it is (a FATAL, a close), it came before any request
        await waiting.WaitAsync(TimeSpan.FromSeconds(5)); // the wait sees it without reading it

        Assert.Null(link.TryTakeParked());
        Assert.Equal(ParkOutcome.Lost, link.EndParkedWait());
        server.Dispose();
    }

    [Fact]
    public async Task A_quiet_parked_connection_is_taken_and_what_arrives_then_is_its_clients_answer()
    {
        var (connection, server) = await ConnectedPairAsync();
        var link = new ServerLinkState();
        CancellationToken wake;
        lock (link.Gate)
        {
            wake = link.Park(connection);
        }

        var waiting = connection.Socket.WaitForInputAsync(wake).AsTask();
        Assert.Same(connection, link.TryTakeParked());
        server.Send("Z\0\0\0\x05I"u8.ToArray());
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(ParkOutcome.TakenByClient, link.EndParkedWait());
        server.Dispose();
    }

    public void Dispose() => _listener.Stop();
}
