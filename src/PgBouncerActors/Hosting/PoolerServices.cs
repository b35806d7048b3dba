using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>What every actor of one pooler shares: the settings, the log, and the thread-safe caches.</summary>
internal sealed class PoolerServices(PoolerSettings settings, ILogger log)
{
    public PoolerSettings Settings { get; } = settings;

    public ILogger Log { get; } = log;

    public ScramKeyStore ScramKeys { get; } = new();

    public ScramVerifierCache ScramVerifiers { get; } = new(settings.ScramIterations);

    public CancelKeyRegistry CancelKeys { get; } = new();

    public PoolerStats Stats { get; } = new();
}
