using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Net;

/// <summary>
/// TLS towards PostgreSQL (server_tls_sslmode, server_tls_ca_file), with libpq's meanings: allow and
/// prefer use TLS when the server offers it; require insists on TLS without checking the
/// certificate; verify-ca checks it against the CA (the system's roots when no file is set);
/// verify-full also checks that it names the host. server_tls_cert_file and key_file are shown to a
/// server that asks for a client certificate.
/// </summary>
internal sealed class ServerTls(ServerTlsMode mode, X509ChainPolicy? roots, SslStreamCertificateContext? identity, SslProtocols protocols,
    CipherSuitesPolicy? ciphers)
{
    public ServerTlsMode Mode { get; } = mode;

    /// <summary>A server that answers 'N' to the SSLRequest is refused.</summary>
    public bool Required => Mode >= ServerTlsMode.Require;

    /// <exception cref="ConfigurationException">A file is missing or unreadable.</exception>
    public static ServerTls? Load(PoolerSettings settings)
    {
        if (settings.ServerTlsMode == ServerTlsMode.Disable)
        {
            return null;
        }

        if ((settings.ServerTlsCertFile is null) != (settings.ServerTlsKeyFile is null))
        {
            throw new ConfigurationException("server_tls_cert_file and server_tls_key_file go together: set both or neither");
        }

        return new ServerTls(settings.ServerTlsMode,
            settings.ServerTlsCaFile is { } caFile ? TlsFiles.LoadRoots(caFile, "server_tls_ca_file") : null,
            settings.ServerTlsCertFile is { } certificate
                ? TlsFiles.LoadIdentity(certificate, settings.ServerTlsKeyFile!, "server_tls_cert_file / server_tls_key_file") : null,
            TlsFiles.Protocols(settings.ServerTlsProtocols, "server_tls_protocols"),
            TlsFiles.Ciphers(settings.ServerTlsCiphers, setting: "server_tls_ciphers"));
    }

    /// <param name="rejected">Told why the server's certificate was refused, in OpenSSL's words first ("certificate verify failed: ..."), which operators grep.</param>
    public SslClientAuthenticationOptions Options(string host, Action<string>? rejected = null) => new()
    {
        TargetHost = host,
        RemoteCertificateValidationCallback = (_, _, chain, errors) =>
        {
            var accepted = Mode switch
            {
                ServerTlsMode.VerifyFull => errors == SslPolicyErrors.None,
                ServerTlsMode.VerifyCa => (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None,
                _ => true, // allow, prefer, require: encrypted, not authenticated (as libpq's require)
            };
            if (!accepted)
            {
                var status = chain?.ChainStatus.Select(s => s.Status.ToString()).Distinct() ?? [];
                rejected?.Invoke($"certificate verify failed: {errors} ({string.Join(", ", status)})");
            }

            return accepted;
        },
        CertificateChainPolicy = roots?.Clone(), // per connection: a chain build may change the policy it is given
        ClientCertificateContext = identity,
        EnabledSslProtocols = protocols,
        CipherSuitesPolicy = ciphers,
    };
}
