using System.Net;
using System.Net.Sockets;
using PgBouncerActors.Net;

namespace PgBouncerActors.Tests.Shared;

/// <summary>A real TCP connection over loopback: the pooler's side as a PgSocket, the other end as a bare socket to write and read by hand.</summary>
internal static class LoopbackSockets
{
    public static (PgSocket Ours, Socket Peer) Connect()
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var peer = new Socket(SocketType.Stream, ProtocolType.Tcp);
        peer.Connect(listener.LocalEndPoint!);
        return (PgSocket.Wrap(listener.Accept()), peer);
    }
}
