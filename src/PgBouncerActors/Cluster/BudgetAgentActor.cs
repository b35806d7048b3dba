using Akka.Actor;
using PgBouncerActors.Pool;

namespace PgBouncerActors.Cluster;

/// <summary>How budgets are named between instances: the same database or user is the same budget everywhere.</summary>
internal static class BudgetNames
{
    public static string OfDatabase(string database) => "db:" + database;

    public static string OfUser(string user) => "user:" + user;
}

/// <summary>The pool registry made a budget that is a share of the cluster's limit.</summary>
internal sealed record RegisterBudget(string Name, ConnectionBudget Budget, IActorRef Registry);

/// <summary>A budget's share grew: the pools of its database (or user) try again to open what their waiters need.</summary>
internal sealed record BudgetGrew(string Budget);

/// <summary>
/// One per instance of a cluster (/user/budgets): keeps this instance's shares of the limited
/// budgets (max_db_connections, max_user_connections) in step with the budget coordinator, a
/// cluster singleton. It asks for one more connection when a pool is refused for want of share,
/// hands grants to the budget, and gives back what is not in use when the coordinator says
/// another instance waits, or after the share has sat unused for a while, so that idle capacity
/// moves to whoever needs it. A share only shrinks under the budget's lock, never below what is
/// open, so the instances together never hold more than the limit.
/// </summary>
internal sealed class BudgetAgentActor : ReceiveActor, IWithTimers
{
    public const string Name = "budgets";

    /// <summary>How long a budget keeps giving back after the coordinator asked: time for a pool's janitor to close an idle connection.</summary>
    private static readonly TimeSpan GiveBackWindow = TimeSpan.FromSeconds(3);

    /// <summary>A share unused this long goes back by itself.</summary>
    private static readonly TimeSpan UnusedShareKept = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(500);

    private readonly IActorRef _coordinator;
    private readonly string _self;
    private readonly Dictionary<string, Entry> _budgets = [];

    public BudgetAgentActor(IActorRef coordinator)
    {
        _coordinator = coordinator;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();
        Receive<RegisterBudget>(register => _budgets[register.Name] = new Entry(register.Budget, register.Registry));
        Receive<BudgetWanted>(wanted =>
        {
            if (_budgets.TryGetValue(wanted.Budget, out var entry))
            {
                entry.WantedAt = DateTime.UtcNow;
                Ask(wanted.Budget, force: false);
            }
        });
        Receive<ConnectionGranted>(OnGranted);
        Receive<GiveBack>(OnGiveBack);
        Receive<ReportHoldings>(_ => Sender.Tell(new Holdings(_self,
            _budgets.Select(pair => new Holding(pair.Key, pair.Value.Budget.Limit, pair.Value.Budget.Share, pair.Value.Budget.Used)).ToList()), Self));
        Receive<Tick>(_ => OnTick());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef coordinator) => Akka.Actor.Props.Create(() => new BudgetAgentActor(coordinator));

    protected override void PreStart() => Timers.StartPeriodicTimer("tick", Tick.Instance, TickInterval);

    /// <summary>One request in flight per budget; the tick asks again if the answer is slow (a coordinator moving to another member).</summary>
    private void Ask(string name, bool force)
    {
        if (!_budgets.TryGetValue(name, out var entry) || (entry.AskedAt is not null && !force))
        {
            return;
        }

        entry.AskedAt = DateTime.UtcNow;
        _coordinator.Tell(new WantConnection(name, entry.Budget.Limit, _self, entry.Budget.Used), Self);
    }

    private void OnGranted(ConnectionGranted granted)
    {
        if (!_budgets.TryGetValue(granted.Budget, out var entry))
        {
            _coordinator.Tell(new GaveBack(granted.Budget, _self, 1, 0), Self); // nothing here wants it (any more)
            return;
        }

        entry.Budget.Grant();
        entry.AskedAt = null;
        entry.UnusedSince = null;
        entry.Registry.Tell(new BudgetGrew(granted.Budget), Self);
    }

    private void OnGiveBack(GiveBack giveBack)
    {
        if (_budgets.TryGetValue(giveBack.Budget, out var entry))
        {
            entry.GiveBackUntil = DateTime.UtcNow + GiveBackWindow;
            entry.Budget.MarkStarved(); // pools without waiters close an idle connection, which frees share to give
            if (entry.Budget.Share > giveBack.FairShare)
            {
                entry.Budget.Cap(giveBack.FairShare); // and past the fair share, connections close as they come back
            }

            GiveBackUnused(giveBack.Budget, entry);
        }
    }

    private void OnTick()
    {
        var now = DateTime.UtcNow;
        foreach (var (name, entry) in _budgets)
        {
            var budget = entry.Budget;
            if (entry.GiveBackUntil > now)
            {
                budget.MarkStarved();
                GiveBackUnused(name, entry); // what the pools closed since the last tick
            }
            else
            {
                budget.Cap(-1); // the window is over: the coordinator asks again if others still wait
                if (budget.Share <= budget.Used)
                {
                    entry.UnusedSince = null;
                }
                else if ((entry.UnusedSince ??= now) < now - UnusedShareKept)
                {
                    GiveBackUnused(name, entry);
                }
            }

            // Still wanted (pools are refused again: their janitor retries every second) and unanswered for a second: ask again.
            if (entry.AskedAt is { } asked && now - asked > TimeSpan.FromSeconds(1) && entry.WantedAt > asked)
            {
                Ask(name, force: true);
            }
        }
    }

    private void GiveBackUnused(string name, Entry entry)
    {
        var unused = entry.Budget.ReleaseUnused();
        entry.UnusedSince = null;
        if (unused > 0)
        {
            _coordinator.Tell(new GaveBack(name, _self, unused, entry.Budget.Used), Self);
        }
    }

    private sealed class Entry(ConnectionBudget budget, IActorRef registry)
    {
        public ConnectionBudget Budget { get; } = budget;
        public IActorRef Registry { get; } = registry;

        /// <summary>When the unanswered request for more went out; null when none is.</summary>
        public DateTime? AskedAt { get; set; }

        /// <summary>When a pool was last refused for want of share.</summary>
        public DateTime WantedAt { get; set; }

        public DateTime GiveBackUntil { get; set; }
        public DateTime? UnusedSince { get; set; }
    }

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }
}
