using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Backend;

/// <summary>A CancelRequest to a server, on a connection of its own, as PostgreSQL takes them.</summary>
internal static class ServerCancel
{
    /// <summary>Sends the server's own key for one of its backends and waits until the server has read it (it closes the connection then).</summary>
    public static async Task SendAsync(ServerEndpoint endpoint, int processId, int secretKey, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        await using var server = await PgSocket.ConnectAsync(endpoint.Host, endpoint.Port, deadline.Token).ConfigureAwait(false);
        await server.SendAsync(new MessageBuilder().CancelRequest(processId, secretKey), deadline.Token).ConfigureAwait(false);
        await server.Input.ReadAsync(deadline.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// The cancel of a client whose route was found (<see cref="CancelRoute.BeginCancel"/>): the
    /// server's own key goes out, and the route's connection may be lent again only after that.
    /// </summary>
    public static async Task SendForAsync(Auth.CancelRoute route, Auth.CancelTarget target)
    {
        try
        {
            await SendAsync(target.Endpoint, target.ProcessId, target.SecretKey, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        finally
        {
            route.EndCancel();
        }
    }
}
