namespace PgBouncerActors.Actors;

/// <summary>A handle to an actor: the only way to talk to one. Safe to share between threads.</summary>
public interface IActorRef
{
    ActorPath Path { get; }

    /// <summary>Enqueues <paramref name="message"/>; never blocks, never runs the receiver inline.</summary>
    void Tell(object message, IActorRef? sender);
}

/// <summary>What the kernel needs of a ref beyond user messages: system messages and liveness.</summary>
internal interface IInternalActorRef : IActorRef
{
    ActorSystem System { get; }

    bool IsTerminated { get; }

    void SendSystemMessage(SystemMessage message);
}

public static class ActorRefs
{
    /// <summary>The sender of a message sent from outside any actor.</summary>
    public const IActorRef? NoSender = null;
}

public static class ActorRefExtensions
{
    public static void Tell(this IActorRef target, object message) => target.Tell(message, ActorRefs.NoSender);

    /// <summary>Passes the message being processed on, keeping its original sender.</summary>
    public static void Forward(this IActorRef target, object message, IActorContext context) =>
        target.Tell(message, context.Sender);
}
