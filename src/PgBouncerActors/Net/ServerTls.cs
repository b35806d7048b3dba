using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Net;

/// <summary>
/// TLS towards PostgreSQL (server_tls_sslmode, server_tls_ca_file), with libpq's meanings: allow and
/// prefer use TLS when the server offers it; require insists on TLS without checking the
/// certificate; verify-ca checks it against the CA (the system's roots when no file is set);
/// verify-full also checks that it names the host.
/// </summary>
internal sealed class ServerTls(ServerTlsMode mode, X509Certificate2Collection? roots)
{
    public ServerTlsMode Mode { get; } = mode;

    /// <summary>A server that answers 'N' to the SSLRequest is refused.</summary>
    public bool Required => Mode >= ServerTlsMode.Require;

    public static ServerTls? Load(PoolerSettings settings)
    {
        if (settings.ServerTlsMode == ServerTlsMode.Disable)
        {
            return null;
        }

        if (settings.ServerTlsCaFile is not { } caFile)
        {
            return new ServerTls(settings.ServerTlsMode, null);
        }

        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"server_tls_ca_file {caFile}: cannot load the CA certificates: {e.Message}", e);
        }

        return new ServerTls(settings.ServerTlsMode, roots);
    }

    public SslClientAuthenticationOptions Options(string host)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            RemoteCertificateValidationCallback = (_, _, _, errors) => Mode switch
            {
                ServerTlsMode.VerifyFull => errors == SslPolicyErrors.None,
                ServerTlsMode.VerifyCa => (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None,
                _ => true, // allow, prefer, require: encrypted, not authenticated (as libpq's require)
            },
        };
        if (roots is not null)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(roots);
            options.CertificateChainPolicy = policy;
        }

        return options;
    }
}
