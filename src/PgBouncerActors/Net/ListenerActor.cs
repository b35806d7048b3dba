using System.Net.Sockets;
using Akka.Actor;
using PgBouncerActors.Hosting;
using PgBouncerActors.Session;
using Serilog;

namespace PgBouncerActors.Net;

/// <summary>
/// Host to listener: stop accepting (shutdown); over TCP only while the pooler waits for its
/// clients or servers, so that the admin console is still reached over the Unix socket.
/// </summary>
internal sealed record StopListening(bool TcpOnly = false);

/// <summary>What a listener needs besides its sockets: how to open a socket again, and what to do when it cannot.</summary>
/// <param name="Reopen">Binds a fresh socket where the given one listened (its address, port or path, and options).</param>
/// <param name="Fatal">Stops the process with this error: the pooler can accept nobody any more.</param>
/// <param name="Accept">Accepts one client (the socket's own accept; specs make it fail).</param>
internal sealed record ListenerRecovery(Func<Socket, Socket> Reopen, Action<string> Fatal,
    Func<Socket, CancellationToken, ValueTask<Socket>>? Accept = null);

/// <summary>
/// Owns the listening sockets: TCP, and the Unix socket when there is one. One accept loop per
/// socket runs as a task outside the actor and hands every accepted socket to the sessions actor;
/// the listener does no protocol work. An accept loop that ends while the pooler is not stopping
/// (an error it did not expect, or its socket closed under it) never leaves the pooler deaf: the
/// listener accepts again on the same socket, or on a new one bound where it listened, and if it
/// cannot, stops the process with an error that says why.
/// </summary>
internal sealed class ListenerActor : ReceiveActor, IWithTimers
{
    /// <summary>How long the listener waits before accepting again after its accept loop failed (doubling, to a second).</summary>
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(50);

    public ITimerScheduler Timers { get; set; } = null!;
    private readonly List<Socket> _listeners;
    private readonly IActorRef _sessions;
    private readonly ILogger _log;
    private readonly ListenerRecovery _recovery;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<Socket, string> _names = []; // where each listens, said even once it is closed
    private readonly HashSet<Socket> _closedOnPurpose = []; // TCP sockets closed while the Unix socket still serves
    private TimeSpan _retry = FirstRetry;

    public ListenerActor(IReadOnlyList<Socket> listeners, IActorRef sessions, ILogger log, ListenerRecovery recovery)
    {
        _listeners = [.. listeners];
        _sessions = sessions;
        _log = log;
        _recovery = recovery;
        Receive<StopListening>(stop =>
        {
            if (stop.TcpOnly)
            {
                StopAcceptingTcp();
            }
            else
            {
                StopAccepting();
            }

            Sender.Tell(stop, Self);
        });
        Receive<AcceptLoopEnded>(OnAcceptLoopEnded);
        Receive<AcceptAgain>(again => StartLoop(again.Socket));
        Receive<AcceptWorks>(_ => _retry = FirstRetry);
    }

    public static Props Props(IReadOnlyList<Socket> listeners, IActorRef sessions, ILogger log, ListenerRecovery recovery) =>
        ActorProps.Of(() => new ListenerActor(listeners, sessions, log, recovery));

    protected override void PreStart()
    {
        foreach (var listener in _listeners)
        {
            StartLoop(listener);
        }
    }

    private void StartLoop(Socket listener)
    {
        if (_stop.IsCancellationRequested || _closedOnPurpose.Contains(listener))
        {
            return;
        }

        _names.TryAdd(listener, Describe(listener));
        AcceptLoopAsync(listener, Self, _stop.Token).PipeTo(Self, Self, () => new AcceptLoopEnded(listener, null),
            cause => new AcceptLoopEnded(listener, cause));
    }

    private async Task AcceptLoopAsync(Socket listener, IActorRef self, CancellationToken cancellationToken)
    {
        var accept = _recovery.Accept ?? ((socket, token) => socket.AcceptAsync(token));
        var accepted = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await accept(listener, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return; // stopping: the socket was closed on purpose
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

            if (++accepted == 1)
            {
                self.Tell(AcceptWorks.Instance); // the socket serves again: the next failure retries quickly
            }

            // The session is made, and asks for the startup packet, here and now rather than on a woken pool thread.
            HandOffExecutor.RunHere(static accepted => accepted.Sessions.Tell(accepted.Client), (Sessions: _sessions, Client: new ClientAccepted(client)));
        }
    }

    /// <summary>An accept loop ended while the pooler still listens: accept again, on a new socket if this one is gone.</summary>
    private void OnAcceptLoopEnded(AcceptLoopEnded ended)
    {
        if (_stop.IsCancellationRequested || _closedOnPurpose.Contains(ended.Socket))
        {
            return;
        }

        var socket = ended.Socket;
        var where = _names.GetValueOrDefault(socket) ?? Describe(socket);
        var why = ended.Failure?.Message ?? "it stopped";
        Socket next;
        if (IsOpen(socket))
        {
            _log.Error("accept loop on {Address} failed: {Error}; accepting again in {Delay:0}ms", where, why, _retry.TotalMilliseconds);
            next = socket;
        }
        else
        {
            try
            {
                next = _recovery.Reopen(socket);
            }
            catch (Exception e)
            {
                var fatal = $"the listening socket {where} was closed ({why}) and cannot be opened again: {e.Message}; the pooler stops, as it can accept no client";
                _log.Fatal("{Error}", fatal);
                _recovery.Fatal(fatal);
                return;
            }

            _log.Error("the listening socket {Address} was closed ({Error}); listening again on a new socket", where, why);
            _listeners[_listeners.IndexOf(socket)] = next;
            _names.Remove(socket);
        }

        Timers.StartSingleTimer(next, new AcceptAgain(next), _retry);
        _retry = TimeSpan.FromTicks(Math.Min(_retry.Ticks * 2, TimeSpan.TicksPerSecond));
    }

    private static bool IsOpen(Socket socket)
    {
        try
        {
            return socket.Handle != IntPtr.Zero && socket.IsBound && socket.LocalEndPoint is not null;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static string Describe(Socket socket)
    {
        try
        {
            return socket.LocalEndPoint?.ToString() ?? "(unbound)";
        }
        catch (ObjectDisposedException)
        {
            return "(closed)";
        }
    }

    private void StopAcceptingTcp()
    {
        foreach (var listener in _listeners.Where(listener => listener.AddressFamily != AddressFamily.Unix))
        {
            if (_closedOnPurpose.Add(listener))
            {
                listener.Dispose(); // its accept loop ends with an error, which OnAcceptLoopEnded ignores
            }
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

    private sealed record AcceptLoopEnded(Socket Socket, Exception? Failure);

    private sealed record AcceptAgain(Socket Socket);

    private sealed record AcceptWorks
    {
        public static readonly AcceptWorks Instance = new();
    }
}
