using System.Collections.Concurrent;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Auth;

/// <summary>
/// What auth_query answered, per (auth pool, user): the secret, or that there is none (an unknown
/// user, or an expired password). Kept for the cache's ttl so that a connection storm does not
/// query the server once per login, and for at most its size in users. A failed login forgets
/// its entry, found or not, so a changed password is read afresh at the next attempt and an
/// unknown user costs the same query as a known one with a wrong password.
/// </summary>
internal sealed class AuthQueryCache
{
    private readonly ConcurrentDictionary<(string Pool, string User), Entry> _entries = new();

    public bool TryGet(string pool, string user, AuthQueryCacheSettings settings, out string? secret)
    {
        secret = null;
        if (settings.Ttl <= TimeSpan.Zero || !_entries.TryGetValue((pool, user), out var entry))
        {
            return false;
        }

        if (entry.Expires <= DateTime.UtcNow)
        {
            _entries.TryRemove((pool, user), out _);
            return false;
        }

        secret = entry.Secret;
        return true;
    }

    public void Remember(string pool, string user, string? secret, AuthQueryCacheSettings settings)
    {
        if (settings.Ttl <= TimeSpan.Zero || settings.Size == 0)
        {
            return;
        }

        if (_entries.Count >= settings.Size)
        {
            var now = DateTime.UtcNow;
            foreach (var (key, stale) in _entries)
            {
                if (stale.Expires <= now)
                {
                    _entries.TryRemove(key, out _);
                }
            }

            if (_entries.Count >= settings.Size)
            {
                _entries.Clear(); // the bound holds; the next logins query again
            }
        }

        _entries[(pool, user)] = new Entry(secret, DateTime.UtcNow + settings.Ttl);
    }

    public void Forget(string pool, string user) => _entries.TryRemove((pool, user), out _);

    public void Clear() => _entries.Clear();

    private sealed record Entry(string? Secret, DateTime Expires);
}
