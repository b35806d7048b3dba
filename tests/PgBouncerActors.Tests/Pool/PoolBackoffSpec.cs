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
/// after a delay that doubles per failure up to server_login_retry. As in PgBouncer, a client
/// already queued keeps its turn through the outage, and a request that arrives while the pool has
/// no connection at all is refused at once with the cached error, and makes the pool try again when
/// the delay allows. The failures are remembered by the pool, not by the short-lived children.
/// </summary>
public sealed class PoolBackoffSpec : Akka.TestKit.Xunit2.TestKit
{
    private readonly PoolerServices _services;

    public PoolBackoffSpec(ITestOutputHelper output)
        : base(AkkaSpecConfig.With("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\""), output: output)
    {
        _services = new PoolerServices(SettingsLoader.LoadString("""
            pgbouncer { listen_port = 0, auth_type = trust, server_login_retry = 4 }
            pgbouncer-actors.server_backoff { min = 1s, random_factor = 0 }
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
    public async Task Login_attempts_follow_the_backoff_while_a_queued_client_keeps_its_turn_and_newcomers_get_the_cached_error()
    {
        var desk = StartPool();

        var queued = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        await AttemptsReachAsync(1);
        await RefusedFastAsync(desk, attempts: 1); // inside the 1s wait: the newcomer is told at once, nothing is tried
        Assert.False(queued.IsCompleted); // the client that was waiting keeps its turn

        Clock.Advance(TimeSpan.FromSeconds(1));
        await AttemptsReachAsync(2); // now 2s
        Clock.Advance(TimeSpan.FromSeconds(1.9));
        await RefusedFastAsync(desk, attempts: 2);
        Clock.Advance(TimeSpan.FromSeconds(0.1));
        await AttemptsReachAsync(3); // now 4s, server_login_retry
        Clock.Advance(TimeSpan.FromSeconds(3.9));
        await RefusedFastAsync(desk, attempts: 3);
        Clock.Advance(TimeSpan.FromSeconds(0.1));
        await AttemptsReachAsync(4);
        Clock.Advance(TimeSpan.FromSeconds(4));
        await AttemptsReachAsync(5); // capped: still 4s, not 8s
        Assert.False(queued.IsCompleted);
    }

    [Fact]
    public async Task With_nobody_queued_a_request_refused_fast_still_makes_the_pool_try_again_once_the_wait_is_over()
    {
        var desk = StartPool();
        var waiter = new DeskWaiter();
        var first = desk.CheckoutAsync(waiter).AsTask();
        await AttemptsReachAsync(1);
        Assert.True(desk.Withdraw(waiter)); // the only client gives up: nobody waits now
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        Clock.Advance(TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        Assert.Equal(1, _services.Stats.ServerLoginAttempts); // nobody asks: nothing is tried

        await RefusedFastAsync(desk, attempts: null); // a newcomer is refused fast, and its request starts an attempt
        await AttemptsReachAsync(2);
    }

    private LendingDesk StartPool()
    {
        var deadPort = ScratchCluster.FreePort(); // nothing listens there: every connect is refused
        var definition = new PoolDefinition(new PoolKey("app", "alice"), new ServerEndpoint("127.0.0.1", deadPort, "app"),
            ServerCredentials.FromSecret("alice", null), PoolSize: 5, MinPoolSize: 0, PoolMode.Transaction);
        var (desk, signals) = PoolSupervisorActor.NewDesk(_services);
        signals.Pool = Sys.ActorOf(PoolSupervisorActor.Props(_services, definition, PoolBudget.Unlimited(), desk), "pool");
        return desk;
    }

    /// <summary>
    /// The pool has made <paramref name="attempts"/> login attempts and handled the failure of each:
    /// its retry is scheduled on the virtual clock, so the spec may move the clock past it (moved
    /// before, the timer would start later than the spec thinks, and the next attempt never come).
    /// </summary>
    private async Task AttemptsReachAsync(long attempts) =>
        await AwaitAssertAsync(() =>
        {
            Assert.Equal(attempts, _services.Stats.ServerLoginAttempts);
            Assert.Equal(attempts, _services.Stats.ServerLoginFailuresHandled);
        }, TimeSpan.FromSeconds(10));

    private async Task RefusedFastAsync(LendingDesk desk, long? attempts)
    {
        var checkout = desk.CheckoutAsync(new DeskWaiter());
        Assert.True(checkout.IsCompleted); // refused in the call itself: no wait at all
        var refused = await Assert.ThrowsAsync<LendingRefusedException>(() => checkout.AsTask());
        Assert.Equal(SqlStates.UnableToConnect, refused.Error.SqlState);
        Assert.StartsWith("server login has been failing, cached error: could not connect to server", refused.Error.Message);
        Assert.EndsWith("(server_login_retry)", refused.Error.Message);
        if (attempts is { } expected)
        {
            await Task.Delay(100);
            Assert.Equal(expected, _services.Stats.ServerLoginAttempts);
        }
    }
}
