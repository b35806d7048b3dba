using Akka.Actor;
using Akka.Cluster;
using Serilog;

namespace PgBouncerActors.Cluster;

/// <summary>
/// The cluster singleton that holds max_db_connections and max_user_connections for all
/// instances together (one of it in the cluster, on the oldest member; Akka.Cluster.Tools moves
/// it when that member leaves or is marked down). It knows every member's share of every budget
/// and grants one connection at a time from what is free: the shares never add up to more than
/// the limit. When nothing is free it asks the members holding some to give back what they do
/// not use. A singleton, not Akka.DistributedData: a counter that merges concurrent increments
/// converges, but it cannot refuse the one increment too many, and refusing it is the point.
/// <para>
/// A coordinator that just started (the first, or one taking over from a member that died) does
/// not know what the members hold, so it grants nothing until every member has reported. The
/// share of a member that is unreachable stays counted until the cluster marks it down and
/// removes it; then it is free again.
/// </para>
/// </summary>
internal sealed class BudgetCoordinatorActor : ReceiveActor, IWithTimers
{
    public const string Name = "budget-coordinator";

    private static readonly TimeSpan GiveBackAskInterval = TimeSpan.FromSeconds(1);

    private readonly ILogger _log;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly Dictionary<string, BudgetState> _budgets = [];
    private readonly HashSet<string> _members = [];
    private readonly HashSet<string> _awaitingReports = [];

    public BudgetCoordinatorActor(ILogger log)
    {
        _log = log;
        Receive<ClusterEvent.CurrentClusterState>(state =>
        {
            foreach (var member in state.Members.Where(member => member.Status is MemberStatus.Up or MemberStatus.Leaving or MemberStatus.Exiting))
            {
                var address = member.Address.ToString();
                _members.Add(address);
                _awaitingReports.Add(address);
            }

            AskForReports();
        });
        Receive<ClusterEvent.MemberUp>(up => _members.Add(up.Member.Address.ToString())); // new: it holds nothing yet
        Receive<ClusterEvent.MemberRemoved>(removed => OnMemberRemoved(removed.Member.Address.ToString()));
        Receive<ClusterEvent.IMemberEvent>(_ => { }); // joining, leaving, exiting: the share stays counted until removed
        Receive<Holdings>(OnHoldings);
        Receive<WantConnection>(OnWant);
        Receive<GaveBack>(OnGaveBack);
        Receive<DescribeShares>(_ => Sender.Tell(new SharesDescribed(_budgets
            .SelectMany(budget => budget.Value.Shares.Select(share => new Share(share.Key, budget.Key, budget.Value.Limit, share.Value.Granted, share.Value.Used)))
            .OrderBy(share => share.Budget).ThenBy(share => share.Member).ToList()), Self));
        Receive<AskAgain>(_ => AskForReports());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ILogger log) => Akka.Actor.Props.Create(() => new BudgetCoordinatorActor(log));

    private bool Ready => _awaitingReports.Count == 0;

    protected override void PreStart()
    {
        _log.Information("budget coordinator started on {Address}", _cluster.SelfAddress);
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.IMemberEvent));
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private static ActorSelection AgentOf(string member) =>
        Context.ActorSelection(new RootActorPath(Address.Parse(member)) / "user" / BudgetAgentActor.Name);

    private void AskForReports()
    {
        foreach (var member in _awaitingReports)
        {
            AgentOf(member).Tell(ReportHoldings.Instance, Self);
        }

        if (!Ready)
        {
            Timers.StartSingleTimer("reports", AskAgain.Instance, TimeSpan.FromSeconds(1)); // a report lost, or an agent not started yet
        }
    }

    private void OnHoldings(Holdings holdings)
    {
        if (!_members.Contains(holdings.Member))
        {
            return; // a late report of a member already removed: what it held went with it
        }

        foreach (var holding in holdings.Budgets)
        {
            var budget = BudgetOf(holding.Budget, holding.Limit);
            budget.Shares[holdings.Member] = (Math.Max(holding.Granted, 0), holding.Used);
        }

        if (_awaitingReports.Remove(holdings.Member) && Ready)
        {
            _log.Information("budget coordinator: every member reported, granting");
            GrantToAllWaiting();
        }
    }

    private void GrantToAllWaiting()
    {
        foreach (var name in _budgets.Keys.ToList())
        {
            GrantToWaiting(name);
        }
    }

    private void OnWant(WantConnection want)
    {
        if (!_members.Contains(want.Member))
        {
            return; // not (or no longer) a member: whatever it holds went with it
        }

        var budget = BudgetOf(want.Budget, want.Limit);
        var share = budget.Shares.GetValueOrDefault(want.Member);
        budget.Shares[want.Member] = (share.Granted, want.Used);
        if (!budget.Waiting.Contains(want.Member))
        {
            budget.Waiting.Add(want.Member);
        }

        if (Ready)
        {
            GrantToWaiting(want.Budget);
        }
    }

    private void OnGaveBack(GaveBack gave)
    {
        if (_budgets.TryGetValue(gave.Budget, out var budget) && budget.Shares.TryGetValue(gave.Member, out var share))
        {
            budget.Shares[gave.Member] = (Math.Max(share.Granted - gave.Count, 0), gave.Used);
            if (Ready)
            {
                GrantToWaiting(gave.Budget);
            }
        }
    }

    private void OnMemberRemoved(string member)
    {
        _members.Remove(member);
        var wasAwaited = _awaitingReports.Remove(member);
        foreach (var (name, budget) in _budgets)
        {
            if (budget.Shares.Remove(member, out var share) && share.Granted > 0)
            {
                _log.Information("budget coordinator: {Member} left the cluster; its {Count} connection(s) of {Budget} are free again", member, share.Granted, name);
            }

            budget.Waiting.Remove(member);
        }

        if (Ready)
        {
            if (wasAwaited)
            {
                _log.Information("budget coordinator: every member reported, granting");
            }

            GrantToAllWaiting(); // its share is free for whoever waits
        }
    }

    /// <summary>One connection at a time, first come first served: a member still wanting asks again and queues behind the others.</summary>
    private void GrantToWaiting(string name)
    {
        var budget = _budgets[name];
        while (budget.Waiting.Count > 0 && budget.Free > 0)
        {
            var member = budget.Waiting[0];
            budget.Waiting.RemoveAt(0);
            var share = budget.Shares.GetValueOrDefault(member);
            budget.Shares[member] = (share.Granted + 1, share.Used);
            AgentOf(member).Tell(new ConnectionGranted(name), Self);
        }

        if (budget.Waiting.Count > 0 && DateTime.UtcNow - budget.GiveBackAskedAt > GiveBackAskInterval)
        {
            // Nothing free and someone waits: the limit is split evenly over those that hold or want some.
            budget.GiveBackAskedAt = DateTime.UtcNow;
            var contenders = budget.Shares.Where(share => share.Value.Granted > 0).Select(share => share.Key).Union(budget.Waiting).Count();
            var fairShare = Math.Max(1, (budget.Limit + contenders - 1) / contenders);
            foreach (var (member, share) in budget.Shares)
            {
                if (share.Granted > 0 && !budget.Waiting.Contains(member) || share.Granted > fairShare)
                {
                    AgentOf(member).Tell(new GiveBack(name, fairShare), Self);
                }
            }
        }
    }

    private BudgetState BudgetOf(string name, int limit)
    {
        if (!_budgets.TryGetValue(name, out var budget))
        {
            budget = new BudgetState();
            _budgets[name] = budget;
        }

        budget.Limit = limit; // the latest word: every instance should have the same, and a reload may change it
        return budget;
    }

    private sealed class BudgetState
    {
        public int Limit { get; set; }
        public Dictionary<string, (int Granted, int Used)> Shares { get; } = [];
        public List<string> Waiting { get; } = [];
        public DateTime GiveBackAskedAt { get; set; }
        public int Free => Limit - Shares.Values.Sum(share => share.Granted);
    }

    private sealed record AskAgain
    {
        public static readonly AskAgain Instance = new();
    }
}
