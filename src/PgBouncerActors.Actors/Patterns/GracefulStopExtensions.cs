namespace PgBouncerActors.Actors;

public static class GracefulStopExtensions
{
    /// <summary>
    /// Sends <paramref name="stopMessage"/> (a <see cref="PoisonPill"/> by default, so queued messages
    /// are processed first) and completes with true once the actor has terminated, or false if it
    /// has not within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<bool> GracefulStop(this IActorRef target, TimeSpan timeout, object? stopMessage = null)
    {
        var internalTarget = target as IInternalActorRef
            ?? throw new ArgumentException($"{target} is not an actor of this kernel.", nameof(target));
        var watcher = new PromiseActorRef(internalTarget.System);
        internalTarget.SendSystemMessage(new Watch(internalTarget, watcher));
        target.Tell(stopMessage ?? PoisonPill.Instance, ActorRefs.NoSender);
        var timer = internalTarget.System.Scheduler.ScheduleOnce(timeout, () => watcher.Tell(TimedOut.Instance, null));
        var outcome = await watcher.Task.ConfigureAwait(false);
        timer.Cancel();
        if (outcome is Terminated)
        {
            return true;
        }

        internalTarget.SendSystemMessage(new Unwatch(internalTarget, watcher));
        return false;
    }

    private sealed class TimedOut
    {
        public static readonly TimedOut Instance = new();
    }
}
