using System.Net;
using System.Net.Sockets;
using PgBouncerActors.Actors;
using PgBouncerActors.Configuration;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Session;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>
/// A running pooler: the actor system with its listener, sessions and pools. Started by the
/// command line, the demo and the tests alike.
/// </summary>
public sealed class PoolerHost : IAsyncDisposable
{
    private readonly ActorSystem _system;
    private readonly IActorRef _listener;
    private readonly IActorRef _sessions;
    private readonly IActorRef _pools;
    private readonly PoolerSettings _settings;
    private readonly ILogger _log;
    private int _stopped;

    private PoolerHost(ActorSystem system, IActorRef listener, IActorRef sessions, IActorRef pools, PoolerSettings settings, ILogger log, int port,
        PoolerStats stats)
    {
        Stats = stats;
        _system = system;
        _listener = listener;
        _sessions = sessions;
        _pools = pools;
        _settings = settings;
        _log = log;
        Port = port;
    }

    /// <summary>The port clients connect to (the one bound when listen_port is 0).</summary>
    public int Port { get; }

    internal ActorSystem System => _system;

    internal PoolerStats Stats { get; }

    internal PoolerSettings Settings => _settings;

    private PoolerServices Services { get; init; } = null!;

    /// <summary>A re-read auth_file: new logins check against it from now on.</summary>
    internal void ReplaceUserList(UserList users) => Services.UserList = users;

    /// <summary>Binds the listening socket (so an address in use fails here, at startup) and starts the actors.</summary>
    public static PoolerHost Start(PoolerSettings settings, ILogger log) =>
        StartIn(ActorSystem.Create("pgbouncer-actors", new ActorSystemSettings
        {
            Throughput = settings.ActorThroughput,
            Logger = new SerilogActorLogger(log),
        }), settings, log);

    /// <summary>Starts the pooler's actors in a given system (a TestKit's, so probes can watch its events).</summary>
    internal static PoolerHost StartIn(ActorSystem system, PoolerSettings settings, ILogger log)
    {
        var listenSocket = Bind(settings);
        var services = new PoolerServices(settings, log);
        var pools = system.ActorOf(PoolRegistryActor.Props(services), "pools");
        var sessions = system.ActorOf(SessionsActor.Props(services, pools), "sessions");
        var listener = system.ActorOf(ListenerActor.Props(listenSocket, sessions, log), "listener");
        var port = ((IPEndPoint)listenSocket.LocalEndPoint!).Port;
        log.Information("listening on {Address}:{Port} (pool_mode={Mode}, auth_type={Auth}, max_client_conn={MaxClients}, default_pool_size={PoolSize})",
            settings.ListenAddress, port, settings.PoolMode, settings.AuthType, settings.MaxClientConnections, settings.DefaultPoolSize);
        return new PoolerHost(system, listener, sessions, pools, settings, log, port, services.Stats) { Services = services };
    }

    private static Socket Bind(PoolerSettings settings)
    {
        var address = settings.ListenAddress is "*" or "" ? IPAddress.Any
            : IPAddress.TryParse(settings.ListenAddress, out var parsed) ? parsed
            : Dns.GetHostAddresses(settings.ListenAddress).First();
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
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
    /// Stops accepting, lets sessions finish for up to shutdown_timeout, closes the rest with
    /// 57P01, says Terminate to every server connection, and stops the actors. Idempotent.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            await _system.WhenTerminated.ConfigureAwait(false);
            return;
        }

        _log.Information("shutting down: no new clients; waiting up to {Timeout}s for sessions to end", _settings.ShutdownTimeout.TotalSeconds);
        await _listener.Ask<StopListening>(StopListening.Instance, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        var drained = await _sessions.Ask<SessionsDrained>(new DrainSessions(_settings.ShutdownTimeout),
            _settings.ShutdownTimeout + TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (drained.ForcedToClose > 0)
        {
            _log.Information("closed {Count} session(s) still open at shutdown_timeout", drained.ForcedToClose);
        }

        await _pools.Ask<PoolsClosed>(CloseAllPools.Instance, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await _system.Terminate().ConfigureAwait(false);
        _log.Information("shutdown complete");
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
