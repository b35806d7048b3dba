using System.Security.Cryptography;
using System.Text;

namespace PgBouncerActors.Protocol.Auth;

/// <summary>
/// A SCRAM-SHA-256 verifier as PostgreSQL stores it:
/// <c>SCRAM-SHA-256$&lt;iterations&gt;:&lt;salt&gt;$&lt;StoredKey&gt;:&lt;ServerKey&gt;</c> (base64 fields).
/// </summary>
public sealed record ScramSecret(int Iterations, byte[] Salt, byte[] StoredKey, byte[] ServerKey)
{
    public const string Prefix = "SCRAM-SHA-256$";

    public static bool TryParse(string text, out ScramSecret secret)
    {
        secret = null!;
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = text[Prefix.Length..].Split('$');
        if (parts.Length != 2)
        {
            return false;
        }

        var iterationAndSalt = parts[0].Split(':');
        var keys = parts[1].Split(':');
        if (iterationAndSalt.Length != 2 || keys.Length != 2 || !int.TryParse(iterationAndSalt[0], out var iterations) || iterations < 1)
        {
            return false;
        }

        try
        {
            secret = new ScramSecret(iterations, Convert.FromBase64String(iterationAndSalt[1]),
                Convert.FromBase64String(keys[0]), Convert.FromBase64String(keys[1]));
            return secret.StoredKey.Length == 32 && secret.ServerKey.Length == 32;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>Derives the verifier of a plaintext password (PBKDF2: costly, so callers cache it).</summary>
    public static ScramSecret FromPassword(string password, byte[] salt, int iterations)
    {
        var salted = ScramPrimitives.SaltedPassword(password, salt, iterations);
        var clientKey = ScramPrimitives.Hmac(salted, "Client Key");
        return new ScramSecret(iterations, salt, SHA256.HashData(clientKey), ScramPrimitives.Hmac(salted, "Server Key"));
    }

    public override string ToString() =>
        $"{Prefix}{Iterations}:{Convert.ToBase64String(Salt)}${Convert.ToBase64String(StoredKey)}:{Convert.ToBase64String(ServerKey)}";
}

/// <summary>The functions of RFC 5802 over SHA-256 (RFC 7677).</summary>
public static class ScramPrimitives
{
    public const string Mechanism = "SCRAM-SHA-256";

    public static byte[] SaltedPassword(string password, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(SaslPrep(password)), salt, iterations, HashAlgorithmName.SHA256, 32);

    public static byte[] Hmac(byte[] key, string text) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(text));

    public static byte[] Xor(byte[] left, byte[] right)
    {
        var result = new byte[left.Length];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = (byte)(left[i] ^ right[i]);
        }

        return result;
    }

    public static string NewNonce() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));

    /// <summary>
    /// PostgreSQL applies SASLprep when it can and uses the raw bytes otherwise; normalising to
    /// NFKC covers the passwords that differ, and ASCII passwords pass unchanged.
    /// </summary>
    private static string SaslPrep(string password) => password.IsNormalized(NormalizationForm.FormKC) ? password : password.Normalize(NormalizationForm.FormKC);

    /// <summary>Splits "a=1,b=2" attributes; values may contain '='.</summary>
    public static Dictionary<char, string> ParseAttributes(string message)
    {
        var attributes = new Dictionary<char, string>();
        foreach (var part in message.Split(','))
        {
            if (part.Length >= 2 && part[1] == '=')
            {
                attributes[part[0]] = part[2..];
            }
        }

        return attributes;
    }
}
