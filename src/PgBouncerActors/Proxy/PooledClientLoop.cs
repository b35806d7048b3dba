using System.IO.Pipelines;
using PgBouncerActors.Auth;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Client to server in transaction and statement modes. Between transactions the client holds no
/// server connection, or keeps a parked one: the first bytes of its next request take the parked
/// connection up again, or make the loop ask the session for one (the request stays unread in the
/// pipe meanwhile, so nothing is lost or sent twice), then the frames flow as in session mode.
/// <para>
/// Each read is claimed under the link's gate (the server is there, the bytes are marked as
/// on their way, the tracker has them), then written and flushed outside it: a flush that waits
/// on a server busy sending results never holds up the server loop, which forwards those results.
/// </para>
/// </summary>
internal static class PooledClientLoop
{
    /// <param name="acquireServer">Asks the session for a server connection and completes once <see cref="ServerLinkState.Server"/> is set.</param>
    public static async Task<ForwardEnd> RunAsync(PipeReader source, ServerLinkState link, IFrameInspector inspector, long maxFrameLength,
        CancelRoute cancelRoute, Func<CancellationToken, Task> acquireServer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await source.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                source.AdvanceTo(buffer.Start);
                return ForwardEnd.Cancelled;
            }

            if (link.Server is null && link.ToServer.AtFrameBoundary)
            {
                // Between transactions: look at what arrived, consuming nothing.
                if (!FrameReader.TryReadHeader(buffer, maxFrameLength, out var code, out var length))
                {
                    source.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        return buffer.IsEmpty ? ForwardEnd.SourceClosed : throw new TruncatedFrameException(buffer.Length);
                    }

                    continue; // half a header: wait for the rest
                }

                source.AdvanceTo(buffer.Start);
                if (code == (byte)FrontendMessageCode.Terminate)
                {
                    return ForwardEnd.Stopped; // goodbye without a lease
                }

                if (FrontendMessageRules.Refusal(code, length, link.RefuseSimpleQuery) is { } refusal)
                {
                    link.ClientViolation = PgError.FatalError(SqlStates.ProtocolViolation, refusal);
                    return ForwardEnd.Stopped; // refused without taking a server connection for it
                }

                if (!TryUnpark(link, cancelRoute))
                {
                    await acquireServer(cancellationToken).ConfigureAwait(false);
                }

                continue; // read again: the same bytes, now with a server to send them to
            }

            PipeWriter output;
            ForwardedRead forwarded;
            lock (link.Gate)
            {
                if (link.Server is not { } server)
                {
                    source.AdvanceTo(buffer.Start); // released meanwhile: lease again for these bytes
                    continue;
                }

                output = server.Socket.Output;
                forwarded = FrameForwarder.Copy(source, result, output, inspector, maxFrameLength, link.ToServer);
                link.Writing = forwarded.Written > 0;
            }

            if (forwarded.Written > 0 && await FlushAsync(link, output, cancellationToken).ConfigureAwait(false) is { } closed)
            {
                return closed;
            }

            if (FrameForwarder.EndOf(result, forwarded, link.ToServer) is { } end)
            {
                return end;
            }
        }
    }

    /// <summary>Flushes one read's bytes to the server, then lets the server loop look again if it found the link settled meanwhile.</summary>
    private static async ValueTask<ForwardEnd?> FlushAsync(ServerLinkState link, PipeWriter output, CancellationToken cancellationToken)
    {
        var done = false;
        try
        {
            var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            done = !flushed.IsCompleted;
            return flushed.IsCompleted ? ForwardEnd.DestinationClosed : null;
        }
        finally
        {
            lock (link.Gate)
            {
                link.Writing = false;
                link.WriteBroken |= !done;
                if (link.ReleaseDeferred)
                {
                    // What went out may have been answered already, or need no answer: the server loop must judge again.
                    link.ReleaseDeferred = false;
                    link.Server?.Socket.Input.CancelPendingRead();
                }
            }
        }
    }

    /// <summary>The fast path: the connection kept from the last transaction serves this one, without asking the pool.</summary>
    private static bool TryUnpark(ServerLinkState link, CancelRoute cancelRoute)
    {
        if (link.TryTakeParked() is not { } parked)
        {
            return false; // none kept, taken back for the pool, or it spoke while parked
        }

        cancelRoute.Attach(parked);
        return true;
    }
}
