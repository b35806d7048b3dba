using System.Runtime.InteropServices;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>
/// The process's signals, as PgBouncer's operators expect them: SIGINT and SIGTERM stop cleanly,
/// SIGHUP reloads, SIGUSR1 pauses every pool and SIGUSR2 resumes them (PAUSE and RESUME on the
/// admin console). Left to the runtime, SIGHUP, SIGUSR1 and SIGUSR2 would end the process at
/// once and drop every client.
/// </summary>
public sealed class ProcessSignals : IDisposable
{
    /// <summary>Linux's numbers for the signals .NET names only as raw values.</summary>
    private const PosixSignal SigUsr1 = (PosixSignal)10;

    private const PosixSignal SigUsr2 = (PosixSignal)12;

    private readonly TaskCompletionSource _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PosixSignalRegistration[] _registrations;
    private volatile Action _reload = () => { };
    private volatile Action _pause = () => { };
    private volatile Action _resume = () => { };
    private volatile ILogger _log = Serilog.Core.Logger.None;

    public ProcessSignals()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => Handle(context, () => _reload())),
            PosixSignalRegistration.Create(SigUsr1, context => Handle(context, () => _pause())),
            PosixSignalRegistration.Create(SigUsr2, context => Handle(context, () => _resume())),
        ];
    }

    /// <summary>Completes on SIGINT or SIGTERM.</summary>
    public Task StopRequested => _stop.Task;

    /// <summary>Once the pooler runs: what SIGHUP does, and where signals are logged.</summary>
    public void OnReload(Action reload, ILogger log)
    {
        _log = log;
        _reload = reload;
    }

    /// <summary>Once the pooler runs: what SIGUSR1 (pause) and SIGUSR2 (resume) do.</summary>
    public void OnPauseResume(Action pause, Action resume)
    {
        _pause = pause;
        _resume = resume;
    }

    /// <summary>SHUTDOWN on the admin console: the same stop as SIGTERM.</summary>
    public void RequestStop() => _stop.TrySetResult();

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true; // we stop ourselves, cleanly
        _stop.TrySetResult();
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
