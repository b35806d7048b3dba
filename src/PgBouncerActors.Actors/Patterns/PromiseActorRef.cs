namespace PgBouncerActors.Actors;

/// <summary>
/// A one-shot ref that completes a task with the first message told to it, or with the death of
/// an actor it watches. Continuations run asynchronously so that the code awaiting an Ask never
/// runs inside the turn of the actor that replied.
/// </summary>
internal sealed class PromiseActorRef(ActorSystem system) : IInternalActorRef
{
    private readonly TaskCompletionSource<object> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Made on first use: most asks complete without anyone looking at the temporary path.</summary>
    public ActorPath Path => field ??= System.NextTempPath();

    public ActorSystem System { get; } = system;

    public bool IsTerminated => _completion.Task.IsCompleted;

    public Task<object> Task => _completion.Task;

    public void Tell(object message, IActorRef? sender)
    {
        if (!_completion.TrySetResult(message))
        {
            System.DeadLettersRef.Publish(message, sender, this);
        }
    }

    public void SendSystemMessage(SystemMessage message)
    {
        if (message is DeathWatchNotification notification)
        {
            _completion.TrySetResult(new Terminated(notification.Actor));
        }
    }

    public bool TryFail(Exception exception) => _completion.TrySetException(exception);
}
