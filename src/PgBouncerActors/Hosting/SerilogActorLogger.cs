using PgBouncerActors.Actors;
using Serilog;
using Serilog.Events;

namespace PgBouncerActors.Hosting;

/// <summary>Routes the actor kernel's own log (actor failures, dead letters) into Serilog.</summary>
internal sealed class SerilogActorLogger(ILogger log) : IActorLogger
{
    public bool IsEnabled(ActorLogLevel level) => log.IsEnabled(Map(level));

    public void Log(ActorLogLevel level, string source, string message, Exception? exception) =>
        log.Write(Map(level), exception, "{Source}: {Message}", source, message);

    private static LogEventLevel Map(ActorLogLevel level) => level switch
    {
        ActorLogLevel.Debug => LogEventLevel.Debug,
        ActorLogLevel.Info => LogEventLevel.Information,
        ActorLogLevel.Warning => LogEventLevel.Warning,
        _ => LogEventLevel.Error,
    };
}
