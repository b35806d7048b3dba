using System.Security.Cryptography;
using System.Text;

namespace PgBouncerActors.Protocol.Auth;

/// <summary>
/// The client side of one SCRAM-SHA-256 exchange (the pooler logging in to a server). It works
/// from a plaintext password, or from a client key recovered when a client logged in with SCRAM
/// against the same verifier (then no password needs to be stored in the pooler).
/// </summary>
public sealed class ScramClientExchange
{
    private const string Gs2Header = "n,,";

    /// <summary>
    /// The most key-derivation rounds the pooler computes for a server (PostgreSQL's default is
    /// 4096): a server asking for billions would hold a thread for minutes.
    /// </summary>
    public const int MaxIterations = 1_000_000;
    private readonly Func<byte[], int, (byte[] ClientKey, byte[] ServerKey)> _keys;
    private readonly string _clientFirstBare;
    private byte[]? _expectedServerSignature;

    private ScramClientExchange(Func<byte[], int, (byte[], byte[])> keys, string? clientNonce)
    {
        _keys = keys;
        // PostgreSQL takes the user from the startup packet and ignores the SCRAM user name.
        _clientFirstBare = $"n=,r={clientNonce ?? ScramPrimitives.NewNonce()}";
    }

    public static ScramClientExchange WithPassword(string password, string? clientNonce = null) =>
        new((salt, iterations) =>
        {
            var salted = ScramPrimitives.SaltedPassword(password, salt, iterations);
            return (ScramPrimitives.Hmac(salted, "Client Key"), ScramPrimitives.Hmac(salted, "Server Key"));
        }, clientNonce);

    /// <summary>Uses keys recovered from a client's SCRAM login; valid only for the verifier's salt and iterations.</summary>
    public static ScramClientExchange WithKeys(ScramSecret secret, byte[] clientKey) =>
        new((salt, iterations) => salt.AsSpan().SequenceEqual(secret.Salt) && iterations == secret.Iterations
            ? (clientKey, secret.ServerKey)
            : throw new ScramException("the server's SCRAM salt differs from the user list's verifier; store a plaintext password for this user"),
            null);

    public string ClientFirst => Gs2Header + _clientFirstBare;

    public string HandleServerFirst(string serverFirst)
    {
        var attributes = ScramPrimitives.ParseAttributes(serverFirst);
        var clientNonce = _clientFirstBare[(_clientFirstBare.IndexOf("r=", StringComparison.Ordinal) + 2)..];
        if (!attributes.TryGetValue('r', out var nonce) || !nonce.StartsWith(clientNonce, StringComparison.Ordinal) ||
            !attributes.TryGetValue('s', out var saltText) || !attributes.TryGetValue('i', out var iterationText) ||
            !int.TryParse(iterationText, out var iterations) || iterations < 1)
        {
            throw new ScramException("malformed SCRAM server-first-message");
        }

        if (iterations > MaxIterations)
        {
            throw new ScramException($"the server asks for {iterations} SCRAM iterations, more than the pooler computes ({MaxIterations})");
        }

        var (clientKey, serverKey) = _keys(FromBase64(saltText, "malformed SCRAM server-first-message"), iterations);
        var withoutProof = $"c={Convert.ToBase64String(Encoding.ASCII.GetBytes(Gs2Header))},r={nonce}";
        var authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{serverFirst},{withoutProof}");
        var clientSignature = HMACSHA256.HashData(SHA256.HashData(clientKey), authMessage);
        _expectedServerSignature = HMACSHA256.HashData(serverKey, authMessage);
        return $"{withoutProof},p={Convert.ToBase64String(ScramPrimitives.Xor(clientKey, clientSignature))}";
    }

    /// <summary>Checks the server's signature: a server that cannot prove it knows the verifier is not trusted.</summary>
    public void VerifyServerFinal(string serverFinal)
    {
        var attributes = ScramPrimitives.ParseAttributes(serverFinal);
        if (attributes.TryGetValue('e', out var error))
        {
            throw new ScramException($"the server refused SCRAM authentication: {error}");
        }

        if (_expectedServerSignature is null || !attributes.TryGetValue('v', out var signature) ||
            !CryptographicOperations.FixedTimeEquals(FromBase64(signature, "the server's SCRAM signature is not base64"), _expectedServerSignature))
        {
            throw new ScramException("the server's SCRAM signature is wrong");
        }
    }

    /// <summary>What the server sent is its word, not ours: bad base64 is a refusal of the exchange like any other.</summary>
    private static byte[] FromBase64(string text, string refusal)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw new ScramException(refusal);
        }
    }
}
