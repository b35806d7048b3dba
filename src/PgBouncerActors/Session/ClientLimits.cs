using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace PgBouncerActors.Session;

/// <summary>
/// max_db_client_connections and max_user_client_connections (PgBouncer 1.24): logged-in clients
/// per database and per user, counted when a client's login succeeds and again when it leaves.
/// A client over either limit is refused; the counts take no lock (a compare-and-swap per login).
/// </summary>
internal sealed class ClientLimits
{
    private readonly ConcurrentDictionary<string, StrongBox<int>> _byDatabase = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StrongBox<int>> _byUser = new(StringComparer.Ordinal);

    /// <summary>Counts the client in; null when it may stay, else the name of the limit it would pass (nothing counted then).</summary>
    public string? TryJoin(string database, string user, int databaseLimit, int userLimit)
    {
        var databaseCount = _byDatabase.GetOrAdd(database, static _ => new StrongBox<int>());
        if (!TryIncrement(databaseCount, databaseLimit))
        {
            return "max_db_client_connections";
        }

        if (!TryIncrement(_byUser.GetOrAdd(user, static _ => new StrongBox<int>()), userLimit))
        {
            Interlocked.Decrement(ref databaseCount.Value);
            return "max_user_client_connections";
        }

        return null;
    }

    public void Leave(string database, string user)
    {
        Interlocked.Decrement(ref _byDatabase[database].Value);
        Interlocked.Decrement(ref _byUser[user].Value);
    }

    /// <summary>Adds one unless that would pass <paramref name="limit"/> (0: no limit).</summary>
    private static bool TryIncrement(StrongBox<int> count, int limit)
    {
        while (true)
        {
            var now = Volatile.Read(ref count.Value);
            if (limit > 0 && now >= limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref count.Value, now + 1, now) == now)
            {
                return true;
            }
        }
    }
}
