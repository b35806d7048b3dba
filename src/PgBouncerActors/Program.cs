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

    private const string Usage = """
        usage: pgbouncer-actors --config FILE     run the pooler with a HOCON configuration (hocon/reference.conf lists every setting)
               pgbouncer-actors FILE              the same, as pgbouncer takes its ini file
               pgbouncer-actors demo [--port N]   start a scratch PostgreSQL and the pooler in front of it (port 6432 by default)
               pgbouncer-actors --help | --version
        With no arguments, runs the demo.
        """;

    public static async Task<int> Main(string[] args)
    {
        ForwardOnTheSocketThread();
        using var signals = new ProcessSignals();

        try
        {
            switch (args)
            {
                case [] or ["demo"]:
                    return await DemoCommand.RunAsync(6432, signals);
                case ["demo", "--port", var port] when int.TryParse(port, out var number):
                    return await DemoCommand.RunAsync(number, signals);
                case ["--help" or "-h"]:
                    Console.WriteLine(Usage);
                    return 0;
                case ["--version" or "-V"]:
                    Console.WriteLine($"pgbouncer-actors {typeof(Program).Assembly.GetName().Version}");
                    return 0;
                case ["--config" or "-c", var file]:
                    return await RunAsync(file, signals);
                case [var file] when !file.StartsWith('-'):
                    return await RunAsync(file, signals);
                default:
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }
        catch (ConfigurationException e)
        {
            Console.Error.WriteLine($"pgbouncer-actors: {e.Message}");
            return 2;
        }
    }

    private static async Task<int> RunAsync(string configFile, ProcessSignals signals)
    {
        var settings = SettingsLoader.LoadFile(configFile, Environment.GetEnvironmentVariable);
        using var log = Logging.Create(settings);
        foreach (var warning in settings.Warnings)
        {
            log.Logger.Warning("{File}: {Warning}", settings.ConfigFile, warning);
        }

        var host = PoolerHost.Start(settings, log.Logger);
        host.Operate(signals, log);
        await signals.StopRequested;
        await host.StopAsync();
        if (host.FatalError is { } fatal)
        {
            Console.Error.WriteLine($"pgbouncer-actors: {fatal}");
            return 1;
        }

        return 0;
    }
}
