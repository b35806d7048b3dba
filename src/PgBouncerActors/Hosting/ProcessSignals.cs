using System.Runtime.InteropServices;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>
/// The process's signals, as PgBouncer 1.25's operators expect them: SIGTERM stops once every
/// client has left (SHUTDOWN WAIT_FOR_CLIENTS), SIGINT once no server connection is in use
/// (SHUTDOWN WAIT_FOR_SERVERS), a second SIGINT or SIGTERM and SIGQUIT exit at once, SIGHUP
/// reloads, SIGUSR1 pauses every pool and SIGUSR2 resumes them (PAUSE and RESUME on the admin
/// console). Left to the runtime, SIGHUP, SIGUSR1 and SIGUSR2 would end the process at once and
/// drop every client. The log lines are PgBouncer's.
/// </summary>
public sealed class ProcessSignals : IDisposable
{
    /// <summary>Linux's numbers for the signals .NET names only as raw values.</summary>
    private const PosixSignal SigUsr1 = (PosixSignal)10;

    private const PosixSignal SigUsr2 = (PosixSignal)12;

    private readonly TaskCompletionSource<ShutdownMode> _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PosixSignalRegistration[] _registrations;
    private volatile Action? _reload;
    private int _reloadPending; // a SIGHUP that came before the pooler could reload (it listens first): run once it can
    private volatile Action _pause = () => { };
    private volatile Action _resume = () => { };
    private volatile Action? _fastExit;
    private volatile ILogger _log = Serilog.Core.Logger.None;

    public ProcessSignals()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, context => Stop(context, ShutdownMode.WaitForServers)),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => Stop(context, ShutdownMode.WaitForClients)),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, FastExit),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => Handle(context, Reload)),
            PosixSignalRegistration.Create(SigUsr1, context => Handle(context, () => _pause())),
            PosixSignalRegistration.Create(SigUsr2, context => Handle(context, () =>
            {
                if (_stop.Task.IsCompleted)
                {
                    _log.Information("got SIGUSR2 while shutting down, ignoring");
                }
                else
                {
                    _resume();
                }
            })),
        ];
    }

    /// <summary>Completes on SIGINT, SIGTERM or SHUTDOWN, with how to stop.</summary>
    public Task<ShutdownMode> StopRequested => _stop.Task;

    /// <summary>Once the pooler runs: what SIGHUP does, and where signals are logged.</summary>
    public void OnReload(Action reload, ILogger log)
    {
        _log = log;
        _reload = reload;
        if (Interlocked.Exchange(ref _reloadPending, 0) == 1)
        {
            // As PgBouncer, whose signal events wait for its loop: the SIGHUP is not lost.
            _ = Task.Run(() =>
            {
                try
                {
                    reload();
                }
                catch (Exception e)
                {
                    _log.Error(e, "handling SIGHUP failed");
                }
            });
        }
    }

    private void Reload()
    {
        if (_reload is { } reload)
        {
            reload();
            return;
        }

        Volatile.Write(ref _reloadPending, 1);
        if (_reload is { } arrived && Interlocked.Exchange(ref _reloadPending, 0) == 1)
        {
            arrived(); // OnReload came meanwhile and did not see the pending one
        }
    }

    /// <summary>Once the pooler runs: what SIGUSR1 (pause) and SIGUSR2 (resume) do.</summary>
    public void OnPauseResume(Action pause, Action resume)
    {
        _pause = pause;
        _resume = resume;
    }

    /// <summary>Once the pooler runs: how to exit at once (SIGQUIT, a second SIGINT or SIGTERM). Before that, SIGQUIT stops the start.</summary>
    public void OnFastExit(Action exit) => _fastExit = exit;

    /// <summary>SHUTDOWN on the admin console, in its mode.</summary>
    public void RequestStop(ShutdownMode mode) => _stop.TrySetResult(mode);

    private void Stop(PosixSignalContext context, ShutdownMode mode)
    {
        context.Cancel = true; // we stop ourselves
        var name = context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM";
        if (_stop.TrySetResult(mode))
        {
            _log.Information(mode == ShutdownMode.WaitForServers
                ? "got {Signal}, shutting down, waiting for all servers connections to be released"
                : "got {Signal}, shutting down, waiting for all clients disconnect", name);
        }
        else if (_fastExit is { } exit)
        {
            _log.Information("got {Signal} while shutting down, fast exit", name);
            exit();
        }
    }

    private void FastExit(PosixSignalContext context)
    {
        context.Cancel = true;
        if (_fastExit is { } exit)
        {
            _log.Information("got SIGQUIT, fast exit");
            exit();
        }
        else
        {
            _stop.TrySetResult(ShutdownMode.Immediate);
        }
    }

    /// <summary>Runs a signal's action off the signal thread, instead of the runtime's default.</summary>
    private void Handle(PosixSignalContext context, Action action)
    {
        context.Cancel = true;
        var signal = context.Signal;
        _ = Task.Run(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                _log.Error(e, "handling {Signal} failed", signal);
            }
        });
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }
}
