using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Net;

/// <summary>
/// What both TLS sides read from the configuration: PEM certificates with their keys, CA files,
/// and PgBouncer's protocol and cipher settings as far as .NET can honour them.
/// </summary>
internal static class TlsFiles
{
    /// <summary>A certificate and key in PEM; the certificates after the first in the file are the chain sent with it.</summary>
    public static SslStreamCertificateContext LoadIdentity(string certificateFile, string keyFile, string settings)
    {
        try
        {
            var leaf = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(certificateFile);
            var intermediates = new X509Certificate2Collection();
            foreach (var certificate in chain)
            {
                if (certificate.Thumbprint != leaf.Thumbprint)
                {
                    intermediates.Add(certificate);
                }
            }

            return SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ConfigurationException($"{settings} {certificateFile} / {keyFile}: cannot load the certificate and key: {e.Message}", e);
        }
    }

    /// <summary>PEM CA certificates, as a chain policy that trusts only them.</summary>
    public static X509ChainPolicy LoadRoots(string caFile, string setting)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"{setting} {caFile}: cannot load the CA certificates: {e.Message}", e);
        }

        if (roots.Count == 0)
        {
            throw new ConfigurationException($"{setting} {caFile}: no PEM certificate in the file");
        }

        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(roots);
        return policy;
    }

    /// <summary>
    /// PgBouncer's protocol list (tlsv1.2, tlsv1.3, secure, all, legacy; commas, colons or blanks
    /// between). all and legacy leave the choice to the system's OpenSSL, which on Debian 12 offers
    /// TLS 1.2 and 1.3 only; tlsv1.0 and tlsv1.1 are refused, as .NET no longer speaks them.
    /// </summary>
    public static SslProtocols Protocols(string text, string setting)
    {
        var protocols = SslProtocols.None;
        foreach (var name in text.ToLowerInvariant().Split([',', ':', ' '], StringSplitOptions.RemoveEmptyEntries))
        {
            protocols |= name switch
            {
                "secure" => SslProtocols.Tls12 | SslProtocols.Tls13,
                "tlsv1.2" => SslProtocols.Tls12,
                "tlsv1.3" => SslProtocols.Tls13,
                "all" or "legacy" => SslProtocols.None,
                "tlsv1.0" or "tlsv1.1" => throw new ConfigurationException($"{setting}: {name} is not supported (.NET and Debian's OpenSSL speak TLS 1.2 and 1.3)"),
                _ => throw new ConfigurationException($"{setting}: unknown protocol '{name}' (secure, all, legacy, tlsv1.2 or tlsv1.3)"),
            };
        }

        return protocols;
    }

    /// <summary>The TLS 1.3 suites (the only ones client_tls13_ciphers may name; client_tls_ciphers may name them too).</summary>
    private static readonly HashSet<TlsCipherSuite> Tls13Suites =
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_AES_128_CCM_SHA256, TlsCipherSuite.TLS_AES_128_CCM_8_SHA256,
    ];

    /// <summary>TLS 1.2's forward-secret AEAD suites: what "default" client_tls_ciphers allows once client_tls13_ciphers names TLS 1.3's.</summary>
    private static readonly TlsCipherSuite[] Tls12Defaults =
    [
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];

    /// <summary>
    /// The cipher suites client_tls_ciphers and client_tls13_ciphers allow (server_tls_ciphers alone
    /// on the server side): null leaves the choice to the system (default, fast, normal, secure,
    /// all, legacy). Only IANA names: .NET cannot read OpenSSL cipher strings.
    /// </summary>
    /// <param name="tls13">client_tls13_ciphers; null or default: TLS 1.3 suites only as <paramref name="text"/> names them.</param>
    public static CipherSuitesPolicy? Ciphers(string text, string? tls13 = null, string setting = "client_tls_ciphers")
    {
        var tls12 = IsSystemChoice(text) ? null : Suites(text, setting);
        var only13 = tls13 is null || IsSystemChoice(tls13) ? null : Suites(tls13, "client_tls13_ciphers");
        if (only13?.Where(suite => !Tls13Suites.Contains(suite)).Select(suite => (TlsCipherSuite?)suite).FirstOrDefault() is { } notTls13)
        {
            throw new ConfigurationException($"failed to set the TLSv1.3 cipher suites: client_tls13_ciphers: {notTls13} is not a TLS 1.3 cipher suite");
        }

        if (tls12 is null && only13 is null)
        {
            return null;
        }

        if (OperatingSystem.IsWindows())
        {
            throw new ConfigurationException($"{setting}: a cipher list cannot be enforced on Windows (SChannel decides); use 'default'");
        }

        var suites = new List<TlsCipherSuite>(tls12 ?? [.. Tls12Defaults]);
        if (only13 is not null)
        {
            suites.RemoveAll(Tls13Suites.Contains); // client_tls13_ciphers decides TLS 1.3's
            suites.AddRange(only13);
        }

        return new CipherSuitesPolicy(suites);
    }

    private static bool IsSystemChoice(string text) => text.ToLowerInvariant() is "" or "default" or "fast" or "normal" or "secure" or "all" or "legacy";

    private static List<TlsCipherSuite> Suites(string text, string setting)
    {
        var suites = new List<TlsCipherSuite>();
        foreach (var name in text.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            suites.Add(Enum.TryParse<TlsCipherSuite>(name, ignoreCase: false, out var suite) && name.StartsWith("TLS_", StringComparison.Ordinal)
                ? suite
                : throw new ConfigurationException((setting == "client_tls13_ciphers" ? "failed to set the TLSv1.3 cipher suites: " : "") +
                    $"{setting}: '{name}' is not an IANA cipher suite name such as TLS_AES_256_GCM_SHA384 " +
                    "(OpenSSL cipher strings cannot be read by .NET; 'default' leaves the choice to the system)"));
        }

        return suites;
    }
}
