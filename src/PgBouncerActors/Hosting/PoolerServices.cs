using Akka.Actor;
using Akka.Streams;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>What every actor of one pooler shares: the settings, the log, and the thread-safe caches.</summary>
internal sealed class PoolerServices(PoolerSettings settings, ILogger log, ActorSystem system)
{
    private volatile UserList _userList = settings.UserList;

    public PoolerSettings Settings { get; } = settings;

    /// <summary>The auth_file as last read: at start-up, then again on every SIGHUP.</summary>
    public UserList UserList
    {
        get => _userList;
        set => _userList = value;
    }

    public ILogger Log { get; } = log;

    /// <summary>
    /// The monotonic clock pools reckon backoff with. It is the system's (a TestKit's virtual
    /// scheduler moves its <c>Now</c> but not its MonotonicClock, so a spec in virtual time sets this).
    /// </summary>
    public Func<TimeSpan> Monotonic { get; init; } = () => system.Scheduler.MonotonicClock;

    /// <summary>Runs the Akka.Streams framing conversations (startup, authentication, server login).</summary>
    public IMaterializer Streams { get; } = system.Materializer(namePrefix: "frames");

    public ScramKeyStore ScramKeys { get; } = new();

    public ScramVerifierCache ScramVerifiers { get; } = new(settings.ScramIterations);

    public CancelKeyRegistry CancelKeys { get; } = new();

    public PoolerStats Stats { get; } = new();
}
