namespace PgBouncerActors.Actors;

public sealed record ActorSystemSettings
{
    public static readonly ActorSystemSettings Default = new();

    /// <summary>
    /// User messages an actor processes per turn on the thread pool before yielding it to other
    /// actors: higher favours throughput, lower favours fairness.
    /// </summary>
    public int Throughput { get; init; } = 30;

    public IActorLogger Logger { get; init; } = new StandardErrorActorLogger();

    /// <summary>Makes the scheduler; a test passes a virtual-time one.</summary>
    public Func<IScheduler> SchedulerFactory { get; init; } = static () => new ThreadPoolScheduler();
}
