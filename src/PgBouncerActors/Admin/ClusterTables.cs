using Akka.Actor;
using PgBouncerActors.Cluster;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Admin;

/// <summary>SHOW PEERS and SHOW CLUSTER: the instances of a cluster and their shares of the limits; empty tables for a single instance.</summary>
internal static class ClusterTables
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);

    /// <summary>PgBouncer's SHOW PEERS (peer_id, host, port), with what the cluster knows of each peer.</summary>
    public static async Task<ResultTable> PeersAsync(PoolerServices services, CancellationToken cancellationToken)
    {
        var table = new ResultTable("peer_id:int4", "host", "port:int4", "status", "reachable:int4", "self:int4");
        if (await GatherAsync(services, withShares: false, cancellationToken).ConfigureAwait(false) is { } view)
        {
            foreach (var peer in view.Peers.Peers)
            {
                table.Row(peer.PeerId, peer.Host, peer.Port, peer.Status, peer.Reachable, peer.IsSelf);
            }
        }

        return table;
    }

    /// <summary>
    /// Every member, and for each limited budget (db:name for max_db_connections, user:name for
    /// max_user_connections) its share and what it has open, as the coordinator knows them. When
    /// the coordinator cannot be asked (it is moving to another member), the share columns are null.
    /// </summary>
    public static async Task<ResultTable> ClusterAsync(PoolerServices services, CancellationToken cancellationToken)
    {
        var table = new ResultTable("member", "peer_id:int4", "status", "reachable:int4", "coordinator:int4", "budget", "limit:int4", "share:int4", "in_use:int4");
        if (await GatherAsync(services, withShares: true, cancellationToken).ConfigureAwait(false) is not { } view)
        {
            return table;
        }

        foreach (var peer in view.Peers.Peers)
        {
            var isCoordinator = peer.Address == view.Peers.Coordinator;
            var own = view.Shares?.Where(share => share.Member == peer.Address).ToList() ?? [];
            if (own.Count == 0)
            {
                table.Row(peer.Address, peer.PeerId, peer.Status, peer.Reachable, isCoordinator, null, null, null, null);
            }

            foreach (var share in own)
            {
                table.Row(peer.Address, peer.PeerId, peer.Status, peer.Reachable, isCoordinator, share.Budget, share.Limit, share.Granted, share.Used);
            }
        }

        return table;
    }

    /// <summary>What the peers actor sees and, when asked for, the coordinator's shares (null when it does not answer); null for a single instance.</summary>
    public static async Task<ClusterView?> GatherAsync(PoolerServices services, bool withShares, CancellationToken cancellationToken)
    {
        if (services.Peers is not { } peers || services.BudgetCoordinator is not { } coordinator)
        {
            return null;
        }

        var described = await peers.Ask<PeersDescribed>(DescribePeers.Instance, AskTimeout, cancellationToken).ConfigureAwait(false);
        if (!withShares)
        {
            return new ClusterView(described, null);
        }

        try
        {
            return new ClusterView(described,
                (await coordinator.Ask<SharesDescribed>(DescribeShares.Instance, AskTimeout, cancellationToken).ConfigureAwait(false)).Shares);
        }
        catch (AskTimeoutException)
        {
            return new ClusterView(described, null);
        }
    }
}

internal sealed record ClusterView(PeersDescribed Peers, IReadOnlyList<Share>? Shares);
