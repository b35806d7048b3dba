using PgBouncerActors.Configuration;
using PgBouncerActors.Demo;
using PgBouncerActors.Hosting;

namespace PgBouncerActors;

public static class Program
{
    /// <summary>
    /// A pooler's work after a socket read is short and never blocks (forward the bytes, maybe
    /// tell an actor), so it runs on the socket engine's own thread instead of hopping to the
    /// thread pool first: measured in the side-by-side benchmark, session-mode pgbench -S went
    /// from 13.5k to 19k tps and from 66 to 41 microseconds of pooler CPU per transaction. Read
    /// once, when the first socket is made, so it must be set before that; an operator's own
    /// DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 wins.
    /// </summary>
    private static void ForwardOnTheSocketThread()
    {
        const string inlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
        if (Environment.GetEnvironmentVariable(inlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(inlineCompletions, "1");
        }
    }

    public static async Task<int> Main(string[] args)
    {
        Posix.TakeBackInterruptAndQuit(); // first: before the runtime looks at signals
        ForwardOnTheSocketThread();
        CommandLine line;
        try
        {
            line = CommandLine.Parse(args);
        }
        catch (CommandLineException e)
        {
            Console.Error.WriteLine($"pgbouncer-actors: {e.Message}");
            Console.Error.WriteLine("Try \"pgbouncer-actors --help\" for more information.");
            return 1;
        }

        switch (line.Kind)
        {
            case CommandKind.Help:
                Console.WriteLine(CommandLine.Usage);
                return 0;
            case CommandKind.Version:
                // The first line is SHOW VERSION's, as PgBouncer's -V and SHOW VERSION agree.
                Console.WriteLine(Admin.ShowTables.VersionText);
                Console.WriteLine($".NET {Environment.Version}");
                return 0;
        }

        using var signals = new ProcessSignals();
        try
        {
            return line.Kind == CommandKind.Demo ? await DemoCommand.RunAsync(line.DemoPort, signals) : await RunAsync(line, args, signals);
        }
        catch (ConfigurationException e)
        {
            Console.Error.WriteLine($"pgbouncer-actors: {e.Message}");
            return 1;
        }
    }

    /// <summary>
    /// In PgBouncer's order: read the configuration, become its user, check the pidfile, go to the
    /// background when asked (-d), then listen, write the pidfile and serve until a signal or SHUTDOWN.
    /// </summary>
    private static async Task<int> RunAsync(CommandLine line, string[] args, ProcessSignals signals)
    {
        var daemonChild = Daemon.IsChild;
        if (daemonChild)
        {
            Daemon.BecomeChild();
        }

        var settings = SettingsLoader.LoadFile(line.ConfigFile!, Environment.GetEnvironmentVariable);
        settings = settings with { Verbose = settings.Verbose + line.Verbose };
        if ((line.User ?? settings.RunAsUser) is { } user)
        {
            Posix.BecomeUser(user);
        }

        if (line.Daemon && settings.PidFile is null)
        {
            throw new ConfigurationException("daemon needs pidfile configured");
        }

        var quiet = line.Quiet || line.Daemon;
        using var log = Logging.Create(settings, console: !quiet);
        using var pidFile = PidFile.Claim(settings.PidFile, message => log.Logger.Information("{Message}", message));
        if (line.Daemon && !daemonChild)
        {
            Daemon.StartChild(args);
            return 0;
        }

        foreach (var warning in settings.Warnings)
        {
            log.Logger.Warning("{File}: {Warning}", settings.ConfigFile, warning);
        }

        var host = PoolerHost.Start(settings, log.Logger);
        pidFile?.Write();
        signals.OnFastExit(() =>
        {
            // PgBouncer's fast exit: no draining, no goodbye to anyone; the pidfile goes, the log is flushed.
            SystemdNotify.Stopping();
            pidFile?.Dispose();
            log.Dispose();
            Posix.ExitNow(0);
        });
        host.Operate(signals, log);
        SystemdNotify.Ready();
        var stop = await signals.StopRequested;
        SystemdNotify.Stopping();
        await host.StopAsync(stop);
        if (host.FatalError is { } fatal)
        {
            Console.Error.WriteLine($"pgbouncer-actors: {fatal}");
            return 1;
        }

        return 0;
    }
}
