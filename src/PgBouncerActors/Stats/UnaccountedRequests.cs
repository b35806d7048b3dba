using System.Diagnostics;

namespace PgBouncerActors.Stats;

/// <summary>
/// The watchdog's memory of the requests it found unaccounted for (no server connection, neither
/// queued for one nor waiting on the server). A single look proves nothing: a client served after
/// a long turn in the queue is unaccounted for the moment between the hand-over and its SET going
/// out, and its request is as old as its wait. So a request counts as stuck from the first look
/// that found it unaccounted, and only while every later look finds the same request unaccounted.
/// </summary>
internal sealed class UnaccountedRequests
{
    private readonly Dictionary<long, (long RequestSince, long FirstSeen)> _seen = [];

    /// <summary>One look at a client.</summary>
    /// <param name="requestSince">When its unaccounted request began (<see cref="Proxy.ClientLink.UnaccountedRequestSince"/>); zero when it has none.</param>
    /// <param name="now">The look's Stopwatch timestamp.</param>
    /// <returns>How long the request has been seen unaccounted for, without a look in between that found it accounted.</returns>
    public TimeSpan Look(long clientId, long requestSince, long now)
    {
        if (requestSince == 0)
        {
            _seen.Remove(clientId);
            return TimeSpan.Zero;
        }

        if (_seen.TryGetValue(clientId, out var seen) && seen.RequestSince == requestSince)
        {
            return Stopwatch.GetElapsedTime(seen.FirstSeen, now);
        }

        _seen[clientId] = (requestSince, now);
        return TimeSpan.Zero;
    }

    /// <summary>Clients that left are forgotten.</summary>
    public void KeepOnly(HashSet<long> present)
    {
        foreach (var clientId in _seen.Keys.Where(id => !present.Contains(id)).ToList())
        {
            _seen.Remove(clientId);
        }
    }
}
