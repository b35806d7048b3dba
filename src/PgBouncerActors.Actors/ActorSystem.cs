namespace PgBouncerActors.Actors;

/// <summary>
/// The root of an actor tree: <c>/user</c> holds the actors made by <see cref="ActorOf"/>.
/// <see cref="Terminate"/> stops them (children before parents) and completes <see cref="WhenTerminated"/>.
/// </summary>
public sealed class ActorSystem : IAsyncDisposable
{
    private readonly ActorCell _guardian;
    private readonly TaskCompletionSource _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _tempCounter;

    private ActorSystem(string name, ActorSystemSettings settings)
    {
        Name = name;
        Settings = settings;
        Scheduler = settings.SchedulerFactory();
        var root = ActorPath.Root(name);
        DeadLettersRef = new DeadLetterActorRef(this, root.Child("deadLetters", 0));
        TempPath = root.Child("temp", 0);
        var rootGuardian = new RootGuardianRef(this, root);
        _guardian = new ActorCell(this, Props.Create(static () => new GuardianActor()), rootGuardian, root.Child("user", 1));
        _guardian.Start();
    }

    public string Name { get; }

    public ActorSystemSettings Settings { get; }

    public IScheduler Scheduler { get; }

    public EventStream EventStream { get; } = new();

    public IActorRef DeadLetters => DeadLettersRef;

    public Task WhenTerminated => _terminated.Task;

    internal DeadLetterActorRef DeadLettersRef { get; }

    internal ActorPath TempPath { get; }

    public static ActorSystem Create(string name, ActorSystemSettings? settings = null)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/'))
        {
            throw new ArgumentException($"Invalid actor system name [{name}].", nameof(name));
        }

        return new ActorSystem(name, settings ?? ActorSystemSettings.Default);
    }

    /// <summary>Creates a top-level actor under <c>/user</c>. Safe from any thread.</summary>
    public IActorRef ActorOf(Props props, string? name = null) => _guardian.ActorOf(props, name);

    public void Stop(IActorRef actor) => _guardian.Stop(actor);

    public Task Terminate()
    {
        _guardian.SelfRef.SendSystemMessage(new Terminate());
        return WhenTerminated;
    }

    public async ValueTask DisposeAsync() => await Terminate().ConfigureAwait(false);

    /// <summary>Lets a caller on a busy path skip building a message nobody will read.</summary>
    public bool IsLogEnabled(ActorLogLevel level) => Settings.Logger.IsEnabled(level);

    public void Log(ActorLogLevel level, ActorPath source, string message, Exception? exception)
    {
        if (IsLogEnabled(level))
        {
            Settings.Logger.Log(level, source.ToString(), message, exception);
        }
    }

    internal ActorPath NextTempPath() =>
        TempPath.Child("$" + Interlocked.Increment(ref _tempCounter).ToString(System.Globalization.CultureInfo.InvariantCulture), 0);

    internal void MarkTerminated() => _terminated.TrySetResult();

    public override string ToString() => $"ActorSystem({Name})";

    private sealed class GuardianActor : ActorBase
    {
        protected internal override bool Receive(object message) => false;
    }

    /// <summary>The guardian's parent: it ends the system when the guardian dies, and stops a failed guardian.</summary>
    private sealed class RootGuardianRef(ActorSystem system, ActorPath path) : IInternalActorRef
    {
        public ActorPath Path { get; } = path;

        public ActorSystem System { get; } = system;

        public bool IsTerminated => System.WhenTerminated.IsCompleted;

        public void Tell(object message, IActorRef? sender) => System.DeadLettersRef.Publish(message, sender, this);

        public void SendSystemMessage(SystemMessage message)
        {
            switch (message)
            {
                case ChildTerminated:
                    System.MarkTerminated();
                    break;
                case Failed failed:
                    System.Log(ActorLogLevel.Error, Path, "The user guardian failed; terminating the system", failed.Cause);
                    failed.Child.SendSystemMessage(new Terminate());
                    break;
            }
        }
    }
}
