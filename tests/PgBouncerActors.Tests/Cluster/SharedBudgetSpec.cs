using PgBouncerActors.Auth;
using PgBouncerActors.Pool;
using Xunit;

namespace PgBouncerActors.Tests.Cluster;

/// <summary>What an instance of a cluster may open of a limited budget, and the cancel keys that say which instance a client is on.</summary>
public sealed class SharedBudgetSpec
{
    [Fact]
    public void A_shared_budget_opens_only_what_was_granted_asks_for_more_and_never_gives_back_what_is_open()
    {
        var asked = 0;
        var budget = new ConnectionBudget(6, shared: true) { WantsMore = () => asked++ };
        Assert.False(budget.TryTake()); // nothing granted yet
        Assert.Equal(1, asked);
        Assert.True(budget.Starved);

        budget.Grant();
        budget.Grant();
        Assert.True(budget.TryTake());
        Assert.True(budget.TryTake());
        Assert.False(budget.TryTake());
        Assert.Equal((2, 2, 2), (budget.Share, budget.Used, asked));

        Assert.Equal(0, budget.ReleaseUnused()); // both open: nothing to give
        budget.Give();
        Assert.Equal(1, budget.ReleaseUnused());
        Assert.Equal((1, 1), (budget.Share, budget.Used));
    }

    [Fact]
    public void A_cap_below_what_is_open_marks_the_budget_over_it_and_refuses_more_until_lifted()
    {
        var budget = new ConnectionBudget(6, shared: true);
        for (var i = 0; i < 4; i++)
        {
            budget.Grant();
            Assert.True(budget.TryTake());
        }

        budget.Grant();
        budget.Cap(2); // others wait: come down to an even split
        Assert.True(budget.OverCap);
        Assert.False(budget.TryTake()); // share left, but over the cap
        budget.Give();
        budget.Give();
        Assert.False(budget.OverCap);
        Assert.Equal(3, budget.ReleaseUnused());
        budget.Cap(-1);
        budget.Grant();
        Assert.True(budget.TryTake());
    }

    [Fact]
    public void A_budget_alone_ignores_shares_and_keeps_its_limit()
    {
        var budget = new ConnectionBudget(2);
        Assert.True(budget.TryTake());
        Assert.True(budget.TryTake());
        Assert.False(budget.TryTake());
        Assert.Equal(-1, budget.Share);
        Assert.False(budget.OverCap);
    }

    [Fact]
    public void Cancel_keys_of_a_peer_carry_its_peer_id_and_49_random_bits_and_a_single_instance_keys_are_random_and_positive()
    {
        var route = new CancelRoute();
        var peer = new CancelKeyRegistry(peerId: CancelKeyRegistry.MaxPeerId);
        var keys = Enumerable.Range(0, 200).Select(_ => peer.RegisterRandom(route)).ToList();
        Assert.All(keys, key => Assert.Equal(CancelKeyRegistry.MaxPeerId, CancelKeyRegistry.PeerOf(key.ProcessId)));
        Assert.All(keys, key => Assert.True(key.ProcessId > 0));
        Assert.Equal(200, keys.Distinct().Count());
        Assert.True(keys.Select(key => key.ProcessId & ((1 << 17) - 1)).Distinct().Count() > 150); // the low 17 bits are random
        Assert.Same(route, peer.Find(keys[0].ProcessId, keys[0].SecretKey));
        Assert.True(peer.IssuesOwnKeys);

        var alone = new CancelKeyRegistry();
        Assert.False(alone.IssuesOwnKeys);
        Assert.All(Enumerable.Range(0, 200).Select(_ => alone.RegisterRandom(route)), key => Assert.True(key.ProcessId > 0));
    }
}
