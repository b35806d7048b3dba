namespace PgBouncerActors.Actors;

/// <summary>
/// Death watch. The watcher remembers whom it watches; the subject remembers its watchers and
/// notifies each once as it dies. A watch that reaches an actor already dead is answered at once
/// (see <see cref="HandleSystemMessageAfterDeath"/>). A notification becomes a <see cref="Terminated"/>
/// user message only if the subject is still watched, and that message is dropped if the watcher
/// unwatches before processing it: so exactly one Terminated, or none after Unwatch.
/// </summary>
internal sealed partial class ActorCell
{
    private HashSet<IInternalActorRef>? _watching;
    private HashSet<IInternalActorRef>? _watchedBy;
    private HashSet<IActorRef>? _terminatedQueued;

    public IActorRef Watch(IActorRef subject)
    {
        var target = AsInternal(subject);
        if (!ReferenceEquals(target, SelfRef) && (_watching ??= []).Add(target))
        {
            target.SendSystemMessage(new Watch(target, SelfRef));
        }

        return subject;
    }

    public IActorRef Unwatch(IActorRef subject)
    {
        var target = AsInternal(subject);
        if (_watching?.Remove(target) == true)
        {
            target.SendSystemMessage(new Unwatch(target, SelfRef));
        }

        _terminatedQueued?.Remove(target);
        return subject;
    }

    /// <summary>What a system message means to an actor that has already terminated. Thread-safe.</summary>
    internal void HandleSystemMessageAfterDeath(SystemMessage message)
    {
        if (message is Watch watch && !ReferenceEquals(watch.Watcher, SelfRef))
        {
            watch.Watcher.SendSystemMessage(new DeathWatchNotification(SelfRef));
        }
    }

    private void HandleWatch(Watch watch)
    {
        if (!ReferenceEquals(watch.Watcher, SelfRef))
        {
            (_watchedBy ??= []).Add(watch.Watcher);
        }
    }

    private void HandleUnwatch(Unwatch unwatch) => _watchedBy?.Remove(unwatch.Watcher);

    private void HandleDeathWatchNotification(DeathWatchNotification notification)
    {
        if (_watching?.Remove(notification.Actor) == true && !IsTerminating)
        {
            (_terminatedQueued ??= []).Add(notification.Actor);
            Mailbox.Post(new Terminated(notification.Actor), notification.Actor);
        }
    }

    /// <summary>True when a Terminated taken from the mailbox is still wanted (not unwatched meanwhile).</summary>
    private bool AcceptTerminated(Terminated terminated) =>
        _terminatedQueued?.Remove(terminated.ActorRef) == true;

    private void TellWatchersWeDied()
    {
        if (_watchedBy is null)
        {
            return;
        }

        foreach (var watcher in _watchedBy)
        {
            watcher.SendSystemMessage(new DeathWatchNotification(SelfRef));
        }

        _watchedBy = null;
    }

    private void UnwatchEverything()
    {
        if (_watching is null)
        {
            return;
        }

        foreach (var subject in _watching)
        {
            subject.SendSystemMessage(new Unwatch(subject, SelfRef));
        }

        _watching = null;
        _terminatedQueued = null;
    }

    private static IInternalActorRef AsInternal(IActorRef actor) =>
        actor as IInternalActorRef ?? throw new ArgumentException($"{actor} is not an actor of this kernel.", nameof(actor));
}
