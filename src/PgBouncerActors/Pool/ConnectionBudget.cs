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
    private readonly HashSet<PoolBudget> _starving = []; // pools refused room for a waiting client, under _lock
    private volatile bool _anotherInstanceStarves;
    private int _evicting; // idle connections other pools are closing for the starving ones, under _lock

    /// <summary>0: no limit.</summary>
    public int Limit { get; } = limit;

    /// <summary>
    /// Some pool of this database wants a connection the budget could not give, for a client that
    /// still waits (a pool whose clients were served meanwhile no longer counts), or another
    /// instance of the cluster does.
    /// </summary>
    public bool Starved
    {
        get
        {
            if (_anotherInstanceStarves)
            {
                return true;
            }

            PoolBudget[] starving;
            lock (_lock)
            {
                starving = _starving.Count == 0 ? [] : [.. _starving];
            }

            // Asked outside the lock: a pool's desk calls into this budget under its own lock (OverCap).
            var satisfied = starving.Where(pool => !pool.HasWaiters()).ToList();
            lock (_lock)
            {
                _starving.ExceptWith(satisfied);
                return _starving.Count > 0;
            }
        }
    }

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

    /// <param name="forClient">
    /// The connection is for a waiting client: refused, it marks the budget starved (other pools then
    /// give up an idle one). A pool filling up to min_pool_size asks with false, so that it never
    /// makes another pool, or itself, close connections it would only open again.
    /// </param>
    /// <param name="requester">The pool asking: when refused for a client, it is starving (and woken by the next <see cref="Give"/>) while it has waiters.</param>
    public bool TryTake(bool forClient = true, PoolBudget? requester = null)
    {
        Action? wantsMore;
        lock (_lock)
        {
            if (Limit > 0 && _used >= Limit)
            {
                Starve(forClient, requester);
                return false;
            }

            if (_share < 0 || (_used < _share && (_cap < 0 || _used < _cap)))
            {
                _used++;
                if (requester is not null)
                {
                    _starving.Remove(requester);
                }

                return true;
            }

            Starve(forClient, requester);
            wantsMore = WantsMore;
        }

        wantsMore?.Invoke();
        return false;
    }

    /// <summary>A connection closed: its room goes to a starving pool, woken at once (not at its next janitor round).</summary>
    public void Give()
    {
        PoolBudget[] starving;
        lock (_lock)
        {
            _used--;
            _evicting = Math.Max(0, _evicting - 1);
            starving = _starving.Count == 0 ? [] : [.. _starving];
        }

        _anotherInstanceStarves = false;
        foreach (var pool in starving)
        {
            pool.RoomFreed?.Invoke(); // each tries; one takes the room, the others stay starving
        }
    }

    /// <summary>
    /// A pool without waiters asks, at its janitor round, whether to close an idle connection for a
    /// starving pool: yes while fewer are being closed than pools starve, so that several pools'
    /// janitors do not close one each for a single client (PgBouncer closes one per need).
    /// </summary>
    public bool TryClaimEviction()
    {
        if (!Starved)
        {
            return false;
        }

        lock (_lock)
        {
            var wanted = _starving.Count + (_anotherInstanceStarves ? 1 : 0);
            if (_evicting >= wanted)
            {
                return false;
            }

            _evicting++;
            return true;
        }
    }

    /// <summary>A claimed eviction found nothing idle to close after all.</summary>
    public void EvictionAbandoned()
    {
        lock (_lock)
        {
            _evicting = Math.Max(0, _evicting - 1);
        }
    }

    /// <summary>Under the lock.</summary>
    private void Starve(bool forClient, PoolBudget? requester)
    {
        if (!forClient)
        {
            return;
        }

        if (requester is not null)
        {
            _starving.Add(requester);
        }
        else
        {
            _anotherInstanceStarves = true;
        }
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
    public void MarkStarved() => _anotherInstanceStarves = true;

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

    /// <summary>Whether this pool should close one idle connection for a starving pool of its database or user (see <see cref="ConnectionBudget.TryClaimEviction"/>).</summary>
    public bool TryClaimEviction(out Action abandon)
    {
        if (database.TryClaimEviction())
        {
            abandon = database.EvictionAbandoned;
            return true;
        }

        if (user.TryClaimEviction())
        {
            abandon = user.EvictionAbandoned;
            return true;
        }

        abandon = static () => { };
        return false;
    }

    /// <summary>Whether the pool has clients waiting for a connection (set by its supervisor; a starving pool without waiters starves no more).</summary>
    public Func<bool> HasWaiters { get; set; } = static () => true;

    /// <summary>Called (on whichever thread gave the room back) when a budget this pool starved for has room again.</summary>
    public Action? RoomFreed { get; set; }

    /// <param name="forClient">See <see cref="ConnectionBudget.TryTake"/>.</param>
    public bool TryTake(bool forClient = true)
    {
        if (!forClient && (database.Starved || user.Starved))
        {
            // Filling up to min_pool_size yields to a client waiting for room in another pool: the room an
            // eviction freed for it is not taken back (PgBouncer's pools do not churn that way either).
            return false;
        }

        if (!database.TryTake(forClient, this))
        {
            return false;
        }

        if (user.TryTake(forClient, this))
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
