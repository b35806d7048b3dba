using PgBouncerActors.Actors.Supervision;

namespace PgBouncerActors.Actors.Tests;

/// <summary>A parent for specs: creates a child from the Props it is sent, replies with the child's ref, and supervises it with the given strategy.</summary>
internal sealed class Supervisor : ReceiveActor
{
    private readonly SupervisorStrategy _strategy;

    public Supervisor(SupervisorStrategy strategy)
    {
        _strategy = strategy;
        Receive<Props>(props => Sender.Tell(Context.ActorOf(props), Self));
        Receive<(Props Props, string Name)>(named => Sender.Tell(Context.ActorOf(named.Props, named.Name), Self));
    }

    protected internal override SupervisorStrategy SupervisorStrategy() => _strategy;
}
