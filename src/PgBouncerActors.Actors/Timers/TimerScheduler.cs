namespace PgBouncerActors.Actors;

/// <summary>Used only from its actor's turn, so it needs no locking.</summary>
internal sealed class TimerScheduler(ActorCell cell) : ITimerScheduler
{
    private readonly Dictionary<object, Entry> _timers = [];
    private int _generation;

    public void StartSingleTimer(object key, object message, TimeSpan delay) =>
        Start(key, message, delay, interval: null);

    public void StartPeriodicTimer(object key, object message, TimeSpan interval) =>
        Start(key, message, interval, interval);

    public void StartPeriodicTimer(object key, object message, TimeSpan initialDelay, TimeSpan interval) =>
        Start(key, message, initialDelay, interval);

    public bool IsTimerActive(object key) => _timers.ContainsKey(key);

    public void Cancel(object key)
    {
        if (_timers.Remove(key, out var entry))
        {
            entry.Task.Cancel();
        }
    }

    public void CancelAll()
    {
        foreach (var entry in _timers.Values)
        {
            entry.Task.Cancel();
        }

        _timers.Clear();
    }

    /// <summary>Whether a tick taken from the mailbox is still the current timer for its key.</summary>
    internal bool TryAccept(TimerFired fired, out object message)
    {
        if (!_timers.TryGetValue(fired.Key, out var entry) || entry.Generation != fired.Generation)
        {
            message = null!;
            return false;
        }

        if (!entry.Periodic)
        {
            _timers.Remove(fired.Key);
        }

        message = entry.Message;
        return true;
    }

    private void Start(object key, object message, TimeSpan delay, TimeSpan? interval)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(message);
        Cancel(key);
        var generation = ++_generation;
        var tick = new TimerFired(this, key, generation);
        var scheduler = cell.System.Scheduler;
        var task = interval is { } every
            ? scheduler.ScheduleTellRepeatedly(delay, every, cell.Self, tick, ActorRefs.NoSender)
            : scheduler.ScheduleTellOnce(delay, cell.Self, tick, ActorRefs.NoSender);
        _timers[key] = new Entry(generation, message, interval.HasValue, task);
    }

    private sealed record Entry(int Generation, object Message, bool Periodic, ICancelable Task);
}

internal sealed record TimerFired(TimerScheduler Owner, object Key, int Generation);
