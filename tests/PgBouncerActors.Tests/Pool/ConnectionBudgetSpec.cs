using PgBouncerActors.Pool;
using Xunit;

namespace PgBouncerActors.Tests.Pool;

/// <summary>max_db_connections shared by a database's pools: who counts as starving, for how long, and who is woken when room is given.</summary>
public sealed class ConnectionBudgetSpec
{
    [Fact]
    public void A_pool_refused_for_a_waiting_client_starves_the_budget_while_it_has_waiters_and_is_woken_when_room_is_given()
    {
        var database = new ConnectionBudget(limit: 1);
        var waiting = true;
        var woken = 0;
        var first = new PoolBudget(database, new ConnectionBudget(0));
        var second = new PoolBudget(database, new ConnectionBudget(0)) { HasWaiters = () => waiting, RoomFreed = () => woken++ };
        Assert.True(first.TryTake());
        Assert.False(second.TryTake(forClient: false)); // filling min_pool_size: nobody is asked to make room
        Assert.False(database.Starved);

        Assert.False(second.TryTake()); // a client waits
        Assert.True(database.Starved);
        waiting = false; // its client was served by a connection it had: the other pools keep theirs
        Assert.False(database.Starved);

        waiting = true;
        Assert.False(second.TryTake());
        first.Give(); // room made: the starving pool is woken at once, and takes it
        Assert.Equal(1, woken);
        Assert.True(second.TryTake());
        Assert.False(database.Starved);
        second.Give();
        Assert.Equal(1, woken); // served: not woken again
    }
}
