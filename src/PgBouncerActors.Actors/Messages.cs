namespace PgBouncerActors.Actors;

/// <summary>Stops the actor once the messages queued before it have been processed.</summary>
public sealed class PoisonPill
{
    public static readonly PoisonPill Instance = new();

    private PoisonPill()
    {
    }

    public override string ToString() => nameof(PoisonPill);
}

/// <summary>Makes the actor fail with <see cref="ActorKilledException"/>; its supervisor decides what follows.</summary>
public sealed class Kill
{
    public static readonly Kill Instance = new();

    private Kill()
    {
    }

    public override string ToString() => nameof(Kill);
}

/// <summary>
/// Delivered once to every watcher when a watched actor has stopped. As in Akka, an actor receives
/// only the Terminated its own death watch queued: one forwarded to it by another actor is dropped,
/// so pass on a message of your own instead.
/// </summary>
public sealed record Terminated(IActorRef ActorRef);

/// <summary>The reply convention for outcomes: <see cref="Success"/> or <see cref="Failure"/>.</summary>
public abstract class Status
{
    private Status()
    {
    }

    public sealed class Success(object? state) : Status
    {
        public object? State { get; } = state;

        public override string ToString() => $"Success({State})";
    }

    public sealed class Failure(Exception cause, object? state = null) : Status
    {
        public Exception Cause { get; } = cause;

        public object? State { get; } = state;

        public override string ToString() => $"Failure({Cause.GetType().Name}: {Cause.Message})";
    }
}

/// <summary>A message that could not be delivered: its recipient was stopped, or it was refused.</summary>
public sealed record DeadLetter(object Message, IActorRef? Sender, IActorRef Recipient);

/// <summary>A message an actor did not handle; published on the event stream.</summary>
public sealed record UnhandledMessage(object Message, IActorRef? Sender, IActorRef Recipient);
