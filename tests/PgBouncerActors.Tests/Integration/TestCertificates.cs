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

/// <summary>A certificate authority made by openssl in a folder: it issues server and client certificates (EC P-256 keys, quick to make).</summary>
internal sealed class TestCa
{
    private readonly string _folder;
    private readonly string _name;

    private TestCa(string folder, string name)
    {
        _folder = folder;
        _name = name;
    }

    /// <summary>The CA's certificate (PEM): what sslrootcert, client_tls_ca_file and server_tls_ca_file name.</summary>
    public string Certificate => Path.Combine(_folder, $"{_name}.crt");

    private string Key => Path.Combine(_folder, $"{_name}.key");

    public static async Task<TestCa> CreateAsync(string folder, string name)
    {
        var ca = new TestCa(folder, name);
        await ScratchCluster.RunAsync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "1", "-subj", $"/CN={name}", "-keyout", ca.Key, "-out", ca.Certificate]);
        return ca;
    }

    /// <summary>A server certificate for localhost and 127.0.0.1.</summary>
    public Task<Issued> IssueServerAsync(string name) => IssueAsync(name, "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");

    /// <summary>A client certificate whose common name is <paramref name="user"/> (what cert authentication reads).</summary>
    public Task<Issued> IssueClientAsync(string name, string user) => IssueAsync(name, user, null);

    private async Task<Issued> IssueAsync(string name, string commonName, string? extension)
    {
        var issued = new Issued(Path.Combine(_folder, $"{name}.crt"), Path.Combine(_folder, $"{name}.key"));
        var request = Path.Combine(_folder, $"{name}.csr");
        await ScratchCluster.RunAsync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", $"/CN={commonName}", .. extension is null ? Array.Empty<string>() : ["-addext", extension], "-keyout", issued.Key, "-out", request]);
        await ScratchCluster.RunAsync("openssl", ["x509", "-req", "-in", request, "-CA", Certificate, "-CAkey", Key, "-CAcreateserial",
            "-days", "1", "-copy_extensions", "copy", "-out", issued.Certificate]);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(issued.Key, UnixFileMode.UserRead | UnixFileMode.UserWrite); // libpq refuses a key others can read
        }
        return issued;
    }
}

/// <summary>A certificate and its key (PEM files).</summary>
internal sealed record Issued(string Certificate, string Key);
