namespace PgBouncerActors.Actors;

/// <summary>
/// What an actor may do with the kernel while it handles a message. It is handed to the actor
/// explicitly (the <c>Context</c> property), never read from thread-static state, so it stays
/// valid after an <c>await</c>.
/// </summary>
public interface IActorContext
{
    IActorRef Self { get; }

    /// <summary>The sender of the message being processed, or dead letters when there is none.</summary>
    IActorRef Sender { get; }

    IActorRef Parent { get; }

    ActorSystem System { get; }

    Props Props { get; }

    IActorRef ActorOf(Props props, string? name = null);

    /// <summary>Stops a child (or this actor) asynchronously; its children stop first.</summary>
    void Stop(IActorRef actor);

    /// <summary>Delivers one <see cref="Terminated"/> when <paramref name="subject"/> stops (at once if it already has).</summary>
    IActorRef Watch(IActorRef subject);

    IActorRef Unwatch(IActorRef subject);

    IActorRef? Child(string name);

    IReadOnlyList<IActorRef> GetChildren();
}
