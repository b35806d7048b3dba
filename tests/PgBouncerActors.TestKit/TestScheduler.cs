using PgBouncerActors.Actors;

namespace PgBouncerActors.TestKit;

/// <summary>
/// Virtual time: nothing fires until the test calls <see cref="Advance"/>, which runs everything
/// due in order of due time. Backoff and timer specs become exact and take no wall-clock time.
/// </summary>
public sealed class TestScheduler : IScheduler
{
    private readonly SortedSet<Item> _queue = new(Comparer<Item>.Create(static (a, b) =>
        a.Due != b.Due ? a.Due.CompareTo(b.Due) : a.Sequence.CompareTo(b.Sequence)));

    private TimeSpan _now;
    private long _sequence;

    public TimeSpan Monotonic
    {
        get
        {
            lock (_queue)
            {
                return _now;
            }
        }
    }

    /// <summary>How many scheduled actions are waiting (cancelled ones excluded).</summary>
    public int Pending
    {
        get
        {
            lock (_queue)
            {
                return _queue.Count(item => !item.Handle.IsCancellationRequested);
            }
        }
    }

    public ICancelable ScheduleTellOnce(TimeSpan delay, IActorRef receiver, object message, IActorRef? sender) =>
        ScheduleOnce(delay, () => receiver.Tell(message, sender));

    public ICancelable ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, IActorRef receiver, object message, IActorRef? sender)
    {
        var handle = new Handle();
        Enqueue(initialDelay, () => receiver.Tell(message, sender), interval, handle);
        return handle;
    }

    public ICancelable ScheduleOnce(TimeSpan delay, Action action)
    {
        var handle = new Handle();
        Enqueue(delay, action, null, handle);
        return handle;
    }

    /// <summary>Moves the clock forward, running what falls due on the calling thread.</summary>
    public void Advance(TimeSpan amount)
    {
        TimeSpan target;
        lock (_queue)
        {
            target = _now + amount;
        }

        while (true)
        {
            Item next;
            lock (_queue)
            {
                if (_queue.Count == 0 || _queue.Min!.Due > target)
                {
                    _now = target;
                    return;
                }

                next = _queue.Min;
                _queue.Remove(next);
                _now = next.Due;
            }

            if (next.Handle.IsCancellationRequested)
            {
                continue;
            }

            next.Action();
            if (next.Interval is { } interval)
            {
                Enqueue(interval, next.Action, interval, next.Handle);
            }
        }
    }

    private void Enqueue(TimeSpan delay, Action action, TimeSpan? interval, Handle handle)
    {
        lock (_queue)
        {
            var due = _now + (delay < TimeSpan.Zero ? TimeSpan.Zero : delay);
            _queue.Add(new Item(due, ++_sequence, action, interval, handle));
        }
    }

    private sealed record Item(TimeSpan Due, long Sequence, Action Action, TimeSpan? Interval, Handle Handle);

    private sealed class Handle : ICancelable
    {
        private volatile bool _cancelled;

        public bool IsCancellationRequested => _cancelled;

        public void Cancel() => _cancelled = true;
    }
}
