using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Demo;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Pool;

/// <summary>
/// A pool in front of a database that refuses connections, in virtual time: it tries again only
/// after a delay that doubles per failure, and meanwhile every client waiting at its desk gets the
/// server's error at once. The failures are remembered by the pool, not by the short-lived children.
/// </summary>
public sealed class PoolBackoffSpec : Akka.TestKit.Xunit2.TestKit
{
    private readonly PoolerServices _services;

    public PoolBackoffSpec(ITestOutputHelper output)
        : base(AkkaSpecConfig.With("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\""), output: output)
    {
        _services = new PoolerServices(SettingsLoader.LoadString("""
            pgbouncer { listen_port = 0, auth_type = trust }
            pgbouncer-actors.server_backoff { min = 1s, max = 4s, random_factor = 0 }
            """), Serilog.Core.Logger.None, Sys)
        {
            Monotonic = () => Clock.Now - Start,
        };
        Start = Clock.Now;
    }

    private DateTimeOffset Start { get; }

    /// <summary>Akka's virtual clock: timers and backoff delays move only when the spec advances it.</summary>
    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    [Fact]
    public async Task Login_attempts_follow_the_backoff_and_clients_get_the_servers_error_meanwhile()
    {
        var deadPort = ScratchCluster.FreePort(); // nothing listens there: every connect is refused
        var definition = new PoolDefinition(new PoolKey("app", "alice"), new ServerEndpoint("127.0.0.1", deadPort, "app"),
            ServerCredentials.FromSecret("alice", null), PoolSize: 5, MinPoolSize: 0, PoolMode.Transaction);
        var (desk, signals) = PoolSupervisorActor.NewDesk(_services);
        signals.Pool = Sys.ActorOf(PoolSupervisorActor.Props(_services, definition, PoolBudget.Unlimited(), desk), "pool");

        await FailsAfterAttemptAsync(desk, 1); // the first request tries and fails: the client gets the server's own error
        await FailsWithoutAttemptAsync(desk, 1); // inside the 1s backoff: no new attempt, the same error at once

        Clock.Advance(TimeSpan.FromSeconds(1));
        await FailsAfterAttemptAsync(desk, 2); // now 2s
        Clock.Advance(TimeSpan.FromSeconds(1.9));
        await FailsWithoutAttemptAsync(desk, 2);
        Clock.Advance(TimeSpan.FromSeconds(0.1));
        await FailsAfterAttemptAsync(desk, 3); // now 4s, the cap
        Clock.Advance(TimeSpan.FromSeconds(3.9));
        await FailsWithoutAttemptAsync(desk, 3);
        Clock.Advance(TimeSpan.FromSeconds(0.1));
        await FailsAfterAttemptAsync(desk, 4);
        Clock.Advance(TimeSpan.FromSeconds(4));
        await FailsAfterAttemptAsync(desk, 5); // capped: still 4s, not 8s
    }

    private async Task FailsAfterAttemptAsync(LendingDesk desk, long attempts)
    {
        var failed = await CheckoutFailsAsync(desk, TimeSpan.FromSeconds(10));
        Assert.Equal(SqlStates.UnableToConnect, failed.Error.SqlState);
        Assert.Contains("could not connect", failed.Error.Message);
        Assert.Equal(attempts, _services.Stats.ServerLoginAttempts);
    }

    private async Task FailsWithoutAttemptAsync(LendingDesk desk, long attempts)
    {
        var failed = await CheckoutFailsAsync(desk, TimeSpan.FromSeconds(1));
        Assert.Equal(SqlStates.UnableToConnect, failed.Error.SqlState);
        Assert.Equal(attempts, _services.Stats.ServerLoginAttempts);
    }

    /// <summary>A client's checkout at the pool's desk: it waits, and its wait ends with the error the pool has for it.</summary>
    private static async Task<LendingRefusedException> CheckoutFailsAsync(LendingDesk desk, TimeSpan within) =>
        await Assert.ThrowsAsync<LendingRefusedException>(() => desk.CheckoutAsync(new DeskWaiter()).AsTask().WaitAsync(within));
}
