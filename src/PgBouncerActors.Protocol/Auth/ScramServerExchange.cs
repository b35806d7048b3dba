using System.Security.Cryptography;
using System.Text;

namespace PgBouncerActors.Protocol.Auth;

/// <summary>
/// The server side of one SCRAM-SHA-256 exchange (the pooler authenticating a client). Verifying
/// needs only HMACs over the stored keys; no PBKDF2 runs here.
/// </summary>
public sealed class ScramServerExchange(ScramSecret secret, string? serverNonce = null)
{
    private readonly string _serverNonce = serverNonce ?? ScramPrimitives.NewNonce();
    private string? _clientFirstBare;
    private string? _serverFirst;
    private string? _gs2Header;
    private string? _nonce;

    /// <summary>The client's key, recovered from a valid proof: it lets the pooler log in to a server as this user.</summary>
    public byte[]? ClientKey { get; private set; }

    /// <summary>Reads client-first-message and returns server-first-message.</summary>
    /// <exception cref="ScramException">a malformed message, or channel binding (needs TLS).</exception>
    public string HandleClientFirst(string clientFirst)
    {
        // gs2-header: "n,," (no channel binding) or "y,," (client could bind but thinks we can't); "p=" needs TLS.
        var headerEnd = IndexOfSecondComma(clientFirst);
        if (headerEnd < 0)
        {
            throw new ScramException("malformed SCRAM client-first-message");
        }

        _gs2Header = clientFirst[..(headerEnd + 1)];
        if (_gs2Header[0] == 'p')
        {
            throw new ScramException("SCRAM channel binding is not supported on a connection without TLS");
        }

        if (_gs2Header[0] is not ('n' or 'y'))
        {
            throw new ScramException("malformed SCRAM gs2 header");
        }

        _clientFirstBare = clientFirst[(headerEnd + 1)..];
        var attributes = ScramPrimitives.ParseAttributes(_clientFirstBare);
        if (!attributes.TryGetValue('r', out var clientNonce) || clientNonce.Length == 0)
        {
            throw new ScramException("SCRAM client-first-message has no nonce");
        }

        _nonce = clientNonce + _serverNonce;
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(secret.Salt)},i={secret.Iterations}";
        return _serverFirst;
    }

    /// <summary>Checks client-final-message; returns server-final-message, or null when the proof is wrong.</summary>
    public string? HandleClientFinal(string clientFinal)
    {
        if (_serverFirst is null)
        {
            throw new InvalidOperationException("client-final before client-first");
        }

        var proofAt = clientFinal.LastIndexOf(",p=", StringComparison.Ordinal);
        if (proofAt < 0)
        {
            throw new ScramException("SCRAM client-final-message has no proof");
        }

        var withoutProof = clientFinal[..proofAt];
        var attributes = ScramPrimitives.ParseAttributes(withoutProof);
        if (attributes.GetValueOrDefault('c') != Convert.ToBase64String(Encoding.ASCII.GetBytes(_gs2Header!)))
        {
            throw new ScramException("SCRAM channel binding does not match the gs2 header");
        }

        if (attributes.GetValueOrDefault('r') != _nonce)
        {
            throw new ScramException("SCRAM nonce does not match");
        }

        byte[] proof;
        try
        {
            proof = Convert.FromBase64String(clientFinal[(proofAt + 3)..]);
        }
        catch (FormatException)
        {
            throw new ScramException("SCRAM proof is not base64");
        }

        var authMessage = $"{_clientFirstBare},{_serverFirst},{withoutProof}";
        var clientSignature = HMACSHA256.HashData(secret.StoredKey, Encoding.UTF8.GetBytes(authMessage));
        if (proof.Length != clientSignature.Length)
        {
            return null;
        }

        var clientKey = ScramPrimitives.Xor(proof, clientSignature);
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(clientKey), secret.StoredKey))
        {
            return null;
        }

        ClientKey = clientKey;
        var serverSignature = HMACSHA256.HashData(secret.ServerKey, Encoding.UTF8.GetBytes(authMessage));
        return "v=" + Convert.ToBase64String(serverSignature);
    }

    private static int IndexOfSecondComma(string text)
    {
        var first = text.IndexOf(',');
        return first < 0 ? -1 : text.IndexOf(',', first + 1);
    }
}

public sealed class ScramException(string message) : Exception(message);
