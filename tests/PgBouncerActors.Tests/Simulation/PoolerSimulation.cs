using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using Akka.TestKit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Simulation;

/// <summary>
/// The actor tree (listener, sessions, pool, backends) in a TestKit system, between bare wire
/// clients and a scripted fake server; a probe on the event stream sees server connections open and close.
/// </summary>
public abstract class PoolerSimulation : Akka.TestKit.Xunit2.TestKit
{
    private protected PoolerSimulation(ITestOutputHelper output, string pgbouncerSettings) : base(AkkaSpecConfig.With(), output: output)
    {
        Events = CreateTestProbe();
        Sys.EventStream.Subscribe(Events.Ref, typeof(ServerConnectionEvent));
        var settings = SettingsLoader.LoadString($$"""
            pgbouncer { listen_port = 0, auth_type = trust, {{pgbouncerSettings}} }
            pgbouncer-actors.shutdown_timeout = 0  // the TestKit stops the system at once: no drain
            databases { app { host = 127.0.0.1, port = {{Servers.Port}} } }
            """);
        Pooler = PoolerHost.StartIn(Sys, settings, Serilog.Core.Logger.None);
    }

    /// <summary>Where the pooler's server connections arrive.</summary>
    private protected FakeServer Servers { get; } = new();

    private protected TestProbe Events { get; }

    private protected PoolerHost Pooler { get; }

    /// <summary>A client logged in through the pooler, and the fresh server connection its login opened.</summary>
    private protected async Task<(WireClient Client, FakeServerConnection Server)> LoggedInClientAsync()
    {
        var client = await WireClient.ConnectAsync(Pooler.Port);
        var loggingIn = client.LoginAsync();
        var server = await Servers.AcceptAsync();
        await server.AcceptLoginAsync(processId: 1);
        await loggingIn;
        return (client, server);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Servers.Dispose();
        }

        base.Dispose(disposing);
    }
}
