using PgBouncerActors.Backend;

namespace PgBouncerActors.Proxy;

/// <summary>Where a client's link to the server connections stands (see <see cref="LinkStateMachine"/>).</summary>
internal enum LinkState : byte
{
    /// <summary>No server connection, and no request waiting for one.</summary>
    Free,

    /// <summary>A request waits in the client's pipe; the client is queued at its pool's desk.</summary>
    Waiting,

    /// <summary>Holds a server connection that the client loop is bringing in line (check query, settings) before the request goes out.</summary>
    Attaching,

    /// <summary>Holds the login's connection, in line with the client, until the client has its answer (then linked, or given back).</summary>
    Attached,

    /// <summary>Holds a server connection; requests and answers flow. The server loop may give it back at a clean point.</summary>
    Linked,

    /// <summary>Linked, and the client loop is writing a read's bytes to the server: the connection cannot go back meanwhile.</summary>
    Writing,

    /// <summary>Writing, and the server loop found the connection settled meanwhile: the writer has it judged again once its bytes are out.</summary>
    WritingReleaseWanted,

    /// <summary>The session is ending: nothing changes hands any more except by the session's own last decision.</summary>
    Stopped,
}

/// <summary>What <see cref="LinkStateMachine.TryLink"/> did.</summary>
internal enum LinkOutcome : byte
{
    Linked,

    /// <summary>The session stopped meanwhile.</summary>
    Stopped,

    /// <summary>The connection's reader had ended (the server closed it): it cannot be used.</summary>
    Dead,
}

/// <summary>What <see cref="LinkStateMachine.TryRelease"/> did.</summary>
internal enum ReleaseOutcome : byte
{
    /// <summary>Given up: the link is free and the caller hands the connection on.</summary>
    Released,

    /// <summary>Bytes are on their way to the server: the client loop has it judged again once they are out.</summary>
    Deferred,

    /// <summary>Kept: not clean, not linked, or the session is stopping.</summary>
    Kept,
}

/// <summary>
/// The one piece of state that says who may do what with a client's server connection, as a
/// small machine with named states (ARCHITECTURE invariant 9). Three parties move it: the client
/// loop (it waits for a connection, attaches it and writes to it), the server loop (it gives the
/// connection back when the client's transaction is over) and the session (it stops the link).
/// Every transition takes the gate, which is held for the transition only, never across I/O, so
/// none of them waits on another that is blocked on a socket.
/// </summary>
internal sealed class LinkStateMachine
{
    /// <summary>The monitor of this object, which no other code locks: a Lock of its own would cost every client 40 bytes.</summary>
    private object Gate => this;
    private volatile ServerConnection? _server;
    private volatile LinkState _state;
    private LinkState _stoppedFrom;

    public LinkState State => _state;

    /// <summary>The connection held (Attaching and after), or null.</summary>
    public ServerConnection? Server => _server;

    /// <summary>Whether the server loop forwards the server's answers to this link (the connection is attached and in use).</summary>
    public bool Forwarding(ServerConnection server) =>
        _server == server && (IsInUse(_state) || (_state == LinkState.Stopped && IsInUse(_stoppedFrom)));

    private static bool IsInUse(LinkState state) => state is LinkState.Linked or LinkState.Writing or LinkState.WritingReleaseWanted;

    /// <summary>Free → Waiting: the client has a request and no connection. False once stopped.</summary>
    public bool TryBeginWaiting()
    {
        lock (Gate)
        {
            if (_state != LinkState.Free)
            {
                return false;
            }

            _state = LinkState.Waiting;
            return true;
        }
    }

    /// <summary>Waiting → Free: the wait ended without a connection (it failed, or was withdrawn). False once stopped.</summary>
    public bool TryStopWaiting()
    {
        lock (Gate)
        {
            if (_state != LinkState.Waiting)
            {
                return false;
            }

            _state = LinkState.Free;
            return true;
        }
    }

    /// <summary>Waiting → Attaching with the connection the desk granted. False once stopped: the caller gives it back unused.</summary>
    public bool TryAttach(ServerConnection server)
    {
        lock (Gate)
        {
            if (_state != LinkState.Waiting)
            {
                return false;
            }

            _server = server;
            _state = LinkState.Attaching;
            return true;
        }
    }

    /// <summary>Attaching → Free: the connection turned out unusable (its check failed); the caller hands it to the pool.</summary>
    /// <returns>False once stopped: the session ends, and the caller hands it to the pool all the same.</returns>
    public bool TryDetach()
    {
        lock (Gate)
        {
            var attaching = _state == LinkState.Attaching;
            if (attaching)
            {
                _state = LinkState.Free;
            }

            _server = null;
            return attaching;
        }
    }

    /// <summary>Attaching → Attached: the login's connection, in line, waits for the client's answer to go out. False once stopped.</summary>
    public bool TryHoldAttached()
    {
        lock (Gate)
        {
            if (_state != LinkState.Attaching)
            {
                return false;
            }

            _state = LinkState.Attached;
            return true;
        }
    }

    /// <summary>
    /// Attaching (or Attached) → Linked: the connection is in line with the client; requests may
    /// flow. Judged under the gate against the connection's reader, which takes the gate to tell a
    /// link it ended (<see cref="HoldsForUse"/>): either it finds the link linked and tells it, or
    /// the link finds the reader ended here and takes another connection.
    /// </summary>
    public LinkOutcome TryLink(ServerConnection server)
    {
        lock (Gate)
        {
            if (_state is not (LinkState.Attaching or LinkState.Attached))
            {
                return LinkOutcome.Stopped;
            }

            if (server.ReaderEnded is not null)
            {
                return LinkOutcome.Dead;
            }

            _state = LinkState.Linked;
            return LinkOutcome.Linked;
        }
    }

    /// <summary>
    /// Whether the link holds <paramref name="server"/> for use (linked, or the login's connection),
    /// or did when it stopped: then the loss of that connection is the link's to report.
    /// </summary>
    public bool HoldsForUse(ServerConnection server)
    {
        lock (Gate)
        {
            return _server == server && (IsHeld(_state) || (_state == LinkState.Stopped && IsHeld(_stoppedFrom)));
        }

        static bool IsHeld(LinkState state) => IsInUse(state) || state == LinkState.Attached;
    }

    /// <summary>Linked → Writing: the client loop may write one read's bytes to the connection returned.</summary>
    /// <returns>Null when the link holds no connection (it went back meanwhile) or is stopped.</returns>
    public ServerConnection? TryBeginWrite()
    {
        lock (Gate)
        {
            if (_state != LinkState.Linked)
            {
                return null;
            }

            _state = LinkState.Writing;
            return _server;
        }
    }

    /// <summary>Writing → Linked once the bytes are out.</summary>
    /// <returns>True when the server loop wanted to give the connection back meanwhile: it must look again.</returns>
    public bool EndWrite()
    {
        lock (Gate)
        {
            switch (_state)
            {
                case LinkState.Writing:
                    _state = LinkState.Linked;
                    return false;
                case LinkState.WritingReleaseWanted:
                    _state = LinkState.Linked;
                    return true;
                default:
                    return false; // stopped meanwhile: the session decides
            }
        }
    }

    /// <summary>
    /// Linked → Free when <paramref name="mayRelease"/> agrees of <paramref name="judged"/> (judged under the gate, so no
    /// write starts meanwhile): the caller hands the connection on. While writing, the wish is remembered
    /// (<see cref="LinkState.WritingReleaseWanted"/>) for the writer to act on.
    /// </summary>
    public ReleaseOutcome TryRelease<TJudged>(ServerConnection server, Func<TJudged, bool> mayRelease, TJudged judged)
    {
        lock (Gate)
        {
            if (_server != server)
            {
                return ReleaseOutcome.Kept;
            }

            switch (_state)
            {
                case LinkState.Linked when mayRelease(judged):
                    _server = null;
                    _state = LinkState.Free;
                    return ReleaseOutcome.Released;
                case LinkState.Writing or LinkState.WritingReleaseWanted:
                    _state = LinkState.WritingReleaseWanted;
                    return ReleaseOutcome.Deferred;
                default:
                    return ReleaseOutcome.Kept;
            }
        }
    }

    /// <summary>Attached → Free without a request (the login's connection, given back after the login).</summary>
    /// <returns>The connection to hand on, or null when stopped meanwhile (the session decides).</returns>
    public ServerConnection? TryReleaseAttached()
    {
        lock (Gate)
        {
            if (_state != LinkState.Attached)
            {
                return null;
            }

            var server = _server;
            _server = null;
            _state = LinkState.Free;
            return server;
        }
    }

    /// <summary>Any state → Stopped (once): the session ends.</summary>
    /// <returns>The state it was in and the connection it held then (null: none); (Stopped, null) when already stopped.</returns>
    public (LinkState Was, ServerConnection? Server) Stop()
    {
        lock (Gate)
        {
            if (_state == LinkState.Stopped)
            {
                return (LinkState.Stopped, null);
            }

            var was = _stoppedFrom = _state;
            _state = LinkState.Stopped;
            return (was, _server);
        }
    }

    /// <summary>
    /// Once stopped: the connection the session gives back, once. Null when none is held, when it
    /// was already taken, or when the link stopped while waiting or attaching: then the client loop
    /// that was getting the connection gives it back itself.
    /// </summary>
    public ServerConnection? TakeServerAfterStop()
    {
        lock (Gate)
        {
            if (_state != LinkState.Stopped || _stoppedFrom is LinkState.Free or LinkState.Waiting or LinkState.Attaching)
            {
                return null;
            }

            var server = _server;
            _server = null;
            return server;
        }
    }
}
