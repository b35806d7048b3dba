namespace PgBouncerActors.Cluster;

// Messages between the instances of a cluster travel over Akka.Remote and are serialized: members
// are named by their address's text, never by Akka's Address object, and every field is plain data.

/// <summary>A session got a cancel request whose key another instance handed out: the peers actor forwards it there.</summary>
internal sealed record ForwardCancel(int PeerId, int ProcessId, int SecretKey);

/// <summary>From another instance's peers actor: a cancel request for a client of this one.</summary>
internal sealed record PeerCancel(int ProcessId, int SecretKey);

/// <summary>SHOW PEERS and SHOW CLUSTER ask the peers actor for the members it sees.</summary>
internal sealed record DescribePeers
{
    public static readonly DescribePeers Instance = new();
}

/// <param name="Address">The member's cluster address (akka.tcp://pgbouncer-actors@host:port).</param>
/// <param name="PeerId">Its peer_id, from its role; 0 when it has none (not a pooler).</param>
/// <param name="Status">Akka's member status, lower case: joining, up, leaving, exiting, down, removed.</param>
internal sealed record PeerRow(string Address, string Host, int Port, int PeerId, string Status, bool Reachable, bool IsSelf);

internal sealed record PeersDescribed(IReadOnlyList<PeerRow> Peers, string? Coordinator);

/// <summary>A budget (max_db_connections of a database, max_user_connections of a user) says it needs more of the cluster's limit.</summary>
internal sealed record BudgetWanted(string Budget);

/// <summary>Agent to coordinator: this member wants one more connection of a budget (<paramref name="Used"/> is what it has open now).</summary>
internal sealed record WantConnection(string Budget, int Limit, string Member, int Used);

/// <summary>Coordinator to agent: one more connection of the budget for this member.</summary>
internal sealed record ConnectionGranted(string Budget);

/// <summary>
/// Coordinator to agents: another member waits for the budget and none is left. Give back what is
/// idle, and a member holding more than <paramref name="FairShare"/> (the limit split over the
/// members that hold or want some) closes connections as they come back until it holds no more.
/// </summary>
internal sealed record GiveBack(string Budget, int FairShare);

/// <summary>Agent to coordinator: this member's share of the budget is <paramref name="Count"/> smaller.</summary>
internal sealed record GaveBack(string Budget, string Member, int Count, int Used);

/// <summary>A coordinator that just started asks every member what it holds before it grants anything.</summary>
internal sealed record ReportHoldings
{
    public static readonly ReportHoldings Instance = new();
}

internal sealed record Holding(string Budget, int Limit, int Granted, int Used);

internal sealed record Holdings(string Member, IReadOnlyList<Holding> Budgets);

/// <summary>SHOW CLUSTER asks the coordinator for every member's share.</summary>
internal sealed record DescribeShares
{
    public static readonly DescribeShares Instance = new();
}

internal sealed record Share(string Member, string Budget, int Limit, int Granted, int Used);

internal sealed record SharesDescribed(IReadOnlyList<Share> Shares);
