using System.IO.Pipelines;
using PgBouncerActors.Auth;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Client to server in transaction and statement modes. Between transactions the client holds no
/// server connection, or keeps a parked one: the first bytes of its next request take the parked
/// connection up again, or make the loop ask the session for one (the request stays unread in the
/// pipe meanwhile, so nothing is lost or sent twice), then the frames flow as in session mode. Each read is forwarded under the link's gate, so the server
/// loop cannot release the connection between the check and the write.
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
                if (!FrameReader.TryReadHeader(buffer, maxFrameLength, out var code, out _))
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

                if (!await TryUnparkAsync(link, cancelRoute, cancellationToken).ConfigureAwait(false))
                {
                    await acquireServer(cancellationToken).ConfigureAwait(false);
                }

                continue; // read again: the same bytes, now with a server to send them to
            }

            await link.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (link.Server is not { } server)
                {
                    source.AdvanceTo(buffer.Start); // released meanwhile: lease again for these bytes
                    continue;
                }

                if (await FrameForwarder.ForwardReadAsync(source, result, server.Socket.Output, inspector, maxFrameLength, link.ToServer,
                        cancellationToken).ConfigureAwait(false) is { } end)
                {
                    return end;
                }
            }
            finally
            {
                link.Gate.Release();
            }
        }
    }

    /// <summary>The fast path: the connection kept from the last transaction serves this one, without asking the pool.</summary>
    private static async Task<bool> TryUnparkAsync(ServerLinkState link, CancelRoute cancelRoute, CancellationToken cancellationToken)
    {
        if (link.Parked is null)
        {
            return false;
        }

        await link.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (link.Parked is not { } parked || link.Stopping)
            {
                return false; // taken back for the pool, or lost, meanwhile
            }

            link.Parked = null;
            cancelRoute.Attach(parked);
            link.Server = parked;
            return true;
        }
        finally
        {
            link.Gate.Release();
        }
    }
}
