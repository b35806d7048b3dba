using System.Net.Sockets;
using Akka.Actor;
using PgBouncerActors.Hosting;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

/// <summary>Listener to sessions: a client connected.</summary>
internal sealed record ClientAccepted(Socket Socket);

/// <summary>Host to sessions: stop; answered with <see cref="SessionsDrained"/> when every session has ended.</summary>
internal sealed record DrainSessions(TimeSpan Grace);

internal sealed record SessionsDrained(int ForcedToClose);

/// <summary>Asks how many client sessions are open (for tests and the admin console).</summary>
internal sealed record CountSessions
{
    public static readonly CountSessions Instance = new();
}

/// <summary>
/// Parent of every ClientSession. Counts them against max_client_conn (the one over the limit
/// still gets a session, which answers its startup with 53300 so the client reads why), and
/// drains them on shutdown: it answers once every session has ended, telling those left at the
/// drain's deadline to end. Its sessions are its children, so it keeps no list of them, and it
/// watches them only while it drains (a watch costs each idle client a few hundred bytes).
/// </summary>
internal sealed class SessionsActor : ReceiveActor, IWithTimers
{
    /// <summary>Keyed timers that deliver to this actor; set by Akka once the instance is made (so used from PreStart on), cancelled when it stops.</summary>
    public ITimerScheduler Timers { get; set; } = null!;
    private readonly PoolerServices _services;
    private readonly IActorRef _pools;
    private long _nextSessionId;
    private IActorRef? _drainReplyTo;
    private bool _closingAll; // the drain's deadline passed: every session was told to end, and a new one would not be
    private int _forced;

    public SessionsActor(PoolerServices services, IActorRef pools)
    {
        _services = services;
        _pools = pools;
        Receive<ClientAccepted>(OnAccepted);
        Receive<Terminated>(_ => ReplyIfDrained());
        Receive<DrainSessions>(drain =>
        {
            _drainReplyTo = Sender;
            foreach (var session in Context.GetChildren())
            {
                Context.Watch(session);
            }

            Timers.StartSingleTimer("drain", DrainDeadline.Instance, drain.Grace);
            ReplyIfDrained();
        });
        Receive<DrainDeadline>(_ =>
        {
            _closingAll = true;
            var sessions = Context.GetChildren().ToList();
            _forced = sessions.Count;
            foreach (var session in sessions)
            {
                session.Tell(ShutdownSession.Instance, Self);
            }
        });
        Receive<CountSessions>(_ => Sender.Tell(Context.GetChildren().Count(), Self));
    }

    public static Props Props(PoolerServices services, IActorRef pools) => ActorProps.Of(() => new SessionsActor(services, pools))
        .WithDispatcher(SessionDispatcher.ConfigPath);

    /// <summary>A session that fails is stopped: its client gets closed, never a half-restarted session.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    private void OnAccepted(ClientAccepted accepted)
    {
        var client = PgSocket.Wrap(accepted.Socket, _services.ClientReceiveBuffers);
        // While the pooler waits for its clients, the Unix socket still lets the admin console in
        // (the session refuses any other database); once it closes what is left, nobody new.
        if (_closingAll)
        {
            client.Abort();
            return;
        }

        // Counted in max_client_conn from here; the session checks the limit at its startup packet and
        // leaves the count the moment it starts to end.
        _services.ClientLimits.Connect();
        var session = Context.ActorOf(ClientSessionActor.Props(_services, client, _pools), $"client-{++_nextSessionId}");
        if (_drainReplyTo is not null)
        {
            Context.Watch(session); // accepted while draining (the admin console over the Unix socket): the drain waits for it too
        }
    }

    private void ReplyIfDrained()
    {
        if (_drainReplyTo is not null && !Context.GetChildren().Any())
        {
            _drainReplyTo.Tell(new SessionsDrained(_forced), Self);
            _drainReplyTo = null;
            Timers.Cancel("drain");
        }
    }

    private sealed record DrainDeadline
    {
        public static readonly DrainDeadline Instance = new();
    }
}
