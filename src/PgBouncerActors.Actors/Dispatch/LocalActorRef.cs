namespace PgBouncerActors.Actors;

internal sealed class LocalActorRef(ActorCell cell, ActorPath path) : IInternalActorRef
{
    public ActorPath Path { get; } = path;

    public ActorSystem System => Cell.System;

    public bool IsTerminated => Cell.Mailbox.IsClosed;

    internal ActorCell Cell { get; } = cell;

    public void Tell(object message, IActorRef? sender)
    {
        ArgumentNullException.ThrowIfNull(message);
        Cell.Mailbox.Post(message, sender);
    }

    public void SendSystemMessage(SystemMessage message) => Cell.Mailbox.PostSystem(message);

    public override string ToString() => $"[{Path}#{Path.Uid}]";
}
