namespace PgBouncerActors.Actors;

/// <summary>Where undeliverable messages go: published as <see cref="DeadLetter"/> and logged at debug level.</summary>
internal sealed class DeadLetterActorRef(ActorSystem system, ActorPath path) : IInternalActorRef
{
    public ActorPath Path { get; } = path;

    public ActorSystem System { get; } = system;

    public bool IsTerminated => false;

    public void Tell(object message, IActorRef? sender)
    {
        if (message is DeadLetter letter)
        {
            Publish(letter);
        }
        else
        {
            Publish(message, sender, this);
        }
    }

    public void Publish(object message, IActorRef? sender, IActorRef recipient) =>
        Publish(new DeadLetter(message, sender, recipient));

    public void SendSystemMessage(SystemMessage message)
    {
        if (message is Watch watch)
        {
            // Watching dead letters is watching something that was never alive.
            watch.Watcher.SendSystemMessage(new DeathWatchNotification(this));
        }
    }

    private void Publish(DeadLetter letter)
    {
        System.EventStream.Publish(letter);
        if (System.IsLogEnabled(ActorLogLevel.Debug))
        {
            System.Log(ActorLogLevel.Debug, letter.Recipient.Path,
                $"Dead letter: {letter.Message.GetType().Name} from {letter.Sender?.Path.ToString() ?? "no sender"}", null);
        }
    }
}
