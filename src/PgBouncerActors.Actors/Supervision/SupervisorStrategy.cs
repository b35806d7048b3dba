namespace PgBouncerActors.Actors.Supervision;

public enum Directive
{
    /// <summary>Keep the instance and its state; the failing message is dropped.</summary>
    Resume,

    /// <summary>Replace the instance with a fresh one from the Props factory; the mailbox is kept.</summary>
    Restart,

    /// <summary>Stop the child for good.</summary>
    Stop,

    /// <summary>Fail the supervisor itself with the same cause.</summary>
    Escalate,
}

/// <summary>How a parent answers its children's failures.</summary>
public abstract class SupervisorStrategy
{
    /// <summary>Akka's default: restart, except initialisation failures, Kill and death pacts, which stop.</summary>
    public static readonly SupervisorStrategy Default = new OneForOneStrategy(DefaultDecider);

    /// <summary>Stops any failing child.</summary>
    public static readonly SupervisorStrategy StoppingStrategy = new OneForOneStrategy(static _ => Directive.Stop);

    public static Directive DefaultDecider(Exception cause) => cause switch
    {
        ActorInitializationException or ActorKilledException or DeathPactException => Directive.Stop,
        _ => Directive.Restart,
    };

    public abstract Directive Decide(Exception cause);

    /// <summary>The directive actually applied, once the retry budget has had its say.</summary>
    internal abstract Directive HandleFailure(ChildRestartStats stats, Exception cause, TimeSpan now);
}

/// <summary>
/// Applies its decider to the failing child alone. A Restart is granted at most
/// <c>maxNrOfRetries</c> times within <c>withinTimeRange</c>; past that budget the child is stopped.
/// A negative budget means unlimited; an infinite window means the budget is for the child's life.
/// </summary>
public sealed class OneForOneStrategy : SupervisorStrategy
{
    private readonly Func<Exception, Directive> _decider;

    public OneForOneStrategy(int maxNrOfRetries, TimeSpan withinTimeRange, Func<Exception, Directive> decider)
    {
        MaxNrOfRetries = maxNrOfRetries;
        WithinTimeRange = withinTimeRange;
        _decider = decider;
    }

    public OneForOneStrategy(Func<Exception, Directive> decider)
        : this(-1, Timeout.InfiniteTimeSpan, decider)
    {
    }

    public int MaxNrOfRetries { get; }

    public TimeSpan WithinTimeRange { get; }

    public override Directive Decide(Exception cause) => _decider(cause);

    internal override Directive HandleFailure(ChildRestartStats stats, Exception cause, TimeSpan now)
    {
        var directive = Decide(cause);
        if (directive == Directive.Restart && !stats.RequestRestartPermission(MaxNrOfRetries, WithinTimeRange, now))
        {
            return Directive.Stop;
        }

        return directive;
    }
}

/// <summary>A child's restarts counted against its supervisor's budget. Lives in the parent, so it survives the restart.</summary>
internal sealed class ChildRestartStats
{
    private int _restartsInWindow;
    private TimeSpan _windowStart;

    public bool RequestRestartPermission(int maxNrOfRetries, TimeSpan window, TimeSpan now)
    {
        if (maxNrOfRetries < 0)
        {
            return true;
        }

        if (window != Timeout.InfiniteTimeSpan && (_restartsInWindow == 0 || now - _windowStart > window))
        {
            _windowStart = now;
            _restartsInWindow = 0;
        }

        _restartsInWindow++;
        return _restartsInWindow <= maxNrOfRetries;
    }
}
