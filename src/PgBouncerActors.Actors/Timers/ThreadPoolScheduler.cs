using System.Diagnostics;

namespace PgBouncerActors.Actors;

/// <summary>The real-time scheduler: each entry is a <see cref="Timer"/> firing on the thread pool.</summary>
public sealed class ThreadPoolScheduler : IScheduler
{
    private readonly long _start = Stopwatch.GetTimestamp();

    public TimeSpan Monotonic => Stopwatch.GetElapsedTime(_start);

    public ICancelable ScheduleTellOnce(TimeSpan delay, IActorRef receiver, object message, IActorRef? sender) =>
        ScheduleOnce(delay, () => receiver.Tell(message, sender));

    public ICancelable ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, IActorRef receiver, object message, IActorRef? sender)
    {
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "A repeating interval must be positive.");
        }

        return new TimerEntry(() => receiver.Tell(message, sender), Clamp(initialDelay), interval);
    }

    public ICancelable ScheduleOnce(TimeSpan delay, Action action) =>
        new TimerEntry(action, Clamp(delay), Timeout.InfiniteTimeSpan);

    private static TimeSpan Clamp(TimeSpan delay) => delay < TimeSpan.Zero ? TimeSpan.Zero : delay;

    private sealed class TimerEntry : ICancelable
    {
        private readonly Timer _timer;
        private readonly Action _action;
        private volatile bool _cancelled;

        public TimerEntry(Action action, TimeSpan due, TimeSpan period)
        {
            _action = action;
            _timer = new Timer(static state => ((TimerEntry)state!).Fire(), this, due, period);
        }

        public bool IsCancellationRequested => _cancelled;

        public void Cancel()
        {
            _cancelled = true;
            _timer.Dispose();
        }

        private void Fire()
        {
            if (!_cancelled)
            {
                _action();
            }
        }
    }
}
