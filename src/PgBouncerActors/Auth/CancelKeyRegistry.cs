using System.Collections.Concurrent;
using System.Security.Cryptography;
using PgBouncerActors.Backend;

namespace PgBouncerActors.Auth;

/// <summary>
/// Maps the BackendKeyData a client was given to its <see cref="CancelRoute"/>. A CancelRequest
/// arrives on a new connection, so this lookup is the only link between the two.
/// </summary>
/// <param name="peerId">
/// peer_id: when not 0, every key this instance hands out carries it in bits 17 to 30 of the
/// process id (14 bits, PgBouncer's range), so another instance of the cluster that receives the
/// cancel knows where to forward it; 49 random bits remain.
/// </param>
internal sealed class CancelKeyRegistry(int peerId = 0)
{
    /// <summary>The largest peer_id: 14 bits, as in PgBouncer.</summary>
    public const int MaxPeerId = (1 << PeerBits) - 1;

    private const int PeerBits = 14;
    private const int RandomProcessBits = 17;

    private readonly ConcurrentDictionary<(int ProcessId, int SecretKey), CancelRoute> _routes = new();

    /// <summary>This instance's peer_id (0: alone).</summary>
    public int PeerId { get; } = peerId;

    /// <summary>
    /// Every client gets a key of the pooler's own, in session mode too: a server's own key
    /// could not say which instance holds the client.
    /// </summary>
    public bool IssuesOwnKeys => PeerId != 0;

    /// <summary>The peer_id a key of some instance carries (see the class's peerId).</summary>
    public static int PeerOf(int processId) => (processId >> RandomProcessBits) & MaxPeerId;

    /// <summary>
    /// A key for a session-mode client alone: its server connection's process id (pg_backend_pid()
    /// and the key agree, as without a pooler) with a secret of its own. The server's own secret is
    /// never shown: the next client of that connection gets another one, so a client that left can
    /// no longer cancel the queries of whoever holds the connection after it.
    /// </summary>
    public (int ProcessId, int SecretKey) RegisterWithProcessId(int processId, CancelRoute route)
    {
        while (true)
        {
            var key = (processId, RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue));
            if (_routes.TryAdd(key, route))
            {
                return key;
            }
        }
    }

    /// <summary>A fresh random key for a client, registered to its route.</summary>
    public (int ProcessId, int SecretKey) RegisterRandom(CancelRoute route)
    {
        while (true)
        {
            var processId = PeerId == 0 ? RandomNumberGenerator.GetInt32(1, int.MaxValue)
                : (PeerId << RandomProcessBits) | RandomNumberGenerator.GetInt32(0, 1 << RandomProcessBits);
            var key = (processId, RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue));
            if (_routes.TryAdd(key, route))
            {
                return key;
            }
        }
    }

    public void Unregister(int processId, int secretKey) => _routes.TryRemove((processId, secretKey), out _);

    public CancelRoute? Find(int processId, int secretKey) => _routes.GetValueOrDefault((processId, secretKey));
}

/// <summary>A client's request that may be queued for a server connection, which a cancel withdraws.</summary>
internal interface IQueuedRequest
{
    /// <summary>Withdraws the request from its pool's queue; false when it is not queued.</summary>
    bool Withdraw();
}

/// <summary>The server connection to cancel: where it is and its own key.</summary>
internal sealed record CancelTarget(ServerEndpoint Endpoint, int ProcessId, int SecretKey);

/// <summary>
/// Where a client's cancel goes: the server connection it holds right now, if any. While a cancel
/// is on its way the connection cannot be detached (and so cannot be lent to another client whose
/// query the late cancel would hit); once the last one is through, the connection's reader is woken
/// to give it back if it had to keep it. A cancel for a client that waits for a connection withdraws
/// its request (<see cref="CancelWait"/>); one for a client between transactions is ignored.
/// </summary>
internal sealed class CancelRoute
{
    /// <summary>The monitor of this route, which no other code locks: a Lock of its own would cost every client 40 bytes.</summary>
    private object Gate => this;
    private ServerConnection? _server;
    private int _inFlight;
    private bool _detachRefused;

    /// <summary>The client whose request a cancel withdraws from its pool's queue (set once the client has a pool).</summary>
    public IQueuedRequest? Queued { get; set; }

    /// <summary>Withdraws the client's request from its pool's queue; false when it is not queued.</summary>
    public bool CancelWait() => Queued?.Withdraw() == true;

    public void Attach(ServerConnection server)
    {
        lock (Gate)
        {
            _server = server;
        }
    }

    /// <summary>Detaches the connection unless a cancel is on its way to it.</summary>
    public bool TryDetach()
    {
        lock (Gate)
        {
            if (_inFlight > 0)
            {
                _detachRefused = true;
                return false;
            }

            _server = null;
            return true;
        }
    }

    /// <summary>The target of a cancel starting now, or null when the client holds no server connection.</summary>
    public CancelTarget? BeginCancel()
    {
        lock (Gate)
        {
            if (_server is not { } server)
            {
                return null;
            }

            _inFlight++;
            return new CancelTarget(server.Endpoint, server.ProcessId, server.SecretKey);
        }
    }

    public void EndCancel()
    {
        ServerConnection? wake = null;
        lock (Gate)
        {
            if (--_inFlight == 0 && _detachRefused)
            {
                _detachRefused = false;
                wake = _server;
            }
        }

        wake?.Socket.Input.CancelPendingRead(); // its reader judges again whether the connection may go back
    }
}
