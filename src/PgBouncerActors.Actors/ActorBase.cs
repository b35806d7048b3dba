using PgBouncerActors.Actors.Supervision;

namespace PgBouncerActors.Actors;

/// <summary>
/// The base of every actor. Its context is bound once, in the constructor, and kept in a field:
/// <see cref="Context"/>, <see cref="Self"/> and <see cref="Sender"/> stay right after an
/// <c>await</c>, unlike an ambient thread-static context.
/// </summary>
public abstract class ActorBase
{
    private readonly ActorCell _cell;

    protected ActorBase()
    {
        _cell = ActorCell.TakeConstructingCell();
    }

    protected IActorContext Context => _cell;

    protected IActorRef Self => _cell.Self;

    /// <summary>Who sent the message being processed; dead letters when nobody did.</summary>
    protected IActorRef Sender => _cell.Sender;

    /// <summary>Keyed timers that deliver to this actor; they die with this instance.</summary>
    protected ITimerScheduler Timers => _cell.Timers;

    internal ActorCell Cell => _cell;

    /// <summary>Handles one message; returns false when the message is not handled.</summary>
    protected internal abstract bool Receive(object message);

    protected internal virtual void PreStart()
    {
    }

    protected internal virtual void PostStop()
    {
    }

    /// <summary>Runs on the failed instance; by default stops all children, then runs <see cref="PostStop"/>.</summary>
    protected internal virtual void PreRestart(Exception reason, object? message)
    {
        foreach (var child in Context.GetChildren())
        {
            Context.Stop(child);
        }

        PostStop();
    }

    /// <summary>Runs on the fresh instance; by default runs <see cref="PreStart"/>.</summary>
    protected internal virtual void PostRestart(Exception reason) => PreStart();

    /// <summary>The strategy for this actor's children; null means the Props' one or the default.</summary>
    protected internal virtual SupervisorStrategy? SupervisorStrategy() => null;

    /// <summary>
    /// An unhandled <see cref="Terminated"/> kills this actor too (death pact); anything else is
    /// published as <see cref="UnhandledMessage"/>.
    /// </summary>
    protected virtual void Unhandled(object message)
    {
        if (message is Terminated terminated)
        {
            throw new DeathPactException(terminated.ActorRef);
        }

        var unhandled = new UnhandledMessage(message, _cell.Sender, Self);
        _cell.System.EventStream.Publish(unhandled);
        if (_cell.System.IsLogEnabled(ActorLogLevel.Debug))
        {
            _cell.System.Log(ActorLogLevel.Debug, Self.Path, $"Unhandled message {message.GetType().Name} from {_cell.Sender.Path}", null);
        }
    }

    internal void InvokeUnhandled(object message) => Unhandled(message);
}
