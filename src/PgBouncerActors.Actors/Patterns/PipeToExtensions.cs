namespace PgBouncerActors.Actors;

public static class PipeToExtensions
{
    /// <summary>
    /// Tells the task's result to <paramref name="recipient"/> when it completes (or a
    /// <see cref="Status.Failure"/> when it faults): the way to bring async work back into an actor
    /// without blocking its turn.
    /// </summary>
    public static Task PipeTo<T>(this Task<T> task, IActorRef recipient, IActorRef? sender = null,
        Func<T, object>? success = null, Func<Exception, object>? failure = null) =>
        task.ContinueWith(
            completed =>
            {
                if (completed.IsCompletedSuccessfully)
                {
                    object? result = success is null ? completed.Result : success(completed.Result);
                    recipient.Tell(result ?? new Status.Success(null), sender);
                }
                else
                {
                    var cause = Unwrap(completed);
                    recipient.Tell(failure is null ? new Status.Failure(cause) : failure(cause), sender);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    /// <summary>Tells <see cref="Status.Success"/> (or <see cref="Status.Failure"/>) when the task completes.</summary>
    public static Task PipeTo(this Task task, IActorRef recipient, IActorRef? sender = null) =>
        task.ContinueWith(
            completed => recipient.Tell(
                completed.IsCompletedSuccessfully ? new Status.Success(null) : new Status.Failure(Unwrap(completed)), sender),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    private static Exception Unwrap(Task task) =>
        task.Exception?.InnerExceptions is [var single] ? single : task.Exception ?? (Exception)new TaskCanceledException(task);
}
