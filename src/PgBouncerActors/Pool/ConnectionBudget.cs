namespace PgBouncerActors.Pool;

/// <summary>
/// max_db_connections or max_user_connections: the server connections one database, or one
/// user, may have over all its pools. Shared by those pools (thread-safe); a pool that is refused
/// marks the budget starved, and a pool with idle connections then closes one to make room.
/// </summary>
internal sealed class ConnectionBudget(int limit)
{
    private int _used;
    private volatile bool _starved;

    /// <summary>0: no limit.</summary>
    public int Limit { get; } = limit;

    /// <summary>Some pool of this database wants a connection the budget could not give.</summary>
    public bool Starved => _starved;

    public bool TryTake()
    {
        while (true)
        {
            var used = Volatile.Read(ref _used);
            if (Limit > 0 && used >= Limit)
            {
                _starved = true;
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + 1, used) == used)
            {
                return true;
            }
        }
    }

    public void Give()
    {
        Interlocked.Decrement(ref _used);
        _starved = false;
    }
}

/// <summary>A pool's two budgets: its database's (max_db_connections) and its user's (max_user_connections); a connection takes from both.</summary>
internal sealed class PoolBudget(ConnectionBudget database, ConnectionBudget user)
{
    public static PoolBudget Unlimited() => new(new ConnectionBudget(0), new ConnectionBudget(0));

    /// <summary>Another pool of this database or of this user waits for room.</summary>
    public bool Starved => database.Starved || user.Starved;

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
