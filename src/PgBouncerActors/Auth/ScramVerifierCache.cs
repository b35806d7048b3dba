using System.Collections.Concurrent;
using System.Security.Cryptography;
using PgBouncerActors.Protocol.Auth;

namespace PgBouncerActors.Auth;

/// <summary>
/// SCRAM verifiers derived from plaintext secrets of the user list. Deriving costs PBKDF2
/// (4096 rounds by default), so each (user, password) is derived once and kept.
/// </summary>
internal sealed class ScramVerifierCache(int iterations)
{
    private readonly ConcurrentDictionary<(string User, string Password), ScramSecret> _verifiers = new();

    public ScramSecret For(string user, string password) =>
        _verifiers.GetOrAdd((user, password), key => ScramSecret.FromPassword(key.Password, RandomNumberGenerator.GetBytes(16), iterations));

    /// <summary>A verifier no password matches, so that an unknown user goes through the same exchange and fails the same way.</summary>
    public ScramSecret Impossible() =>
        new(iterations, RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32));
}
