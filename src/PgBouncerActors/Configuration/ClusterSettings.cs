namespace PgBouncerActors.Configuration;

/// <summary>
/// pgbouncer-actors.cluster: several instances as one pooler over Akka.Cluster (README "Running
/// several instances"). No seed nodes: a single instance, and no cluster code runs at all.
/// </summary>
/// <param name="SeedNodes">host:port of the instances' cluster endpoints that a starting instance contacts to join.</param>
/// <param name="Hostname">The address this instance's cluster endpoint listens on and is known by.</param>
/// <param name="Port">This instance's cluster endpoint port (Akka.Remote over TCP).</param>
/// <param name="DownAfter">How long an unreachable instance may stay so before the others mark it down and take back its share of the limits.</param>
public sealed record ClusterSettings(IReadOnlyList<string> SeedNodes, string Hostname, int Port, TimeSpan DownAfter)
{
    public static readonly ClusterSettings None = new([], "127.0.0.1", 0, TimeSpan.FromSeconds(5));

    public bool Enabled => SeedNodes.Count > 0;
}
