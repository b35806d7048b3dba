namespace PgBouncerActors.Pool;

/// <summary>
/// max_db_connections or max_user_connections: the server connections one database, or one
/// user, may have over all its pools. Shared by those pools (thread-safe); a pool that is refused
/// marks the budget starved, and a pool with idle connections then closes one to make room.
/// <para>
/// In a cluster the limit holds for all instances together: this instance may open only as many
/// as the cluster's coordinator granted it (its share), asks for one more through
/// <see cref="WantsMore"/> when refused for want of share, and gives back what it does not use
/// when another instance waits (see <c>Cluster.BudgetAgentActor</c>).
/// </para>
/// </summary>
/// <param name="shared">In a cluster: the share starts at nothing and grows by grants.</param>
internal sealed class ConnectionBudget(int limit, bool shared = false)
{
    private readonly Lock _lock = new();
    private int _used;
    private int _share = shared ? 0 : -1; // -1: alone, no share to keep
    private int _cap = -1; // >= 0 while the cluster asks this instance to come down to its fair share
    private volatile bool _starved;

    /// <summary>0: no limit.</summary>
    public int Limit { get; } = limit;

    /// <summary>Some pool of this database wants a connection the budget could not give.</summary>
    public bool Starved => _starved;

    /// <summary>Called (outside the lock) when a connection was refused only because this instance's share is used up.</summary>
    public Action? WantsMore { get; set; }

    public int Used
    {
        get
        {
            lock (_lock)
            {
                return _used;
            }
        }
    }

    /// <summary>This instance's share of the cluster's limit; -1 when alone.</summary>
    public int Share
    {
        get
        {
            lock (_lock)
            {
                return _share;
            }
        }
    }

    public bool TryTake()
    {
        Action? wantsMore;
        lock (_lock)
        {
            if (Limit > 0 && _used >= Limit)
            {
                _starved = true;
                return false;
            }

            if (_share < 0 || (_used < _share && (_cap < 0 || _used < _cap)))
            {
                _used++;
                return true;
            }

            _starved = true;
            wantsMore = WantsMore;
        }

        wantsMore?.Invoke();
        return false;
    }

    public void Give()
    {
        lock (_lock)
        {
            _used--;
        }

        _starved = false;
    }

    /// <summary>The coordinator granted one more connection.</summary>
    public void Grant()
    {
        lock (_lock)
        {
            _share++;
        }
    }

    /// <summary>Shrinks the share to what is open now and answers by how much; under the lock, so no connection opens past it meanwhile.</summary>
    public int ReleaseUnused()
    {
        lock (_lock)
        {
            var unused = _share - _used;
            if (unused <= 0)
            {
                return 0;
            }

            _share = _used;
            return unused;
        }
    }

    /// <summary>Another instance waits for this budget: pools with idle connections close one (see the pool's janitor).</summary>
    public void MarkStarved() => _starved = true;

    /// <summary>Holds this instance to at most <paramref name="connections"/> while others wait; -1 lifts it.</summary>
    public void Cap(int connections)
    {
        lock (_lock)
        {
            Volatile.Write(ref _cap, connections);
        }
    }

    /// <summary>More open than the cap: a connection that comes back is closed instead of lent again.</summary>
    /// <remarks>Asked at every lease's return, so without a cap (always, for a single instance) it takes no lock.</remarks>
    public bool OverCap
    {
        get
        {
            if (Volatile.Read(ref _cap) < 0)
            {
                return false;
            }

            lock (_lock)
            {
                return _cap >= 0 && _used > _cap;
            }
        }
    }
}

/// <summary>A pool's two budgets: its database's (max_db_connections) and its user's (max_user_connections); a connection takes from both.</summary>
internal sealed class PoolBudget(ConnectionBudget database, ConnectionBudget user)
{
    public static PoolBudget Unlimited() => new(new ConnectionBudget(0), new ConnectionBudget(0));

    /// <summary>Another pool of this database or of this user waits for room.</summary>
    public bool Starved => database.Starved || user.Starved;

    /// <summary>The cluster asks this instance to hold fewer of the database's or the user's connections.</summary>
    public bool OverCap => database.OverCap || user.OverCap;

    public bool TryTake()
    {
        if (!database.TryTake())
        {
            return false;
        }

        if (user.TryTake())
        {
            return true;
        }

        database.Give();
        return false;
    }

    public void Give()
    {
        database.Give();
        user.Give();
    }
}
