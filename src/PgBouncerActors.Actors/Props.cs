using PgBouncerActors.Actors.Supervision;

namespace PgBouncerActors.Actors;

/// <summary>
/// How to make an actor: a factory, called again on every restart so that each incarnation starts
/// from fresh state, and optionally the strategy this actor applies to its own children.
/// </summary>
public sealed class Props
{
    private Props(Type actorType, Func<ActorBase> factory, SupervisorStrategy? supervisorStrategy)
    {
        ActorType = actorType;
        Factory = factory;
        SupervisorStrategy = supervisorStrategy;
    }

    public Type ActorType { get; }

    public SupervisorStrategy? SupervisorStrategy { get; }

    internal Func<ActorBase> Factory { get; }

    public static Props Create<TActor>(Func<TActor> factory) where TActor : ActorBase =>
        new(typeof(TActor), factory, null);

    public static Props Create<TActor>() where TActor : ActorBase, new() =>
        new(typeof(TActor), static () => new TActor(), null);

    public Props WithSupervisorStrategy(SupervisorStrategy strategy) => new(ActorType, Factory, strategy);

    public override string ToString() => $"Props({ActorType.Name})";
}
