using PgBouncerActors.Actors.Supervision;

namespace PgBouncerActors.Actors;

/// <summary>
/// Failure and restart. A failing actor suspends its user messages and reports to its parent; the
/// parent's strategy answers Resume, Restart, Stop or Escalate. Directives name the incarnation
/// they answer, so one that arrives after a later restart is ignored.
/// </summary>
internal sealed partial class ActorCell
{
    private Exception? _lastRestartCause;
    private Exception? _pendingRecreateCause;
    private List<Failed>? _escalated;
    private object? _failedMessage;

    private void HandleInvokeFailure(Exception cause, object? message)
    {
        if (IsTerminating)
        {
            System.Log(ActorLogLevel.Warning, Self.Path, "Failure while stopping, ignored: " + cause.Message, cause);
            return;
        }

        if ((_blocks & Blocks.Failed) != 0)
        {
            return; // already waiting for the supervisor's word on an earlier failure
        }

        _blocks |= Blocks.Failed;
        _failedMessage = message;
        _parent.SendSystemMessage(new Failed(SelfRef, cause, Self.Path.Uid, _incarnation));
    }

    private void HandleChildFailed(Failed failed)
    {
        var entry = FindChild(failed.Child.Path.Name);
        if (entry is null || entry.Cell.Self.Path.Uid != failed.Uid || entry.Stopping)
        {
            return; // a report from an earlier actor of that name, or from one already being stopped
        }

        var strategy = Props.SupervisorStrategy ?? _actor?.SupervisorStrategy() ?? SupervisorStrategy.Default;
        var directive = strategy.HandleFailure(entry.RestartStats, failed.Cause, System.Scheduler.Monotonic);
        LogFailure(failed, directive);
        switch (directive)
        {
            case Directive.Resume:
                failed.Child.SendSystemMessage(new Resume(failed.Incarnation));
                break;
            case Directive.Restart:
                failed.Child.SendSystemMessage(new Recreate(failed.Cause, failed.Incarnation));
                break;
            case Directive.Stop:
                Stop(failed.Child);
                break;
            default:
                // The child stays suspended until this actor's own supervisor has decided.
                (_escalated ??= []).Add(failed);
                HandleInvokeFailure(failed.Cause, null);
                break;
        }
    }

    private void LogFailure(Failed failed, Directive directive)
    {
        var quiet = failed.Cause is ActorKilledException or DeathPactException;
        var level = quiet ? ActorLogLevel.Info : directive == Directive.Resume ? ActorLogLevel.Warning : ActorLogLevel.Error;
        System.Log(level, failed.Child.Path, $"{failed.Cause.GetType().Name}: {failed.Cause.Message} (supervisor: {directive})",
            quiet ? null : failed.Cause);
    }

    private void HandleResume(Resume resume)
    {
        if (resume.Incarnation != _incarnation || IsTerminating)
        {
            return;
        }

        _blocks &= ~Blocks.Failed;
        _failedMessage = null;
        foreach (var escalated in TakeEscalated())
        {
            escalated.Child.SendSystemMessage(new Resume(escalated.Incarnation));
        }
    }

    private void HandleRecreate(Recreate recreate)
    {
        if (recreate.Incarnation != _incarnation || IsTerminating)
        {
            return;
        }

        var failedMessage = _failedMessage;
        _failedMessage = null;
        if (_actor is { } oldInstance)
        {
            try
            {
                // The default PreRestart stops the children; the new instance starts without them.
                oldInstance.PreRestart(recreate.Cause, failedMessage);
            }
            catch (Exception exception)
            {
                System.Log(ActorLogLevel.Error, Self.Path, "PreRestart threw; restarting anyway", exception);
            }
        }

        DropIncarnationState();
        _blocks |= Blocks.Restarting;
        _pendingRecreateCause = recreate.Cause;
        if (!HasStoppingChildren())
        {
            FinishRecreate();
        }
    }

    /// <summary>Runs once every child stopped by PreRestart has terminated.</summary>
    private void FinishRecreate()
    {
        _lastRestartCause = _pendingRecreateCause;
        _pendingRecreateCause = null;
        _blocks &= ~(Blocks.Restarting | Blocks.Failed);
        foreach (var escalated in TakeEscalated())
        {
            // A child whose failure was escalated and that PreRestart did not stop is restarted with us.
            if (FindChild(escalated.Child.Path.Name) is { Stopping: false } entry && ReferenceEquals(entry.Cell.Self, escalated.Child))
            {
                escalated.Child.SendSystemMessage(new Recreate(escalated.Cause, escalated.Incarnation));
            }
        }

        CreateInstance();
    }

    /// <summary>
    /// Forgets what belongs to the instance being replaced: its timers and async work. Bumping the
    /// incarnation makes every late timer tick, continuation and directive for it a no-op.
    /// </summary>
    private void DropIncarnationState()
    {
        _timers?.CancelAll();
        _timers = null;
        _blocks &= ~Blocks.AwaitingTask;
        _actor = null;
        _incarnation++;
    }

    private List<Failed> TakeEscalated()
    {
        var escalated = _escalated ?? [];
        _escalated = null;
        return escalated;
    }
}
