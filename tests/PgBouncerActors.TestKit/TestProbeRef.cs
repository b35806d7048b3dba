using System.Collections.Concurrent;
using PgBouncerActors.Actors;

namespace PgBouncerActors.TestKit;

/// <summary>The ref of a probe: a queue the test thread reads, and a watcher that turns deaths into <see cref="Terminated"/>.</summary>
internal sealed class TestProbeRef(ActorSystem system, ActorPath path) : IInternalActorRef
{
    private readonly HashSet<IActorRef> _watching = [];

    public ActorPath Path { get; } = path;

    public ActorSystem System { get; } = system;

    public bool IsTerminated => false;

    public BlockingCollection<Envelope> Queue { get; } = new(new ConcurrentQueue<Envelope>());

    public void Tell(object message, IActorRef? sender)
    {
        ArgumentNullException.ThrowIfNull(message);
        Queue.Add(new Envelope(message, sender));
    }

    public void SendSystemMessage(SystemMessage message)
    {
        if (message is DeathWatchNotification notification)
        {
            bool wasWatched;
            lock (_watching)
            {
                wasWatched = _watching.Remove(notification.Actor);
            }

            if (wasWatched)
            {
                Queue.Add(new Envelope(new Terminated(notification.Actor), notification.Actor));
            }
        }
    }

    public void Watch(IActorRef subject)
    {
        var target = (IInternalActorRef)subject;
        bool added;
        lock (_watching)
        {
            added = _watching.Add(subject);
        }

        if (added)
        {
            target.SendSystemMessage(new Watch(target, this));
        }
    }

    public void Unwatch(IActorRef subject)
    {
        var target = (IInternalActorRef)subject;
        lock (_watching)
        {
            _watching.Remove(subject);
        }

        target.SendSystemMessage(new Unwatch(target, this));
    }

    public override string ToString() => $"[{Path}]";
}

internal readonly record struct Envelope(object Message, IActorRef? Sender);
