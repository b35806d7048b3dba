using Akka;
using Akka.Actor;
using PgBouncerActors.Configuration;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Session;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>
/// The pooler's graceful shutdown as Akka.NET CoordinatedShutdown tasks, so that SIGINT/SIGTERM,
/// a host stop and a test's dispose all take the same path, phase by phase:
/// service-unbind stops accepting; service-requests-done lets sessions finish for up to
/// shutdown_timeout and closes the rest with 57P01; service-stop stops every pool, whose backends
/// say Terminate to their servers; then Akka terminates the actor system.
/// </summary>
internal static class PoolerShutdown
{
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);

    /// <summary>The phases' own timeouts must outlast shutdown_timeout, or Akka would cut the drain short.</summary>
    public static string PhaseTimeouts(PoolerSettings settings) => $$"""
        akka.coordinated-shutdown {
          exit-clr = off
          run-by-clr-shutdown-hook = off
          phases.service-unbind.timeout = 10s
          phases.service-requests-done.timeout = {{(settings.ShutdownTimeout + Margin).TotalSeconds:0}}s
          phases.service-stop.timeout = {{Margin.TotalSeconds:0}}s
        }
        """;

    public static void Register(ActorSystem system, PoolerSettings settings, ILogger log, IActorRef listener, IActorRef sessions, IActorRef pools)
    {
        var shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceUnbind, "stop-accepting", async () =>
        {
            log.Information("shutting down: no new clients; waiting up to {Timeout}s for sessions to end", settings.ShutdownTimeout.TotalSeconds);
            await listener.Ask<StopListening>(StopListening.Instance, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "drain-sessions", async () =>
        {
            var drained = await sessions.Ask<SessionsDrained>(new DrainSessions(settings.ShutdownTimeout), settings.ShutdownTimeout + Margin)
                .ConfigureAwait(false);
            if (drained.ForcedToClose > 0)
            {
                log.Information("closed {Count} session(s) still open at shutdown_timeout", drained.ForcedToClose);
            }

            return Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceStop, "close-pools", async () =>
        {
            await pools.Ask<PoolsClosed>(CloseAllPools.Instance, Margin).ConfigureAwait(false);
            return Done.Instance;
        });
    }
}
