using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Net;

/// <summary>
/// TLS towards clients (client_tls_sslmode with client_tls_cert_file and client_tls_key_file):
/// an SSLRequest is answered 'S' and the handshake runs on the socket; with require, a client that
/// does not ask for TLS is refused, as PgBouncer refuses it.
/// </summary>
internal sealed class ClientTls(ClientTlsMode mode, SslServerAuthenticationOptions options)
{
    public ClientTlsMode Mode { get; } = mode;

    public SslServerAuthenticationOptions Options { get; } = options;

    /// <summary>A plaintext login is refused.</summary>
    public bool Required => Mode == ClientTlsMode.Require;

    /// <summary>The certificate and key in force, or null when client_tls_sslmode is disable.</summary>
    public static ClientTls? Load(PoolerSettings settings)
    {
        if (settings.ClientTlsMode == ClientTlsMode.Disable)
        {
            return null;
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(settings.ClientTlsCertFile!, settings.ClientTlsKeyFile);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ConfigurationException(
                $"client_tls_cert_file {settings.ClientTlsCertFile} / client_tls_key_file {settings.ClientTlsKeyFile}: cannot load the certificate and key: {e.Message}", e);
        }

        return new ClientTls(settings.ClientTlsMode, new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ClientCertificateRequired = false,
        });
    }
}
