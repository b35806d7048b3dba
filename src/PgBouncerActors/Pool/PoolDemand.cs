using System.Collections.Concurrent;
using Akka.Actor;

namespace PgBouncerActors.Pool;

/// <summary>
/// What a pool shares with its sessions so that a transaction does not cost a round trip through
/// the pool when nobody else wants a connection. A session whose lease ends cleanly while no one
/// waits keeps ("parks") the connection, still lent to it in the pool's books, and its next
/// transaction uses it without a message. When sessions wait, the pool asks the parked ones for
/// their connections back (<see cref="ReleaseIfParked"/>).
/// <para>
/// The handshake that makes this safe: a session lists itself as parked and then reads
/// <see cref="Waiting"/>; the pool writes <see cref="Waiting"/> and then drains the list. Both
/// steps are full fences, so either the session sees the waiter (and releases instead of
/// parking) or the pool sees the parked session (and asks for its connection): a waiter never
/// waits on a connection nobody will give back.
/// </para>
/// </summary>
internal sealed class PoolDemand
{
    private readonly ConcurrentQueue<ParkTicket> _parked = new();
    private int _waiting;

    /// <summary>Sessions waiting in the pool's queue (written by the pool only).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public void PublishWaiting(int count) => Interlocked.Exchange(ref _waiting, count);

    /// <summary>A session is about to park; it is listed once until the pool drains the list.</summary>
    public void ListParked(ParkTicket ticket)
    {
        if (Interlocked.Exchange(ref ticket.Listed, 1) == 0)
        {
            _parked.Enqueue(ticket);
        }
    }

    /// <summary>Every session listed as parked since the last drain; some may have unparked or ended since.</summary>
    public IEnumerable<IActorRef> DrainParked()
    {
        while (_parked.TryDequeue(out var ticket))
        {
            Volatile.Write(ref ticket.Listed, 0); // before the ask: a session that parks again lists itself again
            yield return ticket.Session;
        }
    }
}

/// <summary>A session's entry in the parked list; one per session, listed at most once at a time.</summary>
internal sealed class ParkTicket(IActorRef session)
{
    public IActorRef Session { get; } = session;

    /// <summary>1 while listed.</summary>
    public int Listed;
}
