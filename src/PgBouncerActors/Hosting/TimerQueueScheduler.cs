using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace PgBouncerActors.Hosting;

/// <summary>
/// Akka's scheduler on .NET's own timer queue (<c>akka.scheduler.implementation</c> in
/// hocon/reference.conf). Akka's default, the hashed wheel, wakes every tick-duration (10 ms) for
/// as long as the process lives, work or not: a pooler with no client spent about 20 ms of CPU a
/// second on it, where PgBouncer spends well under one, and a pooler beside every application
/// instance pays that all day. Here a timer wakes the process only when something is due, and
/// fires within a millisecond or so of its time rather than at the next tick.
/// </summary>
/// <remarks>
/// Each scheduled piece of work is one <see cref="Timer"/>, disposed when it has run for the last
/// time or when its cancelable is cancelled (an actor's timers are cancelled when it stops), so a
/// cancelled timer holds nothing. Once the actor system is disposed, repeating work stops at its
/// next turn and work due once still runs when due, as the hashed wheel runs what is outstanding
/// when it is disposed (its tells then reach dead letters).
/// </remarks>
public sealed class TimerQueueScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    private readonly ILoggingAdapter _log;
    private volatile bool _disposed;

    /// <summary>The constructor Akka calls, as for every scheduler named in <c>akka.scheduler.implementation</c>.</summary>
    public TimerQueueScheduler(Config scheduler, ILoggingAdapter log)
        : base(scheduler, log) => _log = log;

    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;

    /// <summary>The system's monotonic clock (since boot on Linux), never set back (Akka's own clock of this kind is internal to it).</summary>
    public override TimeSpan MonotonicClock => Stopwatch.GetElapsedTime(0);

    public override TimeSpan HighResMonotonicClock => Stopwatch.GetElapsedTime(0);

    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Start(delay, Timeout.InfiniteTimeSpan, new Tell(receiver, message, sender), cancelable);

    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender,
        ICancelable cancelable) =>
        Start(initialDelay, interval, new Tell(receiver, message, sender), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Start(delay, Timeout.InfiniteTimeSpan, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Start(delay, Timeout.InfiniteTimeSpan, action, cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Start(initialDelay, interval, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Start(initialDelay, interval, action, cancelable);

    public void Dispose() => _disposed = true;

    private void Start(TimeSpan delay, TimeSpan interval, IRunnable work, ICancelable? cancelable)
    {
        if (cancelable?.IsCancellationRequested == true)
        {
            return;
        }

        new Scheduled(this, work, cancelable, Bounded(interval)).Arm(Bounded(delay));
    }

    /// <summary>The longest a <see cref="Timer"/> takes (about 49.7 days).</summary>
    private static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>
    /// A delay a <see cref="Timer"/> can take: a longer one (a setting of years, which the wheel
    /// took) fires after about 49.7 days, where it would otherwise throw in the actor asking.
    /// </summary>
    private static TimeSpan Bounded(TimeSpan delay) => delay == Timeout.InfiniteTimeSpan || delay <= Longest ? delay : Longest;

    /// <summary>One piece of work and its timer.</summary>
    private sealed class Scheduled(TimerQueueScheduler scheduler, IRunnable work, ICancelable? cancelable, TimeSpan interval)
    {
        private Timer? _timer;
        private CancellationTokenRegistration _cancelled;

        public void Arm(TimeSpan delay)
        {
            // Created stopped and started once the cancel hook is in place: a cancel at any moment finds a timer to dispose.
            _timer = new Timer(static self => ((Scheduled)self!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            if (cancelable is not null)
            {
                _cancelled = cancelable.Token.UnsafeRegister(static self => ((Scheduled)self!).Stop(), this);
            }

            try
            {
                _timer.Change(delay, interval);
            }
            catch (ObjectDisposedException)
            {
                // cancelled meanwhile
            }
        }

        private void Fire()
        {
            var repeats = interval != Timeout.InfiniteTimeSpan;
            if (cancelable?.IsCancellationRequested == true || (repeats && scheduler._disposed))
            {
                Stop();
                return;
            }

            if (!repeats)
            {
                Stop();
            }

            try
            {
                work.Run();
            }
            catch (SchedulerException)
            {
                // the receiver's actor system is gone
            }
            catch (Exception e)
            {
                scheduler._log.Error(e, "Error while executing scheduled task {0}", work);
                Stop(); // as Akka's own scheduler: work that failed is not run again
            }
        }

        private void Stop()
        {
            _timer?.Dispose();
            _cancelled.Unregister();
        }
    }

    private sealed class Tell(ICanTell receiver, object message, IActorRef sender) : IRunnable
    {
        public void Run() => receiver.Tell(message, sender);

        public void Execute() => Run();

        public override string ToString() => $"[{receiver}.Tell({message}, {sender})]";
    }
}
