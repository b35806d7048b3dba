using Akka.TestKit;
using PgBouncerActors.Backend;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Tests.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Pool;

/// <summary>
/// A pool's own timing in virtual time, between its desk and a scripted server: the janitor closes
/// connections idle past server_idle_timeout (down to min_pool_size) and those past server_lifetime,
/// a lent one past its lifetime closes when it comes back, and the reserve pool opens for a client
/// that has waited reserve_pool_timeout. Nothing moves until the spec moves the clock.
/// </summary>
public sealed class PoolJanitorSpec : Akka.TestKit.Xunit2.TestKit
{
    private readonly FakeServer _server = new();
    private readonly List<FakeServerConnection> _served = []; // kept: a collected socket would close under the pool
    private readonly TestProbe _events;
    private readonly DateTimeOffset _start;
    private int _nextProcessId;

    public PoolJanitorSpec(ITestOutputHelper output)
        : base(AkkaSpecConfig.With("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\""), output: output)
    {
        _start = Clock.Now;
        _events = CreateTestProbe();
        Sys.EventStream.Subscribe(_events.Ref, typeof(ServerConnectionEvent));
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    /// <summary>A pool of <paramref name="size"/> over the scripted server, its settings in HOCON, on the virtual clock.</summary>
    private LendingDesk Pool(string settings, int size = 2, int min = 0)
    {
        var services = new PoolerServices(SettingsLoader.LoadString($"pgbouncer {{ listen_port = 0, auth_type = trust, {settings} }}"),
            Serilog.Core.Logger.None, Sys) { Monotonic = () => Clock.Now - _start };
        var definition = new PoolDefinition(new PoolKey("app", "alice"), new ServerEndpoint("127.0.0.1", _server.Port, "app"),
            ServerCredentials.FromSecret("alice", null), size, min, PoolMode.Transaction);
        var (desk, signals) = PoolSupervisorActor.NewDesk(services);
        signals.Pool = Sys.ActorOf(PoolSupervisorActor.Props(services, definition, PoolBudget.Unlimited(), desk));
        return desk;
    }

    /// <summary>The pool opens a connection: the scripted server accepts its login.</summary>
    private async Task ServeLoginAsync()
    {
        var connection = await _server.AcceptAsync();
        _served.Add(connection);
        await connection.AcceptLoginAsync(processId: ++_nextProcessId);
        _events.ExpectMsg<ServerConnectionEvent>(e => e.Opened);
    }

    private async Task<ServerConnection> CheckoutAsync(LendingDesk desk, bool opens = false)
    {
        var checkout = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        if (opens)
        {
            await ServeLoginAsync();
        }

        return await checkout.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Moves the virtual clock a second at a time, so the janitor (every second) runs at each step.</summary>
    private void Pass(TimeSpan time)
    {
        for (var passed = TimeSpan.Zero; passed < time; passed += TimeSpan.FromSeconds(1))
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    private void ExpectClosed(string reason) =>
        Assert.Equal(reason, _events.ExpectMsg<ServerConnectionEvent>(e => !e.Opened, TimeSpan.FromSeconds(10)).Reason);

    [Fact]
    public async Task Connections_idle_past_server_idle_timeout_close_down_to_min_pool_size_and_not_before()
    {
        var desk = Pool("server_idle_timeout = 60", size: 3, min: 1);
        await ServeLoginAsync(); // min_pool_size opens one at once
        var (first, second) = (await CheckoutAsync(desk), await CheckoutAsync(desk, opens: true));
        desk.CheckIn(first);
        desk.CheckIn(second);

        Pass(TimeSpan.FromSeconds(59));
        _events.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Pass(TimeSpan.FromSeconds(2));
        ExpectClosed("server_idle_timeout reached");
        Pass(TimeSpan.FromSeconds(120));
        _events.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the last one is min_pool_size's
        Assert.Equal(1, desk.Counts.Live);
    }

    [Fact]
    public async Task A_connection_past_server_lifetime_closes_idle_by_the_janitor_or_lent_when_it_comes_back()
    {
        var desk = Pool("server_lifetime = 100, server_idle_timeout = 0");
        var (kept, lent) = (await CheckoutAsync(desk, opens: true), await CheckoutAsync(desk, opens: true));
        desk.CheckIn(kept);

        Pass(TimeSpan.FromSeconds(101));
        ExpectClosed("server_lifetime reached"); // the idle one, by the janitor
        _events.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the lent one serves its client to the end of its transaction
        desk.CheckIn(lent);
        ExpectClosed("server_lifetime reached");
        Assert.Equal(0, desk.Counts.Live);
    }

    [Fact]
    public async Task A_client_that_waited_reserve_pool_timeout_gets_a_reserve_connection_and_the_pool_shrinks_back_after()
    {
        var desk = Pool("reserve_pool_size = 1, reserve_pool_timeout = 5, server_idle_timeout = 0", size: 1);
        var held = await CheckoutAsync(desk, opens: true);
        var waiting = desk.CheckoutAsync(new DeskWaiter()).AsTask();

        Pass(TimeSpan.FromSeconds(4));
        Assert.False(_server.HasPendingConnection(TimeSpan.FromMilliseconds(200)));
        Pass(TimeSpan.FromSeconds(2));
        await ServeLoginAsync(); // the reserve
        var reserve = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotSame(held, reserve);

        desk.CheckIn(reserve); // nobody waits any more: back to pool_size
        ExpectClosed("over pool_size (a reserve_pool connection, or pool_size was lowered)");
        desk.CheckIn(held);
        Assert.Equal((1, 1), (desk.Counts.Live, desk.Counts.Idle));
    }

    [Fact]
    public async Task A_waiter_past_query_wait_timeout_gets_57014_from_the_janitor_and_the_one_behind_it_waits_on()
    {
        var desk = Pool("query_wait_timeout = 10", size: 1);
        var held = await CheckoutAsync(desk, opens: true);
        var old = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        Pass(TimeSpan.FromSeconds(6));
        var recent = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        Pass(TimeSpan.FromSeconds(6));

        var timedOut = await Assert.ThrowsAsync<LendingRefusedException>(() => old.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("57014", timedOut.Error.SqlState);
        Assert.Contains("query_wait_timeout", timedOut.Error.Message);
        Assert.False(recent.IsCompleted);
        desk.CheckIn(held);
        Assert.Same(held, await recent.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _server.Dispose();
        }

        base.Dispose(disposing);
    }
}
