using PgBouncerActors.Backend;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Pool;

/// <summary>
/// A pool's lending desk on its own: who gets a connection, in what order, and every way a wait
/// ends. Each wait must end in an answer: a connection or an error, never silence.
/// </summary>
public sealed class LendingDeskSpec : IDisposable
{
    private readonly DeskConnections _connections = new();
    private readonly RecordingDeskOwner _owner = new();
    private readonly ManualClock _clock = new();

    private LendingDesk NewDesk(int size = 10, TimeSpan? lifetime = null, bool roundRobin = false, Func<bool>? overCap = null) =>
        new(new DeskPolicy(size, lifetime, roundRobin, overCap), () => _clock.Now, _owner);

    /// <summary>Opens <paramref name="count"/> connections at the desk, as the supervisor does: counted as opening, then logged in.</summary>
    private List<ServerConnection> Open(LendingDesk desk, int count)
    {
        var opened = new List<ServerConnection>();
        for (var i = 0; i < count; i++)
        {
            var connection = _connections.Next();
            desk.OpeningStarted();
            desk.Opened(connection);
            opened.Add(connection);
        }

        return opened;
    }

    /// <summary>A new connection, lent at once.</summary>
    private ServerConnection OpenAndLend(LendingDesk desk)
    {
        Open(desk, 1);
        return Now(desk.CheckoutAsync(new DeskWaiter()));
    }

    private static ServerConnection Now(ValueTask<ServerConnection> checkout)
    {
        Assert.True(checkout.IsCompletedSuccessfully, "expected a connection at once");
        return checkout.Result;
    }

    [Fact]
    public void An_idle_connection_is_lent_at_once_the_most_recently_used_first()
    {
        var desk = NewDesk();
        var (first, second) = (Open(desk, 1)[0], Open(desk, 1)[0]);
        Assert.Same(second, Now(desk.CheckoutAsync(new DeskWaiter()))); // warm first
        Assert.Same(first, Now(desk.CheckoutAsync(new DeskWaiter())));
        Assert.Equal(ConnectionOwner.Lent, first.Owner);
        Assert.Equal(new DeskCounts(0, 0, 2, 0, TimeSpan.Zero, false), desk.Counts);
    }

    [Fact]
    public void A_client_gets_its_own_last_connection_back_when_it_is_idle()
    {
        var desk = NewDesk();
        var opened = Open(desk, 3);
        Assert.Same(opened[0], Now(desk.CheckoutAsync(new DeskWaiter(), preferred: opened[0])));
        desk.CheckIn(opened[0]);
        Assert.Same(opened[0], Now(desk.CheckoutAsync(new DeskWaiter(), preferred: opened[0])));
        var taken = Now(desk.CheckoutAsync(new DeskWaiter(), preferred: opened[0])); // lent: another one then
        Assert.NotSame(opened[0], taken);
    }

    [Fact]
    public void With_server_round_robin_the_longest_idle_goes_first_whatever_the_client_used_last()
    {
        var desk = NewDesk(roundRobin: true);
        var opened = Open(desk, 3);
        Assert.Same(opened[0], Now(desk.CheckoutAsync(new DeskWaiter(), preferred: opened[2])));
        Assert.Same(opened[1], Now(desk.CheckoutAsync(new DeskWaiter())));
    }

    [Fact]
    public async Task Waiters_are_served_first_come_first_served_by_the_connections_that_come_back()
    {
        var desk = NewDesk();
        var held = OpenAndLend(desk);
        var waits = Enumerable.Range(0, 3).Select(_ => desk.CheckoutAsync(new DeskWaiter()).AsTask()).ToList();
        Assert.All(waits, wait => Assert.False(wait.IsCompleted));
        Assert.Equal(3, desk.Counts.Waiting);

        desk.CheckIn(held); // straight to the oldest waiter, never idle in between
        Assert.Same(held, await waits[0].WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal((0, 2), (desk.Counts.Idle, desk.Counts.Waiting));
        Assert.False(waits[1].IsCompleted);

        desk.CheckIn(held);
        Assert.Same(held, await waits[1].WaitAsync(TimeSpan.FromSeconds(5)));
        var opened = Open(desk, 1)[0]; // a new connection goes to the next waiter too
        Assert.Same(opened, await waits[2].WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(new DeskCounts(0, 0, 2, 0, TimeSpan.Zero, false), desk.Counts);
    }

    [Fact]
    public async Task A_withdrawn_wait_ends_with_a_cancellation_and_the_next_connection_goes_to_the_one_behind_it()
    {
        var desk = NewDesk();
        var (leaving, staying) = (new DeskWaiter(), new DeskWaiter());
        var left = desk.CheckoutAsync(leaving).AsTask();
        var stays = desk.CheckoutAsync(staying).AsTask();
        Assert.True(desk.Withdraw(leaving));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => left.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(desk.Withdraw(leaving)); // once

        var opened = Open(desk, 1)[0];
        Assert.Same(opened, await stays.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(desk.Withdraw(staying)); // answered already: its connection is on its way
    }

    [Fact]
    public async Task A_wait_withdrawn_with_a_reason_ends_with_that_reason()
    {
        var desk = NewDesk();
        var waiter = new DeskWaiter();
        var wait = desk.CheckoutAsync(waiter).AsTask();
        desk.Withdraw(waiter, new InvalidOperationException("the client cancelled"));
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => wait.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("the client cancelled", failure.Message);
    }

    [Fact]
    public async Task Query_wait_timeout_ends_only_the_waits_that_are_older_than_it_and_says_why()
    {
        var desk = NewDesk();
        var old = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        _clock.Advance(TimeSpan.FromSeconds(3));
        var recent = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(5), desk.Counts.OldestWait);

        var error = PgError.FatalError(SqlStates.QueryCanceled, "query_wait_timeout");
        Assert.Equal(1, desk.FailWaiters(TimeSpan.FromSeconds(4), error));
        Assert.Same(error, (await Assert.ThrowsAsync<LendingRefusedException>(() => old.WaitAsync(TimeSpan.FromSeconds(5)))).Error);
        Assert.False(recent.IsCompleted);
        Assert.Equal(TimeSpan.FromSeconds(2), desk.Counts.OldestWait);
    }

    [Fact]
    public async Task Paused_it_lends_nothing_closes_what_is_idle_and_what_comes_back_then_serves_the_waiters_after_resume()
    {
        var desk = NewDesk();
        var opened = Open(desk, 2);
        var lent = Now(desk.CheckoutAsync(new DeskWaiter()));
        desk.Pause("PAUSE");
        Assert.Equal([opened.Single(c => c != lent)], _owner.Closed.Select(closed => closed.Connection));
        var waiting = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        desk.CheckIn(lent);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(2, _owner.Closed.Count);
        Assert.Equal(0, desk.Counts.Live);
        Assert.Equal(0, _owner.DemandSignals); // nothing to open while paused

        desk.Resume();
        var fresh = Open(desk, 1)[0];
        Assert.Same(fresh, await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_closed_desk_fails_every_waiter_and_every_later_checkout_with_its_error_and_closes_what_comes_back()
    {
        var desk = NewDesk();
        var lent = OpenAndLend(desk);
        var waiting = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        var removed = PgError.FatalError(SqlStates.UnknownDatabase, "database \"app\" was removed");
        desk.Close(removed);
        Assert.Same(removed, (await Assert.ThrowsAsync<LendingRefusedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)))).Error);
        Assert.Same(removed, (await Assert.ThrowsAsync<LendingRefusedException>(() => desk.CheckoutAsync(new DeskWaiter()).AsTask())).Error);
        desk.CheckIn(lent);
        Assert.Contains(_owner.Closed, closed => closed.Connection == lent);

        desk.Reopen();
        Assert.Same(Open(desk, 1)[0], Now(desk.CheckoutAsync(new DeskWaiter())));
    }

    [Fact]
    public void Reconnect_closes_the_idle_connections_now_and_the_lent_ones_when_they_come_back_but_keeps_newer_ones()
    {
        var desk = NewDesk();
        var opened = Open(desk, 2);
        var lent = Now(desk.CheckoutAsync(new DeskWaiter()));
        desk.RetireOpenConnections("RECONNECT");
        Assert.True(desk.ReconnectPending);
        Assert.True(desk.MustReconnect(lent));
        Assert.Equal([(opened.Single(c => c != lent), "RECONNECT", false)], _owner.Closed);
        var fresh = Open(desk, 1)[0];
        Assert.False(desk.MustReconnect(fresh));
        desk.CheckIn(lent);
        Assert.Equal(2, _owner.Closed.Count);
        Assert.Same(fresh, Now(desk.CheckoutAsync(new DeskWaiter())));
    }

    [Fact]
    public void With_server_lifetime_0_a_connection_is_used_once_as_PgBouncer_but_a_login_that_borrowed_it_is_no_use()
    {
        var desk = NewDesk(lifetime: TimeSpan.Zero);
        var connection = Open(desk, 1)[0]; // its login's check-in: idle, not closed
        Assert.Empty(_owner.Closed);
        Assert.Same(connection, Now(desk.CheckoutAsync(new DeskWaiter())));
        desk.CheckIn(connection); // borrowed by a client's login, no request of its went out: not used yet
        Assert.Empty(_owner.Closed);
        Assert.Same(connection, Now(desk.CheckoutAsync(new DeskWaiter())));
        connection.Used = true; // a client's request went out on it
        desk.CheckIn(connection);
        Assert.Equal([(connection, "server_lifetime is 0: a server connection is used once", false)], _owner.Closed);
        Assert.Equal(0, desk.Counts.Live);
    }

    [Fact]
    public void A_connection_past_server_lifetime_closes_when_it_comes_back()
    {
        var desk = NewDesk(lifetime: TimeSpan.FromSeconds(60));
        var connection = OpenAndLend(desk);
        _clock.Advance(TimeSpan.FromSeconds(59));
        desk.CheckIn(connection);
        Assert.Empty(_owner.Closed);
        Now(desk.CheckoutAsync(new DeskWaiter()));
        _clock.Advance(TimeSpan.FromSeconds(2));
        desk.CheckIn(connection);
        Assert.Equal([(connection, "server_lifetime reached", false)], _owner.Closed);
        Assert.Equal(0, desk.Counts.Live);
    }

    [Fact]
    public void Over_the_pool_size_a_connection_that_comes_back_closes_until_the_pool_is_back_to_size()
    {
        var desk = NewDesk(size: 3);
        var opened = Open(desk, 3).Select(_ => Now(desk.CheckoutAsync(new DeskWaiter()))).ToList();
        desk.Policy = desk.Policy with { PoolSize = 1 }; // pool_size lowered
        foreach (var connection in opened)
        {
            desk.CheckIn(connection);
        }

        Assert.Equal(2, _owner.Closed.Count);
        Assert.Equal((1, 1), (desk.Counts.Live, desk.Counts.Idle));
    }

    [Fact]
    public void When_the_cluster_asks_for_fewer_a_connection_that_comes_back_closes()
    {
        var overCap = false;
        var desk = NewDesk(overCap: () => overCap);
        var connection = OpenAndLend(desk);
        overCap = true;
        desk.CheckIn(connection);
        Assert.Single(_owner.Closed);
    }

    [Fact]
    public async Task A_retired_connection_is_closed_once_and_never_lent_again_whatever_its_lessee_does_with_it()
    {
        var desk = NewDesk();
        var connection = OpenAndLend(desk);
        desk.Retire(connection, "KILL", cancelFirst: true);
        desk.Retire(connection, "KILL again");
        Assert.Equal([(connection, "KILL", true)], _owner.Closed);
        desk.CheckIn(connection); // its client thought it clean
        var waiting = desk.CheckoutAsync(new DeskWaiter()).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(new DeskCounts(0, 1, 0, 0, TimeSpan.Zero, false), desk.Counts);
    }

    [Fact]
    public void The_supervisor_hears_of_unmet_demand_once_not_at_every_checkout_that_waits()
    {
        var desk = NewDesk(size: 5);
        for (var i = 0; i < 3; i++)
        {
            _ = desk.CheckoutAsync(new DeskWaiter());
        }

        Assert.Equal(1, _owner.DemandSignals);
        desk.OpeningStarted();
        desk.OpeningStarted();
        desk.OpeningStarted();
        desk.DemandHandled(); // three open for three waiters: met
        _ = desk.CheckoutAsync(new DeskWaiter());
        Assert.Equal(2, _owner.DemandSignals); // a fourth waiter: unmet again
        desk.OpeningStarted();
        desk.OpeningStarted();
        Assert.Equal(5, desk.DemandHandled().Opening);
        _ = desk.CheckoutAsync(new DeskWaiter());
        Assert.Equal(2, _owner.DemandSignals); // the pool is at its size: nothing more to open, nothing to say
    }

    [Fact]
    public void Demand_the_supervisor_could_not_meet_is_not_signalled_again_until_it_has_met_it()
    {
        var desk = NewDesk(size: 5);
        _ = desk.CheckoutAsync(new DeskWaiter());
        desk.DemandHandled(); // could open nothing (a budget, the backoff): it retries on its own
        _ = desk.CheckoutAsync(new DeskWaiter());
        Assert.Equal(1, _owner.DemandSignals);
    }

    [Fact]
    public void An_idle_connection_that_spoke_leaves_the_desk_for_examination_and_comes_back_when_harmless()
    {
        var desk = NewDesk();
        var connection = Open(desk, 1)[0];
        Assert.True(desk.TryTakeIdleForExamination(connection));
        Assert.Equal(ConnectionOwner.Pool, connection.Owner);
        Assert.False(desk.TryTakeIdleForExamination(connection));
        var waiting = desk.CheckoutAsync(new DeskWaiter());
        Assert.False(waiting.IsCompleted); // not lent while it is looked at
        desk.ExaminedHarmless(connection);
        Assert.Same(connection, Now(waiting));
    }

    [Fact]
    public void The_janitor_takes_idle_connections_out_in_one_step_longest_idle_first()
    {
        var desk = NewDesk();
        var opened = Open(desk, 3);
        _clock.Advance(TimeSpan.FromSeconds(10));
        var taken = desk.TakeIdleToClose((_, idle) => idle >= TimeSpan.FromSeconds(10) ? "server_idle_timeout reached" : null, limit: 2);
        Assert.Equal(opened.Take(2), taken.Select(t => t.Connection));
        Assert.Equal((1, 1), (desk.Counts.Live, desk.Counts.Idle));
        Assert.All(taken, t => Assert.True(t.Connection.Retired));
    }

    [Fact]
    public void A_session_mode_connection_goes_to_the_pool_for_its_reset_query()
    {
        var desk = NewDesk();
        var connection = OpenAndLend(desk);
        desk.ReturnForReset(connection);
        Assert.Equal([connection], _owner.Resets);
        Assert.Equal(ConnectionOwner.Pool, connection.Owner);
        Assert.Equal(1, desk.Counts.Live); // still the pool's: counted
    }

    public void Dispose() => _connections.Dispose();
}
