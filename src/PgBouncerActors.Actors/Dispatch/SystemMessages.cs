namespace PgBouncerActors.Actors;

/// <summary>
/// Messages of the kernel itself. They travel in their own queue and are processed before any user
/// message, so that a stop, a watch or a supervisor's directive never waits behind a backlog.
/// Each instance is enqueued once: <see cref="Next"/> links it into the mailbox's list.
/// </summary>
internal abstract class SystemMessage
{
    internal SystemMessage? Next;
}

internal sealed class Create : SystemMessage;

internal sealed class Terminate : SystemMessage;

/// <summary>The supervisor's Restart directive for one incarnation; stale ones are ignored.</summary>
internal sealed class Recreate(Exception cause, int incarnation) : SystemMessage
{
    public Exception Cause { get; } = cause;

    public int Incarnation { get; } = incarnation;
}

/// <summary>The supervisor's Resume directive for one incarnation; stale ones are ignored.</summary>
internal sealed class Resume(int incarnation) : SystemMessage
{
    public int Incarnation { get; } = incarnation;
}

/// <summary>Sent by a failing child to its parent. <see cref="Uid"/> tells incarnations of a name apart.</summary>
internal sealed class Failed(IInternalActorRef child, Exception cause, int uid, int incarnation) : SystemMessage
{
    public IInternalActorRef Child { get; } = child;

    public Exception Cause { get; } = cause;

    public int Uid { get; } = uid;

    public int Incarnation { get; } = incarnation;
}

internal sealed class ChildTerminated(IInternalActorRef child) : SystemMessage
{
    public IInternalActorRef Child { get; } = child;
}

internal sealed class Watch(IInternalActorRef watchee, IInternalActorRef watcher) : SystemMessage
{
    public IInternalActorRef Watchee { get; } = watchee;

    public IInternalActorRef Watcher { get; } = watcher;
}

internal sealed class Unwatch(IInternalActorRef watchee, IInternalActorRef watcher) : SystemMessage
{
    public IInternalActorRef Watchee { get; } = watchee;

    public IInternalActorRef Watcher { get; } = watcher;
}

internal sealed class DeathWatchNotification(IInternalActorRef actor) : SystemMessage
{
    public IInternalActorRef Actor { get; } = actor;
}

/// <summary>The code after an <c>await</c> in an async receive, run inside the actor like a message.</summary>
internal sealed class AsyncContinuation(SendOrPostCallback callback, object? state, ActorSynchronizationContext origin)
    : SystemMessage
{
    public SendOrPostCallback Callback { get; } = callback;

    public object? State { get; } = state;

    public ActorSynchronizationContext Origin { get; } = origin;
}

/// <summary>An async receive has finished; the actor may take the next user message (or fails).</summary>
internal sealed class AsyncTaskCompleted(Task task, ActorSynchronizationContext origin) : SystemMessage
{
    public Task Task { get; } = task;

    public ActorSynchronizationContext Origin { get; } = origin;
}
