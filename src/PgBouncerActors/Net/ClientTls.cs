using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Net;

/// <summary>
/// TLS towards clients, with PgBouncer's meanings: an SSLRequest is answered 'S' and the handshake
/// runs on the socket (or the client starts with TLS at once, PostgreSQL 17's direct TLS); require
/// refuses a client that does not ask; verify-ca and verify-full require a client certificate that
/// chains to client_tls_ca_file. With a CA file and a lower mode a client certificate is asked for,
/// and checked when one is sent. Loaded again on RELOAD, so certificates rotate without a restart.
/// </summary>
internal sealed class ClientTls(ClientTlsMode mode, SslServerAuthenticationOptions options)
{
    private readonly X509ChainPolicy? _roots = options.CertificateChainPolicy;

    /// <summary>The ALPN name PostgreSQL 17 registered; direct TLS requires it.</summary>
    public static readonly SslApplicationProtocol Alpn = new("postgresql");

    public ClientTlsMode Mode { get; } = mode;

    /// <summary>The handshake's options for one connection (each gets its own chain policy: a chain build may change the one it is given).</summary>
    public SslServerAuthenticationOptions Options() => new()
    {
        ServerCertificateContext = options.ServerCertificateContext,
        ClientCertificateRequired = options.ClientCertificateRequired,
        CertificateChainPolicy = _roots?.Clone(),
        RemoteCertificateValidationCallback = options.RemoteCertificateValidationCallback,
        EnabledSslProtocols = options.EnabledSslProtocols,
        CipherSuitesPolicy = options.CipherSuitesPolicy,
        ApplicationProtocols = options.ApplicationProtocols,
    };

    /// <summary>A plaintext login is refused.</summary>
    public bool Required => Mode >= ClientTlsMode.Require;

    /// <summary>The certificate and key in force, or null when client_tls_sslmode is disable.</summary>
    /// <exception cref="ConfigurationException">A file is missing, unreadable or not what the mode needs.</exception>
    public static ClientTls? Load(PoolerSettings settings)
    {
        if (settings.ClientTlsMode == ClientTlsMode.Disable)
        {
            return settings.AuthType == AuthType.Cert
                ? throw new ConfigurationException("auth_type is cert: client_tls_sslmode must not be disable (certificates come over TLS)")
                : null;
        }

        if (settings.ClientTlsCertFile is not { } certificateFile || settings.ClientTlsKeyFile is not { } keyFile)
        {
            throw new ConfigurationException($"client_tls_sslmode is {settings.ClientTlsMode}: client_tls_cert_file and client_tls_key_file must be set");
        }

        var needsCa = settings.ClientTlsMode >= ClientTlsMode.VerifyCa || settings.AuthType == AuthType.Cert
            || settings.HbaRules.Rules.Any(rule => rule.Method == HbaMethod.Cert);
        if (needsCa && settings.ClientTlsCaFile is null)
        {
            throw new ConfigurationException("client_tls_ca_file must be set: client_tls_sslmode verify-ca or verify-full, or cert authentication, checks client certificates against it");
        }

        var roots = settings.ClientTlsCaFile is { } caFile ? TlsFiles.LoadRoots(caFile, "client_tls_ca_file") : null;
        var certificateRequired = settings.ClientTlsMode >= ClientTlsMode.VerifyCa;
        return new ClientTls(settings.ClientTlsMode, new SslServerAuthenticationOptions
        {
            ServerCertificateContext = TlsFiles.LoadIdentity(certificateFile, keyFile, "client_tls_cert_file / client_tls_key_file"),
            // .NET's "required" means asked for; whether none is acceptable is the callback's to say.
            ClientCertificateRequired = roots is not null,
            CertificateChainPolicy = roots,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => certificate is null
                ? !certificateRequired
                : (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None,
            EnabledSslProtocols = TlsFiles.Protocols(settings.ClientTlsProtocols, "client_tls_protocols"),
            CipherSuitesPolicy = TlsFiles.Ciphers(settings.ClientTlsCiphers, settings.ClientTls13Ciphers),
            ApplicationProtocols = [Alpn],
        });
    }

    /// <summary>The common name of a client certificate (auth_type = cert: the user it may log in as), or null.</summary>
    public static string? CommonName(X509Certificate? certificate) =>
        certificate is null ? null : new X509Certificate2(certificate).GetNameInfo(X509NameType.SimpleName, forIssuer: false);
}
