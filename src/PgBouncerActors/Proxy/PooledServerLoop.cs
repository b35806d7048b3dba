using System.IO.Pipelines;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Server to client in transaction and statement modes: forwards until a ReadyForQuery that may
/// end the lease, then, if the connection is clean (invariant 3) and no cancel is on its way to
/// it, either parks it (nobody else wants a connection: the client keeps it for its next
/// transaction) or gives it back. A request that arrived meanwhile keeps the lease going.
/// </summary>
internal static class PooledServerLoop
{
    /// <param name="tryPark">Called under the gate once the connection is free; parks it (sets <see cref="ServerLinkState.Parked"/>) and answers true, or answers false to give it back.</param>
    /// <param name="startParked">The session parked the connection before any transaction (the one its login borrowed).</param>
    public static async Task<ForwardEnd> RunAsync(ServerConnection server, PipeWriter client, ServerToClientInspector inspector,
        ServerLinkState link, CancelRoute cancelRoute, Func<ServerConnection, bool> tryPark, bool startParked, long maxFrameLength,
        CancellationToken cancellationToken)
    {
        var parked = startParked;
        while (true)
        {
            if (parked)
            {
                if (await WaitWhileParkedAsync(server, link, cancellationToken).ConfigureAwait(false) is { } parkedEnd)
                {
                    return parkedEnd;
                }
            }

            var end = await FrameForwarder.RunAsync(server.Socket.Input, client, inspector, maxFrameLength, link.ToClient, cancellationToken)
                .ConfigureAwait(false);
            if (end != ForwardEnd.Stopped || inspector.RefusedTransactionBlock)
            {
                return end;
            }

            switch (await TryReleaseAsync(server, link, cancelRoute, tryPark, cancellationToken).ConfigureAwait(false))
            {
                case Release.Released:
                    return ForwardEnd.Released;
                case Release.Parked:
                    parked = true;
                    break;
                default:
                    parked = false;
                    break;
            }
        }
    }

    private enum Release
    {
        KeptForNextRequest,
        Parked,
        Released,
    }

    /// <summary>Kept when the client sent a new request meanwhile (the lease goes on) or the session is stopping.</summary>
    private static async Task<Release> TryReleaseAsync(ServerConnection server, ServerLinkState link, CancelRoute cancelRoute,
        Func<ServerConnection, bool> tryPark, CancellationToken cancellationToken)
    {
        while (true)
        {
            await cancelRoute.WhenNoCancelInFlight().WaitAsync(cancellationToken).ConfigureAwait(false);
            await link.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (link.Stopping || !link.IsClean)
                {
                    return Release.KeptForNextRequest;
                }

                if (cancelRoute.TryDetach())
                {
                    link.Server = null;
                    return tryPark(server) ? Release.Parked : Release.Released;
                }
            }
            finally
            {
                link.Gate.Release();
            }
        }
    }

    /// <summary>
    /// Waits on a parked connection until the client takes it up again (then forwarding goes on),
    /// the session takes it back for the pool or stops (a cancelled read), or the server sends
    /// something or closes between transactions (then it is lost: nobody may use it again).
    /// </summary>
    /// <returns>How the loop ends, or null when the client took the connection up again.</returns>
    private static async Task<ForwardEnd?> WaitWhileParkedAsync(ServerConnection server, ServerLinkState link, CancellationToken cancellationToken)
    {
        var input = server.Socket.Input;
        var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
        input.AdvanceTo(result.Buffer.Start); // nothing consumed: a request's answer is forwarded from the start
        await link.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (result.IsCanceled)
            {
                // Only the session cancels this read: to stop, or after taking the parked connection back for the pool.
                return link.Stopping ? ForwardEnd.Cancelled : ForwardEnd.Released;
            }

            if (link.Server == server)
            {
                return null; // the client's request went out; this is its answer
            }

            link.Parked = null;
            return ForwardEnd.ParkedConnectionLost;
        }
        finally
        {
            link.Gate.Release();
        }
    }
}
