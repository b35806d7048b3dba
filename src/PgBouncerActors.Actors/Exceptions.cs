namespace PgBouncerActors.Actors;

/// <summary>The actor's constructor or <c>PreStart</c> threw. The default strategy stops such an actor.</summary>
public sealed class ActorInitializationException(ActorPath path, Exception cause)
    : Exception($"Actor [{path}] failed to initialise: {cause.Message}", cause)
{
    public ActorPath Path { get; } = path;
}

/// <summary>Thrown inside an actor that received <see cref="Kill"/>.</summary>
public sealed class ActorKilledException(string message) : Exception(message);

/// <summary>An actor received a <see cref="Terminated"/> it did not handle: it dies with the one it watched.</summary>
public sealed class DeathPactException(IActorRef deadActor)
    : Exception($"Monitored actor [{deadActor.Path}] terminated and the watcher did not handle Terminated")
{
    public IActorRef DeadActor { get; } = deadActor;
}

/// <summary>An <c>Ask</c> got no reply in time, or its target was already stopped.</summary>
public sealed class AskTimeoutException(string message) : TimeoutException(message);

public sealed class InvalidActorNameException(string message) : ArgumentException(message);
