namespace PgBouncerActors.Actors;

/// <summary>
/// The kernel's side of one actor: its mailbox, the current instance, its children and watchers,
/// and the state machine of creation, failure, restart and termination. Everything here runs on the
/// actor's own turn (inside <see cref="Mailbox.Execute"/>), one message at a time, except the few
/// members documented as thread-safe.
/// </summary>
internal sealed partial class ActorCell : IActorContext
{
    [ThreadStatic]
    private static ActorCell? t_constructing;

    private readonly IInternalActorRef _parent;
    private ActorBase? _actor;
    private int _incarnation;
    private Blocks _blocks = Blocks.NotCreated;
    private object? _currentMessage;
    private IActorRef? _currentSender;
    private TimerScheduler? _timers;

    public ActorCell(ActorSystem system, Props props, IInternalActorRef parent, ActorPath path)
    {
        System = system;
        Props = props;
        _parent = parent;
        Mailbox = new Mailbox(this);
        SelfRef = new LocalActorRef(this, path);
    }

    /// <summary>Reasons the actor may not take its next user message; it may when none is set.</summary>
    [Flags]
    private enum Blocks
    {
        None = 0,
        NotCreated = 1,
        Failed = 2,
        AwaitingTask = 4,
        Restarting = 8,
        Terminating = 16,
    }

    public ActorSystem System { get; }

    public Props Props { get; }

    public Mailbox Mailbox { get; }

    public LocalActorRef SelfRef { get; }

    public IActorRef Self => SelfRef;

    public IActorRef Parent => _parent;

    public IActorRef Sender => _currentSender ?? System.DeadLetters;

    public bool CanProcessUserMessages => _blocks == Blocks.None;

    internal TimerScheduler Timers => _timers ??= new TimerScheduler(this);

    private bool IsTerminating => (_blocks & Blocks.Terminating) != 0;

    /// <summary>
    /// Hands the cell to the <see cref="ActorBase"/> constructor running inside the Props factory.
    /// It is read once, synchronously, during construction (a constructor cannot await); afterwards
    /// the actor holds its context in a field.
    /// </summary>
    internal static ActorCell TakeConstructingCell()
    {
        var cell = t_constructing ?? throw new InvalidOperationException(
            "An actor can only be created by ActorOf from Props, not with 'new'.");
        t_constructing = null;
        return cell;
    }

    public void Start() => Mailbox.PostSystem(new Create());

    public void Invoke(object message, IActorRef? sender)
    {
        _currentMessage = message;
        _currentSender = sender;
        try
        {
            switch (message)
            {
                case TimerFired fired:
                    if (fired.Owner != _timers || !fired.Owner.TryAccept(fired, out var timerMessage))
                    {
                        return; // cancelled, replaced, or started by an earlier incarnation
                    }

                    _currentMessage = timerMessage;
                    ReceiveOrUnhandled(timerMessage);
                    break;
                case PoisonPill:
                    Stop(Self);
                    break;
                case Kill:
                    throw new ActorKilledException("Kill");
                case Terminated terminated:
                    if (AcceptTerminated(terminated))
                    {
                        ReceiveOrUnhandled(terminated);
                    }

                    break;
                default:
                    ReceiveOrUnhandled(message);
                    break;
            }
        }
        catch (Exception exception)
        {
            HandleInvokeFailure(exception, message);
        }
        finally
        {
            _currentMessage = null;
            _currentSender = null;
        }
    }

    public void SystemInvoke(SystemMessage message)
    {
        try
        {
            switch (message)
            {
                case Create:
                    HandleCreate();
                    break;
                case Terminate:
                    HandleTerminate();
                    break;
                case Failed failed:
                    HandleChildFailed(failed);
                    break;
                case Recreate recreate:
                    HandleRecreate(recreate);
                    break;
                case Resume resume:
                    HandleResume(resume);
                    break;
                case ChildTerminated childTerminated:
                    HandleChildTerminated(childTerminated);
                    break;
                case Watch watch:
                    HandleWatch(watch);
                    break;
                case Unwatch unwatch:
                    HandleUnwatch(unwatch);
                    break;
                case DeathWatchNotification notification:
                    HandleDeathWatchNotification(notification);
                    break;
                case AsyncContinuation continuation:
                    HandleAsyncContinuation(continuation);
                    break;
                case AsyncTaskCompleted completed:
                    HandleAsyncTaskCompleted(completed);
                    break;
            }
        }
        catch (Exception exception)
        {
            // A kernel bug must not take the thread pool down; say loudly where it happened.
            System.Log(ActorLogLevel.Error, Self.Path, $"Kernel fault while processing {message.GetType().Name}", exception);
        }
    }

    private void ReceiveOrUnhandled(object message)
    {
        var actor = _actor!;
        if (!actor.Receive(message))
        {
            actor.InvokeUnhandled(message);
        }
    }

    private void HandleCreate()
    {
        _blocks &= ~Blocks.NotCreated;
        CreateInstance();
    }

    /// <summary>Makes a new instance from the Props factory and starts it; failure is an initialisation failure.</summary>
    private void CreateInstance()
    {
        try
        {
            t_constructing = this;
            ActorBase actor;
            try
            {
                actor = Props.Factory();
            }
            finally
            {
                t_constructing = null;
            }

            if (!ReferenceEquals(actor.Cell, this))
            {
                throw new InvalidOperationException("The Props factory must return a new actor instance.");
            }

            _actor = actor;
            if (_incarnation == 0)
            {
                actor.PreStart();
            }
            else
            {
                actor.PostRestart(_lastRestartCause!);
            }
        }
        catch (Exception exception)
        {
            HandleInvokeFailure(new ActorInitializationException(Self.Path, exception), null);
        }
    }

    public override string ToString() => SelfRef.ToString();
}
