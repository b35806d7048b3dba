namespace PgBouncerActors.Actors.Supervision;

/// <summary>
/// Keeps one child alive with exponential backoff between restarts, so that a child which keeps
/// failing (a database that is down) is retried ever more slowly instead of in a tight loop. The
/// restart count lives here, in the supervisor, so it survives the child. Other messages are
/// forwarded to the child, or answered while it is down.
/// </summary>
public sealed class BackoffSupervisor : ReceiveActor
{
    private readonly BackoffOptions _options;
    private IActorRef? _child;
    private int _restartCount;
    private bool _childFailed;

    public BackoffSupervisor(BackoffOptions options)
    {
        _options = options;
        Receive<StartChild>(_ => StartChildNow());
        Receive<ResetRestartCount>(reset =>
        {
            if (reset.AtCount == _restartCount && _child is not null)
            {
                _restartCount = 0;
            }
        });
        Receive<Reset>(_ => _restartCount = 0);
        Receive<GetCurrentChild>(_ => Sender.Tell(new CurrentChild(_child), Self));
        Receive<GetRestartCount>(_ => Sender.Tell(new RestartCount(_restartCount), Self));
        Receive<Terminated>(OnChildTerminated, terminated => ReferenceEquals(terminated.ActorRef, _child));
        ReceiveAny(ForwardOrRefuse);
    }

    /// <summary>Asks for <see cref="CurrentChild"/>.</summary>
    public sealed class GetCurrentChild
    {
        public static readonly GetCurrentChild Instance = new();
    }

    public sealed record CurrentChild(IActorRef? Ref);

    /// <summary>Asks for <see cref="RestartCount"/>.</summary>
    public sealed class GetRestartCount
    {
        public static readonly GetRestartCount Instance = new();
    }

    public sealed record RestartCount(int Count);

    /// <summary>Sets the restart count back to zero (the manual reset).</summary>
    public sealed class Reset
    {
        public static readonly Reset Instance = new();
    }

    protected internal override void PreStart() => StartChildNow();

    protected internal override SupervisorStrategy SupervisorStrategy() => _options.Mode == BackoffMode.OnFailure
        ? new OneForOneStrategy(cause =>
        {
            // In OnFailure mode a failure is what the backoff is for: stop the child, restart it later.
            var directive = _options.ChildStrategy.Decide(cause);
            if (directive == Directive.Restart)
            {
                _childFailed = true;
                return Directive.Stop;
            }

            return directive;
        })
        : _options.ChildStrategy;

    private void StartChildNow()
    {
        if (_child is not null)
        {
            return;
        }

        _childFailed = false;
        _child = Context.Watch(Context.ActorOf(_options.ChildProps, _options.ChildName));
        if (_options.ResetBackoff is { } stableAfter && _restartCount > 0)
        {
            Timers.StartSingleTimer("reset", new ResetRestartCount(_restartCount), stableAfter);
        }
    }

    private void OnChildTerminated(Terminated terminated)
    {
        _child = null;
        Timers.Cancel("reset");
        if (_options.Mode == BackoffMode.OnFailure && !_childFailed)
        {
            Context.Stop(Self); // the child chose to stop: so does its supervisor
            return;
        }

        if (_options.MaxNrOfRetries >= 0 && _restartCount >= _options.MaxNrOfRetries)
        {
            Context.Stop(Self);
            return;
        }

        var delay = _options.CalculateDelay(_restartCount, Random.Shared.NextDouble());
        _restartCount++;
        Timers.StartSingleTimer("start-child", StartChild.Instance, delay);
    }

    private void ForwardOrRefuse(object message)
    {
        if (_child is not null)
        {
            _child.Forward(message, Context);
        }
        else if (_options.ReplyWhileStopped is { } reply)
        {
            Sender.Tell(reply, Self);
        }
        else
        {
            Context.System.DeadLetters.Tell(new DeadLetter(message, Sender, Self), Sender);
        }
    }

    private sealed class StartChild
    {
        public static readonly StartChild Instance = new();
    }

    private sealed record ResetRestartCount(int AtCount);
}
