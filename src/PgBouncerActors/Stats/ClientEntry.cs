using System.Diagnostics;
using Akka.Actor;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Stats;

/// <summary>
/// A logged-in client as the admin console shows it (SHOW CLIENTS) and counts it (SHOW POOLS,
/// SHOW STATS). Made once per login; its changing parts are written by the session and read by
/// whoever asks.
/// </summary>
internal sealed class ClientEntry(long id, IActorRef session, string database, string user, string remoteAddress, string localAddress,
    string applicationName, string tls = "", Metrics.PoolHistograms? histograms = null)
{
    private volatile ClientLink? _link;
    private long _waitingSince; // Stopwatch timestamp; 0: not waiting

    /// <summary>The session's number, shown as its ptr and taken by KILL_CLIENT.</summary>
    public long Id { get; } = id;

    public IActorRef Session { get; } = session;

    public string Database { get; } = database;

    public string User { get; } = user;

    /// <summary>host:port of the client.</summary>
    public string RemoteAddress { get; } = remoteAddress;

    /// <summary>host:port the client connected to.</summary>
    public string LocalAddress { get; } = localAddress;

    public string ApplicationName { get; } = applicationName;

    /// <summary>SHOW CLIENTS replication, PgBouncer's words: none, logical or physical.</summary>
    public string Replication { get; set; } = "none";

    /// <summary>The TLS protocol and cipher of its connection (SHOW CLIENTS tls); empty over plaintext.</summary>
    public string Tls { get; } = tls;

    public DateTime ConnectedAt { get; } = DateTime.UtcNow;

    public TrafficCounters Counters { get; } = new(histograms);

    /// <summary>The client's link to its server connections, once it proxies (its byte counts and the connection it holds).</summary>
    public ClientLink? Link
    {
        get => _link;
        set => _link = value;
    }

    public bool Waiting => Volatile.Read(ref _waitingSince) != 0;

    /// <summary>
    /// The client said goodbye (or is being closed): no list shows it any more, though its session
    /// may still be winding its I/O down and its traffic still counts in its pool's totals until it leaves.
    /// </summary>
    public bool Gone => _gone;

    private volatile bool _gone;

    /// <summary>Thread-safe: the client loop calls it the moment it reads the goodbye.</summary>
    public void SaidGoodbye() => _gone = true;

    /// <summary>How long it has waited for a server connection so far (zero when not waiting).</summary>
    public TimeSpan WaitedSoFar => Volatile.Read(ref _waitingSince) is var since and not 0 ? Stopwatch.GetElapsedTime(since) : TimeSpan.Zero;

    /// <summary>The session asked its pool for a connection.</summary>
    public void StartedWaiting() => Interlocked.CompareExchange(ref _waitingSince, Stopwatch.GetTimestamp(), 0); // a retry keeps the first start

    /// <summary>The session got its connection (or stopped wanting one): the wait is counted.</summary>
    public void StoppedWaiting(bool served)
    {
        var since = Volatile.Read(ref _waitingSince);
        Volatile.Write(ref _waitingSince, 0);
        if (since != 0 && served)
        {
            Counters.Waited(Stopwatch.GetTimestamp() - since);
        }
    }

    public TrafficTotals Totals() => _link is { } link
        ? Counters.Read(link.ToServer.Forwarded, link.ToClient.Forwarded)
        : Counters.Read(0, 0);
}
