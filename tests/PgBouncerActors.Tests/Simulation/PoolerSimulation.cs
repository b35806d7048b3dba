using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.TestKit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Simulation;

/// <summary>
/// The actor tree (listener, sessions, pool, backends) in a TestKit system, between bare wire
/// clients and a scripted fake server; a probe on the event stream sees server connections open and close.
/// </summary>
public abstract class PoolerSimulation : TestKit.TestKit, IDisposable
{
    private protected PoolerSimulation(ITestOutputHelper output, string pgbouncerSettings) : base(output)
    {
        Events = CreateTestProbe();
        Sys.EventStream.Subscribe(Events.Ref, typeof(ServerConnectionEvent));
        var settings = SettingsLoader.LoadString($$"""
            pgbouncer { listen_port = 0, auth_type = trust, {{pgbouncerSettings}} }
            databases { app { host = 127.0.0.1, port = {{Servers.Port}} } }
            """);
        Pooler = PoolerHost.StartIn(Sys, settings, Serilog.Core.Logger.None);
    }

    /// <summary>Where the pooler's server connections arrive.</summary>
    private protected FakeServer Servers { get; } = new();

    private protected TestProbe Events { get; }

    private protected PoolerHost Pooler { get; }

    void IDisposable.Dispose()
    {
        Servers.Dispose();
        base.Dispose();
    }
}
