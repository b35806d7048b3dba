namespace PgBouncerActors.Actors;

/// <summary>
/// Async receives. While the task of a handler runs, the actor takes no other user message. Code
/// after each <c>await</c> comes back through <see cref="ActorSynchronizationContext"/> as a system
/// message, so it runs on the actor's own turn with the original message and sender in place,
/// never concurrently with the actor's other work. A faulted task is a failure like any other.
/// </summary>
internal sealed partial class ActorCell
{
    internal void RunAsyncHandler<T>(Func<T, Task> handler, T message)
    {
        var origin = new ActorSynchronizationContext(this, _incarnation, _currentMessage, _currentSender);
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(origin);
        Task task;
        try
        {
            task = handler(message);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        if (task.IsCompleted)
        {
            task.GetAwaiter().GetResult(); // rethrows a synchronous failure into Invoke's handler
            return;
        }

        _blocks |= Blocks.AwaitingTask;
        task.ContinueWith(
            static (finished, state) =>
            {
                var context = (ActorSynchronizationContext)state!;
                context.Cell.Mailbox.PostSystem(new AsyncTaskCompleted(finished, context));
            },
            origin,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void HandleAsyncContinuation(AsyncContinuation continuation)
    {
        var origin = continuation.Origin;
        if (origin.Incarnation != _incarnation || IsTerminating)
        {
            return; // the instance that awaited is gone
        }

        var savedMessage = _currentMessage;
        var savedSender = _currentSender;
        _currentMessage = origin.Message;
        _currentSender = origin.Sender;
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(origin);
        try
        {
            continuation.Callback(continuation.State);
        }
        catch (Exception exception)
        {
            HandleInvokeFailure(exception, origin.Message);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
            _currentMessage = savedMessage;
            _currentSender = savedSender;
        }
    }

    private void HandleAsyncTaskCompleted(AsyncTaskCompleted completed)
    {
        if (completed.Origin.Incarnation != _incarnation || IsTerminating)
        {
            return;
        }

        _blocks &= ~Blocks.AwaitingTask;
        if (!completed.Task.IsCompletedSuccessfully)
        {
            var cause = completed.Task.Exception?.InnerException ?? new TaskCanceledException(completed.Task);
            HandleInvokeFailure(cause, completed.Origin.Message);
        }
    }
}

/// <summary>Routes continuations of one async receive back into its actor's mailbox.</summary>
internal sealed class ActorSynchronizationContext(ActorCell cell, int incarnation, object? message, IActorRef? sender)
    : SynchronizationContext
{
    public ActorCell Cell { get; } = cell;

    public int Incarnation { get; } = incarnation;

    public object? Message { get; } = message;

    public IActorRef? Sender { get; } = sender;

    public override void Post(SendOrPostCallback d, object? state) =>
        Cell.Mailbox.PostSystem(new AsyncContinuation(d, state, this));

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("Synchronous Send into an actor would block its own turn.");

    public override SynchronizationContext CreateCopy() => this;
}
