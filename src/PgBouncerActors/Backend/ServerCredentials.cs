using PgBouncerActors.Protocol.Auth;

namespace PgBouncerActors.Backend;

/// <summary>
/// What the pooler can answer a server's authentication request with, for one server user:
/// a plaintext password answers everything; an md5 secret answers md5 only; a SCRAM verifier
/// answers SCRAM once a client has logged in with SCRAM and so revealed its client key.
/// </summary>
internal sealed record ServerCredentials(string User, string? Password, string? Md5Secret = null, ScramSecret? ScramSecret = null)
{
    /// <summary>Recovered from a client's SCRAM proof (see <see cref="ScramKeyStore"/>); null until one logs in.</summary>
    public byte[]? ScramClientKey { get; init; }

    public static ServerCredentials FromSecret(string user, string? secret)
    {
        if (secret is null)
        {
            return new ServerCredentials(user, null);
        }

        if (Md5Password.IsSecret(secret))
        {
            return new ServerCredentials(user, null, Md5Secret: secret);
        }

        return Protocol.Auth.ScramSecret.TryParse(secret, out var scram)
            ? new ServerCredentials(user, null, ScramSecret: scram)
            : new ServerCredentials(user, secret);
    }
}

/// <summary>
/// Client keys recovered from successful client SCRAM logins, by user, so that the pooler can log
/// in to a server with a user list that holds only SCRAM verifiers (as PgBouncer does).
/// </summary>
internal sealed class ScramKeyStore
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    public void Remember(string user, byte[] clientKey) => _keys[user] = clientKey;

    public byte[]? ClientKeyOf(string user) => _keys.GetValueOrDefault(user);
}
