using PgBouncerActors.Demo;

namespace PgBouncerActors.Tests.Integration;

/// <summary>Certificates for the TLS specs, made by Debian's openssl for one run.</summary>
internal static class TestCertificates
{
    /// <summary>A self-signed certificate for localhost and 127.0.0.1, its own root for verify-full, and its key (PEM).</summary>
    public static Task MakeSelfSignedAsync(string key, string certificate) => ScratchCluster.RunAsync("openssl",
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", certificate]);
}
