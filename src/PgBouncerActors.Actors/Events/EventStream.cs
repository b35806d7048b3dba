namespace PgBouncerActors.Actors;

/// <summary>
/// Publish/subscribe by type for system-wide events (dead letters, unhandled messages). Subscribing
/// to a base type receives every event assignable to it. Safe from any thread.
/// </summary>
public sealed class EventStream
{
    private (IActorRef Subscriber, Type Channel)[] _subscriptions = [];

    public void Subscribe(IActorRef subscriber, Type channel)
    {
        lock (this)
        {
            _subscriptions = [.. _subscriptions, (subscriber, channel)];
        }
    }

    public void Unsubscribe(IActorRef subscriber)
    {
        lock (this)
        {
            _subscriptions = _subscriptions.Where(entry => !ReferenceEquals(entry.Subscriber, subscriber)).ToArray();
        }
    }

    public void Publish(object @event)
    {
        foreach (var (subscriber, channel) in Volatile.Read(ref _subscriptions))
        {
            if (channel.IsInstanceOfType(@event))
            {
                subscriber.Tell(@event, ActorRefs.NoSender);
            }
        }
    }
}
