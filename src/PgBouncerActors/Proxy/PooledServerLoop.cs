using System.IO.Pipelines;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Server to client for one lease in transaction and statement modes: forwards until a
/// ReadyForQuery that may end the lease, then gives the connection back if it is clean
/// (invariant 3) and no cancel is on its way to it; otherwise forwards on.
/// </summary>
internal static class PooledServerLoop
{
    public static async Task<ForwardEnd> RunAsync(ServerConnection server, PipeWriter client, ServerToClientInspector inspector,
        ServerLinkState link, CancelRoute cancelRoute, long maxFrameLength, CancellationToken cancellationToken)
    {
        while (true)
        {
            var end = await FrameForwarder.RunAsync(server.Socket.Input, client, inspector, maxFrameLength, link.ToClient, cancellationToken)
                .ConfigureAwait(false);
            if (end != ForwardEnd.Stopped || inspector.RefusedTransactionBlock)
            {
                return end;
            }

            if (await TryReleaseAsync(link, cancelRoute, cancellationToken).ConfigureAwait(false))
            {
                return ForwardEnd.Released;
            }
        }
    }

    /// <summary>False when the client sent a new request meanwhile (the lease goes on) or the session is stopping.</summary>
    private static async Task<bool> TryReleaseAsync(ServerLinkState link, CancelRoute cancelRoute, CancellationToken cancellationToken)
    {
        while (true)
        {
            await cancelRoute.WhenNoCancelInFlight().WaitAsync(cancellationToken).ConfigureAwait(false);
            await link.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (link.Stopping || !link.IsClean)
                {
                    return false;
                }

                if (cancelRoute.TryDetach())
                {
                    link.Server = null;
                    return true;
                }
            }
            finally
            {
                link.Gate.Release();
            }
        }
    }
}
