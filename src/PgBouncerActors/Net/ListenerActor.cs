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
/// Owns the listening socket. The accept loop runs as a task outside the actor and hands every
/// accepted socket to the sessions actor; the listener does no protocol work.
/// </summary>
internal sealed class ListenerActor : ReceiveActor
{
    private readonly Socket _listener;
    private readonly IActorRef _sessions;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();

    public ListenerActor(Socket listener, IActorRef sessions, ILogger log)
    {
        _listener = listener;
        _sessions = sessions;
        _log = log;
        Receive<StopListening>(_ =>
        {
            StopAccepting();
            Sender.Tell(StopListening.Instance, Self);
        });
        Receive<Status.Failure>(failure => throw new IOException("the accept loop failed", failure.Cause));
    }

    public static Props Props(Socket listener, IActorRef sessions, ILogger log) =>
        ActorProps.Of(() => new ListenerActor(listener, sessions, log));

    protected override void PreStart() => AcceptLoopAsync(_stop.Token).PipeTo(Self, Self);

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
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
            _listener.Dispose();
        }
    }

    protected override void PostStop()
    {
        StopAccepting();
        _stop.Dispose();
    }
}
