using System.Diagnostics;
using PgBouncerActors.Actors;

namespace PgBouncerActors.TestKit;

/// <summary>
/// A stand-in actor for tests: whatever is told to <see cref="Ref"/> waits in a queue for the test
/// to expect it. Expectations block the test thread up to their timeout (or the enclosing
/// <see cref="Within(TimeSpan, Action)"/> bound) and fail with a message saying what came instead.
/// </summary>
public sealed class TestProbe
{
    private readonly TestProbeRef _ref;
    private readonly Deadline _deadline;
    private Envelope _last;

    internal TestProbe(ActorSystem system, string name, Deadline deadline)
    {
        _ref = new TestProbeRef(system, system.TempPath.Child(name, 0));
        _deadline = deadline;
    }

    public IActorRef Ref => _ref;

    /// <summary>The sender of the last message this probe received; dead letters before any.</summary>
    public IActorRef LastSender => _last.Sender ?? _ref.System.DeadLetters;

    public object? LastMessage => _last.Message;

    /// <summary>Time left in the enclosing Within block, or the default timeout outside one.</summary>
    public TimeSpan Remaining => _deadline.Remaining;

    public void Send(IActorRef target, object message) => target.Tell(message, _ref);

    public void Reply(object message) => LastSender.Tell(message, _ref);

    /// <summary>Passes the last message on to <paramref name="target"/> with its original sender.</summary>
    public void Forward(IActorRef target) =>
        target.Tell(_last.Message ?? throw new TestKitFailure("Forward: this probe has received nothing yet."), _last.Sender);

    public IActorRef Watch(IActorRef subject)
    {
        _ref.Watch(subject);
        return subject;
    }

    public IActorRef Unwatch(IActorRef subject)
    {
        _ref.Unwatch(subject);
        return subject;
    }

    public T ExpectMsg<T>(TimeSpan? timeout = null) => ExpectMsg<T>(static _ => true, timeout);

    public T ExpectMsg<T>(Predicate<T> isExpected, TimeSpan? timeout = null, string? hint = null)
    {
        var wait = _deadline.Resolve(timeout);
        var envelope = ReceiveOne(wait) ?? throw new TestKitFailure(
            $"Timeout ({wait.TotalMilliseconds:0} ms) waiting for {typeof(T).Name}{Describe(hint)}.");
        if (envelope.Message is not T typed)
        {
            throw new TestKitFailure($"Expected {typeof(T).Name}{Describe(hint)} but received {Show(envelope.Message)}.");
        }

        if (!isExpected(typed))
        {
            throw new TestKitFailure($"Received {Show(envelope.Message)}, which is not the expected {typeof(T).Name}{Describe(hint)}.");
        }

        return typed;
    }

    /// <summary>Expects a message equal to <paramref name="expected"/>.</summary>
    public T ExpectMsg<T>(T expected, TimeSpan? timeout = null) where T : notnull =>
        ExpectMsg<T>(actual => Equals(actual, expected), timeout, $"equal to {expected}");

    public void ExpectNoMsg(TimeSpan duration)
    {
        var wait = _deadline.Resolve(duration);
        if (ReceiveOne(wait) is { } envelope)
        {
            throw new TestKitFailure($"Expected no message for {wait.TotalMilliseconds:0} ms but received {Show(envelope.Message)}.");
        }
    }

    public Terminated ExpectTerminated(IActorRef target, TimeSpan? timeout = null) =>
        ExpectMsg<Terminated>(terminated => ReferenceEquals(terminated.ActorRef, target), timeout, $"Terminated of {target.Path}");

    /// <summary>Takes messages until one satisfies <paramref name="isTheOne"/>, discarding the others.</summary>
    public T FishForMessage<T>(Predicate<T> isTheOne, TimeSpan? timeout = null, string? hint = null)
    {
        var wait = _deadline.Resolve(timeout);
        var clock = Stopwatch.StartNew();
        var skipped = new List<string>();
        while (true)
        {
            var left = wait - clock.Elapsed;
            var envelope = ReceiveOne(left < TimeSpan.Zero ? TimeSpan.Zero : left);
            if (envelope is null)
            {
                throw new TestKitFailure($"Timeout ({wait.TotalMilliseconds:0} ms) fishing for {typeof(T).Name}{Describe(hint)}; " +
                                         $"skipped: [{string.Join(", ", skipped)}].");
            }

            if (envelope.Value.Message is T typed && isTheOne(typed))
            {
                return typed;
            }

            skipped.Add(Show(envelope.Value.Message));
        }
    }

    public object FishForMessage(Predicate<object> isTheOne, TimeSpan? timeout = null) => FishForMessage<object>(isTheOne, timeout);

    /// <summary>Takes whatever arrives next, or null after the timeout.</summary>
    public object? ReceiveOne(TimeSpan? timeout = null) => ReceiveOne(_deadline.Resolve(timeout))?.Message;

    /// <summary>
    /// Runs <paramref name="block"/> and checks it took between <paramref name="min"/> and
    /// <paramref name="max"/> (dilated); expectations inside wait at most until the max.
    /// </summary>
    public void Within(TimeSpan min, TimeSpan max, Action block) => Within(min, max, () =>
    {
        block();
        return true;
    });

    public void Within(TimeSpan max, Action block) => Within(TimeSpan.Zero, max, block);

    public T Within<T>(TimeSpan min, TimeSpan max, Func<T> block)
    {
        var dilatedMax = _deadline.Settings.Dilated(max);
        var clock = Stopwatch.StartNew();
        _deadline.Push(DateTime.UtcNow + dilatedMax);
        T result;
        try
        {
            result = block();
        }
        finally
        {
            _deadline.Pop();
        }

        var took = clock.Elapsed;
        if (took < min)
        {
            throw new TestKitFailure($"Within: the block took {took.TotalMilliseconds:0} ms, less than the minimum {min.TotalMilliseconds:0} ms.");
        }

        if (took > dilatedMax)
        {
            throw new TestKitFailure($"Within: the block took {took.TotalMilliseconds:0} ms, more than the maximum {dilatedMax.TotalMilliseconds:0} ms.");
        }

        return result;
    }

    private Envelope? ReceiveOne(TimeSpan wait)
    {
        if (!_ref.Queue.TryTake(out var envelope, wait))
        {
            return null;
        }

        _last = envelope;
        return envelope;
    }

    private static string Describe(string? hint) => hint is null ? "" : $" ({hint})";

    private static string Show(object message) => $"{message.GetType().Name} {message}";
}
