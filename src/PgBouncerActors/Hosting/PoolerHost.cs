using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PgBouncerActors.Configuration;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Session;
using ILogger = Serilog.ILogger;

namespace PgBouncerActors.Hosting;

/// <summary>
/// A running pooler: a generic host whose Akka.NET actor system (started by Akka.Hosting) runs the
/// listener, sessions and pools. Started by the command line, the demo and the tests alike. Its
/// graceful shutdown is a set of CoordinatedShutdown tasks (see <see cref="PoolerShutdown"/>).
/// </summary>
public sealed class PoolerHost : IAsyncDisposable
{
    private IHost? _host; // set once Start has started it; null for a pooler in a TestKit's system
    private readonly PoolerServices _services;
    private readonly IActorRef _sessions;
    private readonly IActorRef _pools;
    private int _stopped;

    private PoolerHost(ActorSystem system, PoolerServices services, IActorRef sessions, IActorRef pools, int port, int? metricsPort)
    {
        System = system;
        MetricsPort = metricsPort;
        _services = services;
        _sessions = sessions;
        _pools = pools;
        Port = port;
        services.RequestShutdown = mode => _ = StopAsync(mode);
        services.SettingsApplied = applied => pools.Tell(new SettingsChanged(applied));
        if (services.Settings.ConfigFile is { } file)
        {
            services.Reload = () => ConfigurationReload.Run(file, services, services.Log);
        }
    }

    /// <summary>The port clients connect to (the one bound when listen_port is 0).</summary>
    public int Port { get; }

    /// <summary>The port of /metrics and the dashboard; null when they are off.</summary>
    public int? MetricsPort { get; }

    internal ActorSystem System { get; }

    internal PoolerStats Stats => _services.Stats;

    /// <summary>Every logged-in client and its link (specs look at what a client holds).</summary>
    internal Stats.StatisticsRegistry Statistics => _services.Statistics;

    /// <summary>The materializer of the login conversations (specs check that no graph outlives its login).</summary>
    internal Framing.ConversationGraphs Conversations => _services.Conversations;

    internal PoolerSettings Settings => _services.Settings;

    internal Net.ReceiveBufferPool ClientReceiveBuffers => _services.ClientReceiveBuffers;

    /// <summary>Why the pooler stopped itself (it could not listen any more); null when it did not. The process exits with an error then.</summary>
    public string? FatalError => _services.FatalError;

    /// <summary>
    /// Hands the process's signals to the pooler: SIGHUP reloads as RELOAD does, SIGUSR1 and
    /// SIGUSR2 pause and resume every pool, SHUTDOWN on the console stops as the process's owner
    /// waits for (<see cref="ProcessSignals.StopRequested"/>), and log_level follows the settings in force.
    /// </summary>
    public void Operate(ProcessSignals signals, PoolerLog log)
    {
        var services = _services;
        var tellPools = services.SettingsApplied;
        services.SettingsApplied = applied =>
        {
            log.SetLevel(applied);
            log.ReopenFile(applied.LogFile);
            tellPools(applied);
        };
        services.RequestShutdown = signals.RequestStop;
        signals.OnReload(() =>
        {
            SystemdNotify.Reloading();
            try
            {
                services.Reload();
            }
            catch (ConfigurationException e)
            {
                log.Logger.Error("SIGHUP: nothing reloaded: {Error}", e.Message);
            }
            finally
            {
                SystemdNotify.Ready();
            }
        }, log.Logger);
        signals.OnPauseResume(
            () =>
            {
                log.Logger.Information("SIGUSR1: pausing every pool (as PAUSE)");
                _pools.Ask<PoolsCommanded>(new CommandPools(PoolCommand.Pause, null)).ContinueWith(
                    paused => log.Logger.Information("SIGUSR1: every pool is paused: {Outcome}",
                        paused.IsCompletedSuccessfully ? "no server connection is in use" : "the pooler is stopping"),
                    TaskScheduler.Default);
            },
            () =>
            {
                log.Logger.Information("SIGUSR2: resuming every pool (as RESUME)");
                _pools.Tell(new CommandPools(PoolCommand.Resume, null));
            });
    }

    /// <summary>New settings in force, as RELOAD or SET puts them (specs).</summary>
    internal void Apply(PoolerSettings settings) => _services.Apply(settings);

    /// <summary>
    /// Binds the listening socket (so an address in use fails here, at startup), then starts the
    /// generic host: Akka.Hosting creates the actor system from the file's <c>akka</c> section and
    /// the pooler's actors in it.
    /// </summary>
    public static PoolerHost Start(PoolerSettings settings, ILogger log)
    {
        var listenSocket = Bind(settings);
        PoolerHost? started = null;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddAkka(Cluster.PoolerCluster.SystemName, akka =>
        {
            akka.AddHocon(ActorSystemConfig(settings), HoconAddMode.Prepend);
            akka.WithActors((system, _) => started = StartActors(system, settings, log, listenSocket));
        });
        var host = builder.Build();
        try
        {
            host.StartAsync().GetAwaiter().GetResult();
        }
        catch
        {
            listenSocket.Dispose();
            host.Dispose();
            throw;
        }

        started!._host = host;
        return started;
    }

    /// <summary>Starts the pooler's actors in a given system (a TestKit's, so probes can watch its events).</summary>
    internal static PoolerHost StartIn(ActorSystem system, PoolerSettings settings, ILogger log) =>
        StartActors(system, settings, log, Bind(settings));

    /// <summary>The file's akka section, with the shutdown phases long enough for shutdown_timeout and the sessions' mailbox.</summary>
    internal static Akka.Configuration.Config ActorSystemConfig(PoolerSettings settings) =>
        Akka.Configuration.ConfigurationFactory.ParseString(PoolerShutdown.PhaseTimeouts(settings) + "\n" + Session.SessionMailbox.Hocon + "\n" + SessionDispatcher.Hocon + "\n" +
                Cluster.PoolerCluster.Hocon(settings))
            .WithFallback(Akka.Configuration.ConfigurationFactory.ParseString(settings.Akka));

    private static PoolerHost StartActors(ActorSystem system, PoolerSettings settings, ILogger log, Socket listenSocket)
    {
        var services = new PoolerServices(settings, log, system);
        StartAkkaPartsThatBlockOnFirstUse(system, services.Conversations.Materializer);
        Cluster.PoolerCluster.Start(system, services); // before the pools: a limited budget registers with this instance's agent
        var pools = system.ActorOf(PoolRegistryActor.Props(services), "pools");
        var sessions = system.ActorOf(SessionsActor.Props(services, pools), "sessions");
        system.ActorOf(PgBouncerActors.Stats.StatsPeriodActor.Props(services), "stats");
        system.ActorOf(PgBouncerActors.Stats.LinkWatchdogActor.Props(services), "watchdog");
        var port = ((IPEndPoint)listenSocket.LocalEndPoint!).Port;
        Socket? unixSocket;
        try
        {
            unixSocket = UnixSocketListener.Bind(settings, port);
        }
        catch
        {
            listenSocket.Dispose();
            throw;
        }

        Socket[] listening = unixSocket is null ? [listenSocket] : [listenSocket, unixSocket];
        var recovery = new ListenerRecovery(
            Reopen: closed => closed.AddressFamily == AddressFamily.Unix
                ? UnixSocketListener.Bind(settings, port) ?? throw new ConfigurationException("unix_socket_dir is empty")
                : Bind(settings with { ListenPort = port }),
            Fatal: services.StopWithError);
        var listener = system.ActorOf(ListenerActor.Props(listening, sessions, log, recovery), "listener");
        PoolerShutdown.Register(system, services, log, listener, sessions, pools);
        if (unixSocket is not null)
        {
            log.Information("listening on unix:{Path}", unixSocket.LocalEndPoint);
        }

        log.Information("listening on {Address}:{Port} (pool_mode={Mode}, auth_type={Auth}, max_client_conn={MaxClients}, default_pool_size={PoolSize})",
            settings.ListenAddress, port, settings.PoolMode, settings.AuthType, settings.MaxClientConnections, settings.DefaultPoolSize);
        return new PoolerHost(system, services, sessions, pools, port, StartMetrics(system, services, pools, sessions, log));
    }

    /// <summary>/metrics and the dashboard, when a port is set; they serve until the actor system is about to end, through the drain.</summary>
    private static int? StartMetrics(ActorSystem system, PoolerServices services, IActorRef pools, IActorRef sessions, ILogger log)
    {
        if (services.Metrics is not { } metrics)
        {
            return null;
        }

        var server = PgBouncerActors.Metrics.MetricsServer.Start(services.Settings.Metrics, services, pools, sessions, metrics);
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "stop-metrics", async () =>
        {
            await server.DisposeAsync().ConfigureAwait(false);
            return Akka.Done.Instance;
        });
        log.Information("metrics on http://{Address}:{Port}/metrics, dashboard on http://{Address}:{Port}/",
            services.Settings.Metrics.ListenAddress, server.Port, services.Settings.Metrics.ListenAddress, server.Port);
        return server.Port;
    }

    /// <summary>
    /// Two parts of Akka block the calling thread the first time they are used, until work they
    /// queued on the thread pool has run: the materializer asks its supervisor actor (for as long
    /// as that has not started) and the scheduler waits for its timer loop to start. The first
    /// sessions after startup would use both from actor threads at once, each blocking a pool
    /// thread while the work they wait for sits queued behind them: on a small machine logins
    /// stalled for seconds, and on a thread pool that cannot grow they hung for good. So both
    /// are started here, on the starting thread, before anything listens. The wait is for order, not
    /// a deadline: on a machine busy enough that the thread pool runs nothing new for ten seconds
    /// (seen once, a test run starting many poolers on 2 cores) the start must not fail for it.
    /// </summary>
    private static void StartAkkaPartsThatBlockOnFirstUse(ActorSystem system, Akka.Streams.IMaterializer streams)
    {
        var supervisor = ((Akka.Streams.ActorMaterializer)streams).Supervisor;
        supervisor.Ask<ActorIdentity>(new Identify(null), TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        system.Scheduler.Advanced.ScheduleOnce(TimeSpan.Zero, static () => { }); // returns once the timer loop runs
    }

    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    private static Socket Bind(PoolerSettings settings)
    {
        var address = ListenAddress.Resolve(settings.ListenAddress);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (settings.SoReusePort)
            {
                if (!OperatingSystem.IsLinux())
                {
                    throw new ConfigurationException("so_reuseport = 1: supported on Linux only");
                }

                // SO_REUSEPORT (15 on Linux): every process of the group listens, the kernel spreads new connections.
                socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            }

            socket.Bind(new IPEndPoint(address, settings.ListenPort));
            socket.Listen(1024);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ConfigurationException($"cannot listen on {settings.ListenAddress}:{settings.ListenPort}: {e.Message}", e);
        }
    }

    /// <summary>How many client sessions are open now.</summary>
    internal Task<int> CountSessionsAsync() => _sessions.Ask<int>(CountSessions.Instance, TimeSpan.FromSeconds(5));

    /// <summary>
    /// Runs CoordinatedShutdown (through the host when there is one) in <paramref name="mode"/>
    /// (see <see cref="ShutdownMode"/>): stop accepting over TCP, let clients or transactions
    /// finish for up to shutdown_timeout, close the rest with 57P01, say Terminate to every server
    /// connection, stop the actors. Idempotent: a second call waits for the first.
    /// </summary>
    public async Task StopAsync(ShutdownMode mode = ShutdownMode.WaitForClients)
    {
        _services.BeginStopping(mode);
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            await System.WhenTerminated.ConfigureAwait(false);
            return;
        }

        if (_host is not null)
        {
            await _host.StopAsync().ConfigureAwait(false);
        }
        else
        {
            await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance).ConfigureAwait(false);
        }

        await System.WhenTerminated.ConfigureAwait(false);
        _host?.Dispose();
        _services.Log.Information("shutdown complete");
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
