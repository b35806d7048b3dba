using System.Net.Sockets;
using Akka.Actor;
using PgBouncerActors.Hosting;
using PgBouncerActors.Session;
using Serilog;

namespace PgBouncerActors.Net;

/// <summary>Host to listener: stop accepting (shutdown).</summary>
internal sealed record StopListening
{
    public static readonly StopListening Instance = new();
}

/// <summary>
/// Owns the listening sockets: TCP, and the Unix socket when there is one. One accept loop per
/// socket runs as a task outside the actor and hands every accepted socket to the sessions actor;
/// the listener does no protocol work.
/// </summary>
internal sealed class ListenerActor : ReceiveActor
{
    private readonly IReadOnlyList<Socket> _listeners;
    private readonly IActorRef _sessions;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();

    public ListenerActor(IReadOnlyList<Socket> listeners, IActorRef sessions, ILogger log)
    {
        _listeners = listeners;
        _sessions = sessions;
        _log = log;
        Receive<StopListening>(_ =>
        {
            StopAccepting();
            Sender.Tell(StopListening.Instance, Self);
        });
        Receive<Status.Failure>(failure => throw new IOException("the accept loop failed", failure.Cause));
    }

    public static Props Props(IReadOnlyList<Socket> listeners, IActorRef sessions, ILogger log) =>
        ActorProps.Of(() => new ListenerActor(listeners, sessions, log));

    protected override void PreStart()
    {
        foreach (var listener in _listeners)
        {
            AcceptLoopAsync(listener, _stop.Token).PipeTo(Self, Self);
        }
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                continue; // the client gave up before we accepted it
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // Out of file descriptors: back off instead of spinning, and keep serving the clients we have.
                _log.Error("accept failed: {Error}; retrying in 1s", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                continue;
            }

            _sessions.Tell(new ClientAccepted(client));
        }
    }

    private void StopAccepting()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
            foreach (var listener in _listeners)
            {
                if (listener.AddressFamily == AddressFamily.Unix)
                {
                    UnixSocketListener.Remove(listener);
                }
                else
                {
                    listener.Dispose();
                }
            }
        }
    }

    protected override void PostStop()
    {
        StopAccepting();
        _stop.Dispose();
    }
}
