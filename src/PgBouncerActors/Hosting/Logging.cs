using PgBouncerActors.Configuration;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Display;

namespace PgBouncerActors.Hosting;

/// <summary>The pooler's log and the switch that changes its level while it runs (SIGHUP re-reads log_level).</summary>
public sealed class PoolerLog(Logger logger, LoggingLevelSwitch level, ReopenableLogFile file) : IDisposable
{
    public ILogger Logger => logger;

    /// <summary>
    /// Closes the log file and opens <paramref name="path"/> again by name (every RELOAD and SIGHUP,
    /// so that logrotate's moved file is let go; a changed logfile takes effect). A file that cannot
    /// be opened is logged, and the old one stays in use.
    /// </summary>
    public void ReopenFile(string? path)
    {
        var previous = file.Path;
        if (file.Reopen(path) is { } failure)
        {
            logger.Error("cannot open logfile {Path}: {Reason}; still writing to {Previous}", path, failure, previous ?? "(no file)");
        }
    }

    public string Level => level.MinimumLevel.ToString().ToLowerInvariant();

    /// <summary>The level the settings ask for: log_level, or more detail when verbose says so.</summary>
    public void SetLevel(PoolerSettings settings) => level.MinimumLevel = Logging.LevelOf(settings);

    public void Dispose()
    {
        logger.Dispose();
        file.Dispose();
    }
}

public static class Logging
{
    // The console and the file read alike (as PgBouncer's), so one grep or parser serves both.
    private const string LineTemplate = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} {Level:u3} {Message:lj}{NewLine}{Exception}";

    // The journal stamps each line itself.
    private const string JournalTemplate = "{Message:lj}{NewLine}{Exception}";

    /// <summary>log_format: PgBouncer's text lines, or one JSON object per line (<see cref="JsonLineFormatter"/>) for log pipelines.</summary>
    private static ITextFormatter LineFormatter(PoolerSettings settings) =>
        settings.LogFormat == LogFormat.Json ? new JsonLineFormatter() : new MessageTemplateTextFormatter(LineTemplate);

    /// <summary>
    /// The console unless <paramref name="console"/> is false (PgBouncer's -q and -d), with syslog
    /// priorities when it is systemd's journal; a file as well when pgbouncer.logfile is set (opened
    /// again at every reload). The level comes from pgbouncer-actors.log_level, the line's form from
    /// log_format. Every value is escaped before it is written (see <see cref="LogValueEscaping"/>).
    /// </summary>
    public static PoolerLog Create(PoolerSettings settings, bool console = true)
    {
        var level = new LoggingLevelSwitch(LevelOf(settings));
        var configuration = Configure(new LoggerConfiguration().MinimumLevel.ControlledBy(level));
        if (console)
        {
            configuration = configuration.WriteTo.Console(JournalFormatter.StandardOutputIsJournal()
                ? new JournalFormatter(settings.LogFormat == LogFormat.Json ? new JsonLineFormatter() : new MessageTemplateTextFormatter(JournalTemplate))
                : LineFormatter(settings));
        }

        // Always there, empty without a logfile: RELOAD or SET may name one later.
        var file = new ReopenableLogFile(LineFormatter(settings));
        if (file.Reopen(settings.LogFile) is { } failure)
        {
            throw new ConfigurationException($"cannot open logfile {settings.LogFile}: {failure}");
        }

        var logger = configuration.WriteTo.Sink(file).CreateLogger();
        // Akka.Logger.Serilog writes Akka's own lines to Serilog's static logger: make it this one.
        Log.Logger = logger;
        return new PoolerLog(logger, level, file);
    }

    /// <summary>What every pooler log does, whatever its sinks (the tests add theirs).</summary>
    public static LoggerConfiguration Configure(LoggerConfiguration configuration) => configuration.Enrich.With<LogValueEscaping>();

    /// <summary>log_level, lowered to debug by verbose = 1 and to verbose by verbose = 2 (PgBouncer's -v, -vv).</summary>
    internal static LogEventLevel LevelOf(PoolerSettings settings)
    {
        var level = ParseLevel(settings.LogLevel);
        var wanted = settings.Verbose switch
        {
            0 => level,
            1 => LogEventLevel.Debug,
            _ => LogEventLevel.Verbose,
        };
        return wanted < level ? wanted : level;
    }

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
