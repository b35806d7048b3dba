using System.Net;
using System.Net.Sockets;
using PgBouncerActors.Net;
using PgBouncerActors.Session;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Net;

/// <summary>
/// The listener never leaves the pooler deaf: an accept loop that fails accepts again, a listening
/// socket closed under it is opened again where it listened, and when that cannot be done the
/// pooler is stopped with an error that says why (instead of running on, accepting nobody).
/// </summary>
public sealed class ListenerActorSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(AkkaSpecConfig.With(), output: output)
{
    private static Socket Listen(int port = 0)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        socket.Listen(16);
        return socket;
    }

    private static int PortOf(Socket socket) => ((IPEndPoint)socket.LocalEndPoint!).Port;

    /// <summary>A client connects; the listener hands its socket to the sessions actor (the test actor here).</summary>
    private void ExpectAccepted(int port)
    {
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        client.Connect(IPAddress.Loopback, port);
        ExpectMsg<ClientAccepted>(TimeSpan.FromSeconds(10)).Socket.Dispose();
    }

    [Fact]
    public void An_accept_loop_that_fails_accepts_again_on_the_same_socket()
    {
        var socket = Listen();
        var failures = 1;
        var recovery = new ListenerRecovery(_ => throw new InvalidOperationException("not expected: the socket is open"), _ => { },
            Accept: (listening, token) => Interlocked.Decrement(ref failures) >= 0
                ? ValueTask.FromException<Socket>(new SocketException((int)SocketError.InvalidArgument))
                : listening.AcceptAsync(token));
        Sys.ActorOf(ListenerActor.Props([socket], TestActor, Serilog.Core.Logger.None, recovery));

        ExpectAccepted(PortOf(socket));
        ExpectAccepted(PortOf(socket));
    }

    [Fact]
    public void A_listening_socket_closed_under_the_listener_is_opened_again_where_it_listened()
    {
        var socket = Listen();
        var port = PortOf(socket);
        var reopened = 0;
        var recovery = new ListenerRecovery(_ =>
        {
            Interlocked.Increment(ref reopened);
            return Listen(port);
        }, why => throw new InvalidOperationException($"not expected: {why}"));
        Sys.ActorOf(ListenerActor.Props([socket], TestActor, Serilog.Core.Logger.None, recovery));
        ExpectAccepted(port);

        socket.Dispose(); // its accept fails under it
        AwaitCondition(() => Volatile.Read(ref reopened) == 1, TimeSpan.FromSeconds(10));
        ExpectAccepted(port);
    }

    [Fact]
    public async Task A_listener_that_cannot_listen_again_stops_the_pooler_with_an_error_that_says_why()
    {
        var socket = Listen();
        var fatal = new TaskCompletionSource<string>();
        var recovery = new ListenerRecovery(_ => throw new SocketException((int)SocketError.AddressAlreadyInUse), why => fatal.TrySetResult(why));
        Sys.ActorOf(ListenerActor.Props([socket], TestActor, Serilog.Core.Logger.None, recovery));

        socket.Dispose();
        var why = await fatal.Task.WaitAsync(TimeSpan.FromSeconds(10)); // times out when it neither listened again nor stopped the pooler
        Assert.Contains("cannot be opened again", why);
        Assert.Contains("can accept no client", why);
    }
}
