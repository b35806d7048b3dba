using PgBouncerActors.Configuration;
using Serilog;
using Serilog.Events;

namespace PgBouncerActors.Hosting;

public static class Logging
{
    /// <summary>Console always; a file as well when pgbouncer.logfile is set. The level comes from pgbouncer-actors.log_level.</summary>
    public static Serilog.Core.Logger Create(PoolerSettings settings)
    {
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Is(ParseLevel(settings.LogLevel))
            .WriteTo.Console(outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}");
        if (settings.LogFile is { } file)
        {
            configuration = configuration.WriteTo.File(file, outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} {Level:u3} {Message:lj}{NewLine}{Exception}");
        }

        return configuration.CreateLogger();
    }

    private static LogEventLevel ParseLevel(string level) => level switch
    {
        "verbose" => LogEventLevel.Verbose,
        "debug" => LogEventLevel.Debug,
        "warning" => LogEventLevel.Warning,
        "error" => LogEventLevel.Error,
        "fatal" => LogEventLevel.Fatal,
        _ => LogEventLevel.Information,
    };
}
