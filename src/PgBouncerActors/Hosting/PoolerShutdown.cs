using Akka;
using Akka.Actor;
using PgBouncerActors.Configuration;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Session;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>
/// The pooler's shutdown as Akka.NET CoordinatedShutdown tasks, so that SIGINT/SIGTERM, SHUTDOWN,
/// a host stop and a test's dispose all take the same path, phase by phase, in the mode the stop
/// was asked in (<see cref="PoolerServices.Stopping"/>, see <see cref="ShutdownMode"/>):
/// service-unbind stops accepting over TCP (the Unix socket stays for the admin console);
/// service-requests-done waits for up to shutdown_timeout (for every client to leave, or for every
/// server connection to come back with the pools paused) and closes the sessions left with 57P01;
/// service-stop closes the Unix socket and stops every pool, whose backends say Terminate to their
/// servers; then Akka terminates the actor system.
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

    public static void Register(ActorSystem system, PoolerServices services, ILogger log, IActorRef listener, IActorRef sessions, IActorRef pools)
    {
        var shutdown = CoordinatedShutdown.Get(system);
        ShutdownMode Mode() => services.Stopping ?? ShutdownMode.WaitForClients;
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceUnbind, "stop-accepting", async () =>
        {
            var timeout = services.Settings.ShutdownTimeout;
            log.Information(Mode() switch
            {
                ShutdownMode.WaitForServers => "shutting down: no new clients over TCP; waiting up to {Timeout}s for server connections to be released",
                ShutdownMode.WaitForClients => "shutting down: no new clients over TCP; waiting up to {Timeout}s for sessions to end",
                _ => "shutting down: no new clients; closing every session",
            }, timeout.TotalSeconds);
            if (Mode() == ShutdownMode.WaitForServers)
            {
                pools.Tell(new RefuseWaiters(ShutdownRefusal.ServerShuttingDown)); // those already queued; a new request is refused by its link
            }

            await listener.Ask<StopListening>(new StopListening(TcpOnly: Mode() != ShutdownMode.Immediate), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "drain-sessions", async () =>
        {
            var timeout = services.Settings.ShutdownTimeout;
            var grace = timeout;
            switch (Mode())
            {
                case ShutdownMode.WaitForServers:
                    // PAUSE: no transaction begins; once every server connection is back, the clients left are closed.
                    try
                    {
                        if (timeout > TimeSpan.Zero)
                        {
                            await pools.Ask<PoolsCommanded>(new CommandPools(PoolCommand.Pause, null), timeout).ConfigureAwait(false);
                            log.Information("shutting down: every server connection is released");
                        }
                    }
                    catch (Exception e) when (e is AskTimeoutException or OperationCanceledException)
                    {
                        log.Information("shutting down: server connections still in use at shutdown_timeout");
                    }

                    grace = TimeSpan.Zero;
                    break;
                case ShutdownMode.Immediate:
                    grace = TimeSpan.Zero;
                    break;
            }

            var drained = await sessions.Ask<SessionsDrained>(new DrainSessions(grace), timeout + Margin).ConfigureAwait(false);
            if (drained.ForcedToClose > 0)
            {
                log.Information(grace > TimeSpan.Zero ? "closed {Count} session(s) still open at shutdown_timeout" : "closed {Count} session(s)",
                    drained.ForcedToClose);
            }

            return Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceStop, "close-pools", async () =>
        {
            await listener.Ask<StopListening>(new StopListening(TcpOnly: false), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await pools.Ask<PoolsClosed>(CloseAllPools.Instance, Margin).ConfigureAwait(false);
            return Done.Instance;
        });
    }
}
