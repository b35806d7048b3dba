using Akka.Actor;

namespace PgBouncerActors.Hosting;

/// <summary>
/// Props from a plain factory. Akka's <c>Props.Create(() => new X(...))</c> takes the lambda apart
/// as an expression tree and builds the actor by reflection; a session is made per client login,
/// so the pooler's actors are made by a delegate call instead.
/// </summary>
internal static class ActorProps
{
    public static Props Of<TActor>(Func<TActor> make) where TActor : ActorBase => Props.CreateBy(new Producer<TActor>(make));

    private sealed class Producer<TActor>(Func<TActor> make) : IIndirectActorProducer where TActor : ActorBase
    {
        public Type ActorType => typeof(TActor);

        public ActorBase Produce() => make();

        public void Release(ActorBase actor)
        {
        }
    }
}
