using PgBouncerActors.Backend;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Session;

/// <summary>How a session's I/O ended.</summary>
/// <param name="ReaderHeld">The server connection's reader stopped forwarding at a message boundary (false: it had to be cut off).</param>
/// <param name="Untold">Why the client could not be told the error it was to get (it was cut off instead); null when told, or nothing to tell.</param>
internal sealed record SessionIoEnded(bool ReaderHeld, string? Untold);

/// <summary>
/// The end of a session's I/O, run off the actor's thread with everything it touches passed in:
/// the link stops, the client loop ends, the reader of the connection in use stops at a message
/// boundary, and only then, with nobody else writing to the client, is the client told why; then
/// what the link held goes back to its pool, clean or not.
/// </summary>
internal static class SessionEnding
{
    /// <summary>How long a server's reader may take to stop, and how long the client loop to end (each once more after the client is cut off).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(2);

    /// <param name="pumps">The login's checkout and the client loop, whichever ran: both end with <paramref name="lifetime"/>.</param>
    /// <param name="answerFirst">
    /// The client broke the protocol after valid requests: as PostgreSQL, which answers those
    /// before it reads the bad message, let the server finish answering them first (briefly).
    /// </param>
    public static async Task<SessionIoEnded> StopIoAsync(PgSocket client, ClientLink? link, IReadOnlyList<Task> pumps, PgError? tellClient,
        bool answerFirst, CancellationTokenSource lifetime)
    {
        var patience = Environment.TickCount64 + 1000;
        while (answerFirst && link is { State: LinkState.Linked } && link.Tracker.AnswerComing && Environment.TickCount64 < patience)
        {
            await Task.Delay(5).ConfigureAwait(false);
        }

        var (was, server) = link?.Stop() ?? (LinkState.Free, null);
        await lifetime.CancelAsync().ConfigureAwait(false); // the client loop's read, a write to a server, a wait at the desk, an attach
        string? untold = null;
        var pumping = Task.WhenAll(pumps.Select(Quietly));
        if (!await EndsWithinAsync(pumping).ConfigureAwait(false))
        {
            untold = "its client loop did not stop";
            client.Abort();
            await EndsWithinAsync(pumping).ConfigureAwait(false);
        }

        var readerHeld = true;
        if (server is not null && was is LinkState.Linked or LinkState.Writing or LinkState.WritingReleaseWanted)
        {
            if (tellClient is null)
            {
                client.Abort(); // nothing to tell: a reader blocked on writing to a gone client must not hold us up
            }

            var held = link!.WhenReaderHoldsAsync();
            readerHeld = await EndsWithinAsync(held).ConfigureAwait(false);
            if (!readerHeld)
            {
                untold ??= "it stopped reading the server's answers";
                client.Abort(); // the client stopped reading: its session is over either way
                readerHeld = await EndsWithinAsync(held).ConfigureAwait(false);
            }
        }

        if (tellClient is not null && (link is null || link.ToClient.AtFrameBoundary))
        {
            // Nobody reads the client any more: linger for a client still writing, so it reads the error.
            await client.CloseWithAsync(tellClient.ToErrorResponse(), lingerForPeer: true).ConfigureAwait(false);
        }
        else
        {
            untold ??= tellClient is null ? null : "it was in the middle of a message from the server";
            client.Abort();
        }

        return new SessionIoEnded(readerHeld, tellClient is null ? null : untold);
    }

    /// <summary>
    /// Hands the connection the stopped link held to its pool: back to the desk when clean (after
    /// server_reset_query in session mode), else to be closed, after a cancel when the server may
    /// still be working for the client. Once: a second call finds nothing.
    /// </summary>
    /// <param name="serverGone">The server closed or said FATAL: nothing to cancel.</param>
    public static void GiveBack(ClientLink link, bool sessionMode, bool readerHeld, bool serverGone)
    {
        if (link.TakeServerAfterStop() is not { } server || link.Desk is not { } desk)
        {
            return;
        }

        if (server.Replication is not null)
        {
            desk.Retire(server, "replication client disconnected"); // PgBouncer's words: it was this client's alone, and its WAL stream ends with it
            return;
        }

        serverGone |= link.FatalAfterTransaction is not null; // it said FATAL after the client's last transaction
        var clean = readerHeld && !serverGone && !server.Socket.IsClosed && server.ReaderEnded is null && link.IsClean;
        if (!clean)
        {
            var busy = !serverGone && (link.Tracker.Awaiting > 0 || link.Tracker.LostTrack || link.WriteBroken || !readerHeld);
            desk.Retire(server, readerHeld ? $"its client left it {link.DescribeState()}" : "its client left it while the server was still sending",
                cancelFirst: busy);
        }
        else if (sessionMode)
        {
            server.CarriedSettings = null; // a session's own SETs are not followed: the next client compares every setting
            desk.ReturnForReset(server);
        }
        else
        {
            desk.CheckIn(server);
            server.ResumeReading();
        }
    }

    /// <summary>
    /// Whether <paramref name="task"/> ends within <see cref="Patience"/>. Most sessions end with
    /// their loops already stopped: no timer is made for those (one per session end, left to fire
    /// two seconds later, cost every connect-per-transaction client a timer and a wake).
    /// </summary>
    private static async ValueTask<bool> EndsWithinAsync(Task task)
    {
        if (task.IsCompleted)
        {
            return true;
        }

        using var patience = new CancellationTokenSource();
        var ended = await Task.WhenAny(task, Task.Delay(Patience, patience.Token)).ConfigureAwait(false) == task;
        await patience.CancelAsync().ConfigureAwait(false); // its timer goes now, not two seconds later
        return ended;
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // the outcome was already reported by the task's own completion message
        }
    }
}
