using Akka.Actor;
using Akka.Cluster.Tools.Singleton;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Cluster;

/// <summary>
/// Turns pgbouncer-actors.cluster into Akka.Cluster's settings and starts the cluster's actors.
/// Without seed nodes none of this runs: the actor system stays local (no remoting, no
/// heartbeats) and nothing on the path of a query changes.
/// </summary>
internal static class PoolerCluster
{
    /// <summary>The actor system's name, part of every member's address (akka.tcp://pgbouncer-actors@host:port).</summary>
    public const string SystemName = "pgbouncer-actors";

    /// <summary>Akka settings for a member of the cluster; empty for a single instance.</summary>
    public static string Hocon(PoolerSettings settings)
    {
        var cluster = settings.Cluster;
        if (!cluster.Enabled)
        {
            return "";
        }

        var seeds = string.Join(", ", cluster.SeedNodes.Select(seed => Quoted($"akka.tcp://{SystemName}@{seed}")));
        // Split-brain resolver, keep-majority: an instance that stops answering is marked down by the
        // side that still holds a majority, after down_after without change, and its shares come back.
        return $$"""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = {{Quoted(cluster.Hostname)}}, port = {{cluster.Port}} }
            akka.cluster {
              seed-nodes = [{{seeds}}]
              roles = [{{Quoted(PeersActor.RoleOf(settings.PeerId))}}]
              downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
              split-brain-resolver { active-strategy = keep-majority, stable-after = {{cluster.DownAfter.TotalMilliseconds:0}}ms }
            }
            """;
    }

    private static string Quoted(string text) => System.Text.Json.JsonSerializer.Serialize(text);

    /// <summary>The peers actor (cancel forwarding, SHOW PEERS), the budget coordinator (a singleton) and this instance's budget agent.</summary>
    public static void Start(ActorSystem system, PoolerServices services)
    {
        if (!services.Settings.Cluster.Enabled)
        {
            return;
        }

        system.Settings.InjectTopLevelFallback(ClusterSingleton.DefaultConfig());
        services.Peers = system.ActorOf(PeersActor.Props(services), PeersActor.Name);
        system.ActorOf(ClusterSingletonManager.Props(BudgetCoordinatorActor.Props(services.Log), PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(system)), BudgetCoordinatorActor.Name);
        var coordinator = system.ActorOf(ClusterSingletonProxy.Props($"/user/{BudgetCoordinatorActor.Name}", ClusterSingletonProxySettings.Create(system)),
            BudgetCoordinatorActor.Name + "-proxy");
        services.Budgets = system.ActorOf(BudgetAgentActor.Props(coordinator), BudgetAgentActor.Name);
        services.BudgetCoordinator = coordinator;
    }
}
