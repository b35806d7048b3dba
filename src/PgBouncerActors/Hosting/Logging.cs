using PgBouncerActors.Configuration;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace PgBouncerActors.Hosting;

/// <summary>The pooler's log and the switch that changes its level while it runs (SIGHUP re-reads log_level).</summary>
public sealed class PoolerLog(Logger logger, LoggingLevelSwitch level) : IDisposable
{
    public ILogger Logger => logger;

    public string Level => level.MinimumLevel.ToString().ToLowerInvariant();

    public void SetLevel(string name) => level.MinimumLevel = Logging.ParseLevel(name);

    public void Dispose() => logger.Dispose();
}

public static class Logging
{
    private const string ConsoleTemplate = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}";
    private const string FileTemplate = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} {Level:u3} {Message:lj}{NewLine}{Exception}";

    /// <summary>
    /// Console always; a file as well when pgbouncer.logfile is set. The level comes from
    /// pgbouncer-actors.log_level. Every value is escaped before it is written (see <see cref="LogValueEscaping"/>).
    /// </summary>
    public static PoolerLog Create(PoolerSettings settings)
    {
        var level = new LoggingLevelSwitch(ParseLevel(settings.LogLevel));
        var configuration = Configure(new LoggerConfiguration().MinimumLevel.ControlledBy(level))
            .WriteTo.Console(outputTemplate: ConsoleTemplate);
        if (settings.LogFile is { } file)
        {
            configuration = configuration.WriteTo.File(file, outputTemplate: FileTemplate);
        }

        var logger = configuration.CreateLogger();
        // Akka.Logger.Serilog writes Akka's own lines to Serilog's static logger: make it this one.
        Log.Logger = logger;
        return new PoolerLog(logger, level);
    }

    /// <summary>What every pooler log does, whatever its sinks (the tests add theirs).</summary>
    public static LoggerConfiguration Configure(LoggerConfiguration configuration) => configuration.Enrich.With<LogValueEscaping>();

    internal static LogEventLevel ParseLevel(string level) => level switch
    {
        "verbose" => LogEventLevel.Verbose,
        "debug" => LogEventLevel.Debug,
        "warning" => LogEventLevel.Warning,
        "error" => LogEventLevel.Error,
        "fatal" => LogEventLevel.Fatal,
        _ => LogEventLevel.Information,
    };
}
