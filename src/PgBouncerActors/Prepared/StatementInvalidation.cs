namespace PgBouncerActors.Prepared;

/// <summary>
/// Which server statements the server no longer runs as prepared, for every connection of one
/// pooler. A statement shared by many clients outlives a change to what it reads: PostgreSQL then
/// refuses it (0A000 "cached plan must not change result type", 42804, a type gone), and drivers
/// answer by preparing the same text again. That fresh Parse must get a fresh server statement,
/// on every connection that holds the old one, so the error is not repeated forever.
/// <para>
/// Two kinds of invalidation: of one definition (the server refused it), and of every statement
/// prepared so far (a DDL the pooler saw: ALTER, DROP, DISCARD PLANS; it cannot tell which
/// statements read what changed, and preparing each again once costs one round trip). Each is a
/// step of one counter; a statement remembers the step it was last known good at, so the hot path
/// (nothing invalidated since) is one volatile read, and a statement takes the lock once per
/// invalidation at most.
/// </para>
/// </summary>
internal sealed class StatementInvalidation
{
    private readonly Lock _lock = new();
    private readonly Dictionary<StatementDefinition, long> _definitionInvalidatedAt = [];
    private long _step;
    private long _allInvalidatedAt;

    /// <summary>The step of the latest invalidation (0: none yet).</summary>
    public long Step => Volatile.Read(ref _step);

    /// <summary>The server refused <paramref name="definition"/>'s statement: every copy prepared before now is stale.</summary>
    public void Invalidate(StatementDefinition definition)
    {
        lock (_lock)
        {
            Volatile.Write(ref _step, _step + 1);
            _definitionInvalidatedAt[definition] = _step;
        }
    }

    /// <summary>A DDL changed what statements may read: every statement prepared before now is stale.</summary>
    public void InvalidateAll()
    {
        lock (_lock)
        {
            Volatile.Write(ref _step, _step + 1);
            _allInvalidatedAt = _step;
            _definitionInvalidatedAt.Clear(); // older than the step that covers them all
        }
    }

    /// <summary>
    /// The step of the invalidation that made <paramref name="statement"/> out of date (a client
    /// that prepared its statement before that step prepared it before the change), or 0 when it is
    /// not; a good one is marked good as of now.
    /// </summary>
    public long StaleSince(ServerStatement statement)
    {
        var step = Step;
        if (statement.GoodAt == step)
        {
            return 0; // nothing invalidated since it was last checked: the hot path
        }

        lock (_lock)
        {
            var since = long.MaxValue;
            if (statement.GoodAt < _allInvalidatedAt)
            {
                since = _allInvalidatedAt;
            }

            if (_definitionInvalidatedAt.TryGetValue(statement.Definition, out var at) && statement.GoodAt < at)
            {
                since = Math.Min(since, at);
            }

            if (since == long.MaxValue)
            {
                statement.GoodAt = _step;
                return 0;
            }

            return since;
        }
    }
}
