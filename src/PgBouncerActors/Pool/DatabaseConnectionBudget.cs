namespace PgBouncerActors.Pool;

/// <summary>
/// max_db_connections: the server connections one database may have over all its (database,
/// user) pools. Shared by those pools (thread-safe); a pool that is refused marks the budget
/// starved, and a pool with idle connections then closes one to make room.
/// </summary>
internal sealed class DatabaseConnectionBudget(int limit)
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
