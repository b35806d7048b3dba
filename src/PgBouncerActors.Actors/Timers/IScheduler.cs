namespace PgBouncerActors.Actors;

public interface ICancelable
{
    bool IsCancellationRequested { get; }

    void Cancel();
}

/// <summary>
/// The system's clock and delayed deliveries. Timers, Ask timeouts, backoff and restart budgets all
/// go through it, so a test can substitute virtual time for all of them at once.
/// </summary>
public interface IScheduler
{
    /// <summary>Monotonic time since the scheduler started; never goes backwards.</summary>
    TimeSpan Monotonic { get; }

    ICancelable ScheduleTellOnce(TimeSpan delay, IActorRef receiver, object message, IActorRef? sender);

    ICancelable ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, IActorRef receiver, object message, IActorRef? sender);

    ICancelable ScheduleOnce(TimeSpan delay, Action action);
}
