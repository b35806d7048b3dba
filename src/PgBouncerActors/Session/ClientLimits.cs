using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace PgBouncerActors.Session;

/// <summary>
/// max_client_conn over every client connection, counted from its accept; max_db_client_connections
/// and max_user_client_connections (PgBouncer 1.24): logged-in clients per database and per user,
/// counted when a client's login succeeds. A client leaves every count the moment its session
/// starts to end (not once its actor has stopped), so a client that just closed never holds a
/// place another is refused for. A client over a limit is refused; the counts take no lock (a
/// compare-and-swap each).
/// </summary>
internal sealed class ClientLimits
{
    private readonly StrongBox<int> _connections = new();

    /// <summary>Client connections counted now (max_client_conn).</summary>
    public int Connections => Volatile.Read(ref _connections.Value);

    /// <summary>Counts a new client connection in, from its accept (as PgBouncer counts every client socket).</summary>
    public void Connect() => Interlocked.Increment(ref _connections.Value);

    /// <summary>
    /// Whether the connections counted now (a new client's own included) pass <paramref name="limit"/>
    /// (0: no limit). Asked at the client's startup packet, as PgBouncer does: a client that has just
    /// sent Terminate has usually left by then, so the next one in its place is not refused.
    /// </summary>
    public bool OverConnectionLimit(int limit) => limit > 0 && Connections > limit;

    public void Disconnect() => Interlocked.Decrement(ref _connections.Value);

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

    /// <summary>Logged-in clients of a database now (SHOW DATABASES current_client_connections).</summary>
    public int ClientsOfDatabase(string database) => _byDatabase.TryGetValue(database, out var count) ? Volatile.Read(ref count.Value) : 0;

    /// <summary>Logged-in clients of a user now (SHOW USERS current_client_connections).</summary>
    public int ClientsOfUser(string user) => _byUser.TryGetValue(user, out var count) ? Volatile.Read(ref count.Value) : 0;

    /// <summary>The users counted now, with a client or not (SHOW USERS lists them).</summary>
    public IEnumerable<string> CountedUsers => _byUser.Keys;

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
