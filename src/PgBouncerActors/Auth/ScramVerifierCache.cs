using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using PgBouncerActors.Protocol.Auth;

namespace PgBouncerActors.Auth;

/// <summary>
/// SCRAM verifiers derived from plaintext secrets of the user list. Deriving costs PBKDF2
/// (4096 rounds by default), so each (user, password) is derived once and kept.
/// </summary>
internal sealed class ScramVerifierCache(int iterations)
{
    private readonly ConcurrentDictionary<(string User, string Password), ScramSecret> _verifiers = new();

    /// <summary>Made at start-up and never shown: the mock salts of unknown users derive from it.</summary>
    private readonly byte[] _mockSecret = RandomNumberGenerator.GetBytes(32);

    public ScramSecret For(string user, string password) =>
        _verifiers.GetOrAdd((user, password), key => ScramSecret.FromPassword(key.Password, RandomNumberGenerator.GetBytes(16), iterations));

    /// <summary>
    /// A verifier no password matches, so that a user who cannot log in with SCRAM (unknown, or
    /// stored as md5) goes through the same exchange and fails the same way. As PostgreSQL's
    /// scram_mock_salt, its salt is derived from the user name and a secret of this process: the
    /// same on every attempt, as a real user's is, so the exchange does not tell them apart.
    /// </summary>
    public ScramSecret Mock(string user)
    {
        var seed = SHA256.HashData([.. _mockSecret, .. Encoding.UTF8.GetBytes(user)]);
        var keys = HMACSHA256.HashData(_mockSecret, seed);
        return new ScramSecret(iterations, seed[..16], keys, SHA256.HashData(keys));
    }
}
