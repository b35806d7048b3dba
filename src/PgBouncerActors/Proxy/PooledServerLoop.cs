using System.IO.Pipelines;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Server to client in transaction and statement modes: forwards until a read that leaves the
/// server settled (everything answered, idle, see <see cref="ProtocolTracker"/>), then, if the
/// connection is clean (invariant 3) and no cancel is on its way to it, either parks it (nobody
/// else wants a connection: the client keeps it for its next transaction) or gives it back. A
/// request that went out meanwhile keeps the lease going.
/// </summary>
internal static class PooledServerLoop
{
    /// <param name="tryPark">Called under the gate once the connection is free; parks it (<see cref="ServerLinkState.Park"/>) and answers its wake token, or null to give it back.</param>
    /// <param name="parkedWake">The session parked the connection before any transaction (the one its login borrowed): its wake token.</param>
    public static async Task<ForwardEnd> RunAsync(ServerConnection server, PipeWriter client, ServerToClientInspector inspector,
        ServerLinkState link, CancelRoute cancelRoute, Func<ServerConnection, CancellationToken?> tryPark, CancellationToken? parkedWake,
        long maxFrameLength, CancellationToken cancellationToken)
    {
        var wake = parkedWake;
        while (true)
        {
            if (wake is { } parked && await WaitWhileParkedAsync(server, link, parked).ConfigureAwait(false) is { } parkedEnd)
            {
                return parkedEnd;
            }

            var end = await FrameForwarder.RunAsync(server.Socket.Input, client, inspector, maxFrameLength, link.ToClient, cancellationToken)
                .ConfigureAwait(false);
            if (inspector.RefusedTransactionBlock || end is not (ForwardEnd.Stopped or ForwardEnd.Cancelled) ||
                (end == ForwardEnd.Cancelled && link.Stopping))
            {
                return end;
            }

            // Stopped after a settled read, or woken by the client loop once its bytes were out: try to give the connection back.
            switch (await TryReleaseAsync(server, link, cancelRoute, tryPark, cancellationToken).ConfigureAwait(false))
            {
                case (true, null):
                    return ForwardEnd.Released;
                case (true, { } token):
                    wake = token;
                    break;
                default:
                    wake = null;
                    break;
            }
        }
    }

    /// <returns>(false, _) when kept: a request went out meanwhile, bytes are on their way, or the session is stopping.</returns>
    private static async Task<(bool Released, CancellationToken? ParkedWake)> TryReleaseAsync(ServerConnection server, ServerLinkState link,
        CancelRoute cancelRoute, Func<ServerConnection, CancellationToken?> tryPark, CancellationToken cancellationToken)
    {
        while (true)
        {
            await cancelRoute.WhenNoCancelInFlight().WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (link.Gate)
            {
                if (link.Stopping || !link.Tracker.IsSettled)
                {
                    return (false, null);
                }

                if (link.Writing)
                {
                    link.ReleaseDeferred = true; // the client loop wakes us once its bytes are out
                    return (false, null);
                }

                if (!link.IsClean)
                {
                    return (false, null);
                }

                if (cancelRoute.TryDetach())
                {
                    link.Server = null;
                    return (true, tryPark(server));
                }
            }
        }
    }

    /// <summary>
    /// Waits on a parked connection without reading it, until the client takes it up again (then
    /// forwarding goes on), the session takes it back for the pool or stops, or the server sends
    /// something or closes between transactions (then it is lost: nobody may use it again).
    /// </summary>
    /// <returns>How the loop ends, or null when the client took the connection up again.</returns>
    private static async Task<ForwardEnd?> WaitWhileParkedAsync(ServerConnection server, ServerLinkState link, CancellationToken wake)
    {
        do
        {
            try
            {
                await server.Socket.WaitForInputAsync(wake).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (wake.IsCancellationRequested)
            {
                // taken back for the pool, or the session stops
            }
        }
        while (!wake.IsCancellationRequested && link.StillParkedAndSilent());

        return link.EndParkedWait() switch
        {
            ParkOutcome.TakenByClient => null, // the client's request went out; what arrived is its answer
            ParkOutcome.TakenBack => ForwardEnd.Released,
            ParkOutcome.Stopped => ForwardEnd.Cancelled,
            _ => ForwardEnd.ParkedConnectionLost,
        };
    }
}
