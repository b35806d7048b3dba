using System.Security.Cryptography;
using System.Text;

namespace PgBouncerActors.Protocol.Auth;

/// <summary>
/// PostgreSQL's md5 scheme: the stored secret is "md5" + hex(md5(password || user)); on the wire
/// the client sends "md5" + hex(md5(hex-part-of-secret || salt)).
/// </summary>
public static class Md5Password
{
    public const string Prefix = "md5";

    /// <summary>The stored form of a plaintext password.</summary>
    public static string Secret(string user, string password) => Prefix + Hex(Encoding.UTF8.GetBytes(password + user));

    /// <summary>What a client sends for a stored secret and the salt the server chose.</summary>
    public static string Response(string secret, ReadOnlySpan<byte> salt)
    {
        var inner = Encoding.ASCII.GetBytes(secret[Prefix.Length..]);
        var input = new byte[inner.Length + salt.Length];
        inner.CopyTo(input, 0);
        salt.CopyTo(input.AsSpan(inner.Length));
        return Prefix + Hex(input);
    }

    public static bool IsSecret(string value) =>
        value.Length == 35 && value.StartsWith(Prefix, StringComparison.Ordinal) && value[3..].All(char.IsAsciiHexDigitLower);

    private static string Hex(byte[] input) => Convert.ToHexStringLower(MD5.HashData(input));
}
