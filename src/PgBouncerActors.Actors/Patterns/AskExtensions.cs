namespace PgBouncerActors.Actors;

public static class AskExtensions
{
    /// <summary>
    /// Sends <paramref name="message"/> with a temporary sender and returns its reply. A
    /// <see cref="Status.Failure"/> reply faults the task with its cause; no reply within
    /// <paramref name="timeout"/> faults it with an <see cref="AskTimeoutException"/> that names the target.
    /// </summary>
    public static async Task<T> Ask<T>(this IActorRef target, object message, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var internalTarget = target as IInternalActorRef
            ?? throw new ArgumentException($"{target} is not an actor of this kernel.", nameof(target));
        if (internalTarget.IsTerminated)
        {
            throw new AskTimeoutException($"Ask to [{target.Path}] failed: the recipient had already terminated.");
        }

        var promise = new PromiseActorRef(internalTarget.System);
        using var timeoutTimer = internalTarget.System.Scheduler.ScheduleOnce(timeout, () => promise.TryFail(new AskTimeoutException(
            $"Ask timed out on [{target.Path}] after {timeout.TotalMilliseconds:0} ms (message {message.GetType().Name}).")))
            .AsDisposable();
        await using var cancellation = cancellationToken.Register(() => promise.TryFail(new OperationCanceledException(cancellationToken)));
        target.Tell(message, promise);
        var reply = await promise.Task.ConfigureAwait(false);
        return reply switch
        {
            T typed => typed,
            Status.Failure failure => throw failure.Cause,
            _ => throw new InvalidCastException(
                $"Ask to [{target.Path}] expected a reply of type {typeof(T).Name} but got {reply.GetType().Name}."),
        };
    }

    private static IDisposable AsDisposable(this ICancelable cancelable) => new CancelOnDispose(cancelable);

    private sealed class CancelOnDispose(ICancelable cancelable) : IDisposable
    {
        public void Dispose() => cancelable.Cancel();
    }
}
