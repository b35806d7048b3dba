namespace PgBouncerActors.Actors;

public enum ActorLogLevel
{
    Debug,
    Info,
    Warning,
    Error,
}

/// <summary>The kernel's logging hook: the host plugs its logger (Serilog in the pooler) in here.</summary>
public interface IActorLogger
{
    bool IsEnabled(ActorLogLevel level);

    void Log(ActorLogLevel level, string source, string message, Exception? exception);
}

/// <summary>Writes warnings and errors to standard error; the default when the host gives no logger.</summary>
public sealed class StandardErrorActorLogger(ActorLogLevel minimumLevel = ActorLogLevel.Warning) : IActorLogger
{
    public bool IsEnabled(ActorLogLevel level) => level >= minimumLevel;

    public void Log(ActorLogLevel level, string source, string message, Exception? exception) =>
        Console.Error.WriteLine(exception is null
            ? $"[{level}] {source}: {message}"
            : $"[{level}] {source}: {message}{Environment.NewLine}{exception}");
}
