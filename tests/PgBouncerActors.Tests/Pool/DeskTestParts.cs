using System.Collections.Concurrent;
using PgBouncerActors.Backend;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Tests.Shared;

namespace PgBouncerActors.Tests.Pool;

/// <summary>A desk's supervisor as specs see it: what the desk told it, in order.</summary>
internal sealed class RecordingDeskOwner : IDeskOwner
{
    private int _demandSignals;

    public int DemandSignals => Volatile.Read(ref _demandSignals);

    public ConcurrentQueue<(ServerConnection Connection, string Reason, bool CancelFirst)> Closed { get; } = new();

    public ConcurrentQueue<ServerConnection> Resets { get; } = new();

    public void DemandUnmet() => Interlocked.Increment(ref _demandSignals);

    public void Close(ServerConnection connection, string reason, bool cancelFirst) => Closed.Enqueue((connection, reason, cancelFirst));

    public void Reset(ServerConnection connection) => Resets.Enqueue(connection);
}

/// <summary>
/// Server connections for desk specs. The desk never touches a connection's socket, so they share
/// one real loopback socket (a connection cannot be made without one) and differ by their number.
/// </summary>
internal sealed class DeskConnections : IDisposable
{
    private readonly PgSocket _socket;
    private readonly System.Net.Sockets.Socket _peer;
    private int _next;

    public DeskConnections() => (_socket, _peer) = LoopbackSockets.Connect();

    /// <summary>A logged-in connection the desk has not seen yet; its process id is its number.</summary>
    public ServerConnection Next() =>
        new(_socket, new ServerEndpoint("127.0.0.1", 5432, "app"), "alice", 1 << 20) { ProcessId = Interlocked.Increment(ref _next) };

    public void Dispose()
    {
        _socket.Abort();
        _peer.Dispose();
    }
}

/// <summary>A monotonic clock that moves only when a spec moves it.</summary>
internal sealed class ManualClock
{
    private long _ticks;

    public TimeSpan Now => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
