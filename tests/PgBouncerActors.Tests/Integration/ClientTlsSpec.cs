using System.Net.Security;
using System.Net.Sockets;
using Npgsql;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// TLS towards clients with a CA and certificates made by Debian's openssl for this run: psql with
/// sslmode require, verify-ca and verify-full checks the pooler; client_tls_sslmode = require
/// refuses a plaintext login as PgBouncer does; verify-full asks clients for a certificate of the
/// CA; auth_type = cert logs in the certificate's common name; Npgsql and SslStream start TLS
/// directly (PostgreSQL 17's sslnegotiation=direct, ALPN "postgresql").
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClientTlsSpec(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-tls-").FullName;
    private TestCa _ca = null!;
    private Issued _server = null!;
    private Issued _client = null!;
    private Issued _stranger = null!;

    public async Task InitializeAsync()
    {
        _ca = await TestCa.CreateAsync(_folder, "ca");
        _server = await _ca.IssueServerAsync("server");
        _client = await _ca.IssueClientAsync("client", PostgresFixture.ScramUser);
        _stranger = await (await TestCa.CreateAsync(_folder, "other-ca")).IssueClientAsync("stranger", PostgresFixture.ScramUser);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    private PoolerHost StartPooler(string mode, string more = "") => postgres.StartPooler(
        $"client_tls_sslmode = {mode}, client_tls_cert_file = \"{_server.Certificate}\", client_tls_key_file = \"{_server.Key}\", " +
        $"client_tls_ca_file = \"{_ca.Certificate}\", pool_mode = transaction, admin_users = {PostgresFixture.ScramUser} {more}");

    private Task<string> PsqlAsync(PoolerHost pooler, string sslOptions, string command, string user = PostgresFixture.ScramUser) =>
        postgres.RunToolAsync("psql", ["-X", "-At", "-c", command, $"host=localhost port={pooler.Port} user={user} dbname=postgres {sslOptions}"]);

    private string VerifyFull => $"sslmode=verify-full sslrootcert={_ca.Certificate}";

    private string WithCertificate(Issued certificate) => $"{VerifyFull} sslcert={certificate.Certificate} sslkey={certificate.Key}";

    [Fact]
    public async Task Psql_with_require_verify_ca_and_verify_full_checks_the_poolers_certificate_and_runs_its_queries_over_TLS()
    {
        await using var pooler = StartPooler("require");
        Assert.Contains("SSL connection (protocol: TLSv1.", await PsqlAsync(pooler, VerifyFull, "\\conninfo"));
        Assert.Equal("42", (await PsqlAsync(pooler, VerifyFull, "select 41 + 1")).Trim());
        Assert.Equal("43", (await PsqlAsync(pooler, $"sslmode=verify-ca sslrootcert={_ca.Certificate}", "select 42 + 1")).Trim());
        Assert.Equal("44", (await PsqlAsync(pooler, "sslmode=require", "select 43 + 1")).Trim());
        var clients = await postgres.RunToolAsync("psql", ["-X", "-At", "-c", "show clients",
            $"host=localhost port={pooler.Port} user={PostgresFixture.ScramUser} dbname=pgbouncer sslmode=require"]);
        Assert.Matches(@"\|TLSv1\.[23]/TLS_\w+\|", clients.Split('\n').Single(line => line.Contains("|pgbouncer|"))); // SHOW CLIENTS' tls column
    }

    [Fact]
    public async Task Require_refuses_a_plaintext_login_with_28000_SSL_required_before_authentication()
    {
        await using var pooler = StartPooler("require");
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(pooler, "sslmode=disable", "select 1"));
        Assert.Contains("SSL required", refused.Message);
    }

    [Fact]
    public async Task Prefer_serves_Npgsql_over_TLS_and_a_plaintext_client_too()
    {
        await using var pooler = StartPooler("prefer");
        var tls = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { SslMode = SslMode.Require };
        await using (var client = new NpgsqlConnection(tls.ConnectionString))
        {
            await client.OpenAsync();
            await using var select = new NpgsqlCommand("select 7", client);
            Assert.Equal(7, await select.ExecuteScalarAsync());
        }

        var plain = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { SslMode = SslMode.Disable };
        await using (var client = new NpgsqlConnection(plain.ConnectionString))
        {
            await client.OpenAsync();
            await using var select = new NpgsqlCommand("select 8", client);
            Assert.Equal(8, await select.ExecuteScalarAsync());
        }

        Assert.Contains("SSL connection", await PsqlAsync(pooler, "sslmode=require", "\\conninfo"));
    }

    [Fact]
    public async Task Verify_full_lets_in_only_clients_with_a_certificate_of_the_CA()
    {
        await using var pooler = StartPooler("verify-full");
        Assert.Equal("1", (await PsqlAsync(pooler, WithCertificate(_client), "select 1")).Trim());
        await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(pooler, VerifyFull, "select 1")); // no certificate
        await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(pooler, WithCertificate(_stranger), "select 1")); // another CA's
        Assert.Equal("2", (await PsqlAsync(pooler, WithCertificate(_client), "select 2")).Trim()); // the pooler serves on
    }

    [Fact]
    public async Task Cert_authentication_logs_in_the_certificates_common_name_with_Npgsql_and_refuses_another_user()
    {
        await using var pooler = StartPooler("verify-full", ", auth_type = cert");
        NpgsqlConnectionStringBuilder Builder(string user) => new(PostgresFixture.ConnectionString(pooler.Port, user: user, password: ""))
        {
            SslMode = SslMode.VerifyFull,
            RootCertificate = _ca.Certificate,
            SslCertificate = _client.Certificate,
            SslKey = _client.Key,
            Host = "localhost",
        };
        await using (var client = new NpgsqlConnection(Builder(PostgresFixture.ScramUser).ConnectionString))
        {
            await client.OpenAsync(); // no password: the certificate is the proof
            await using var who = new NpgsqlCommand("select current_user", client);
            Assert.Equal(PostgresFixture.ScramUser, await who.ExecuteScalarAsync());
        }

        await using var other = new NpgsqlConnection(Builder(PostgresFixture.Md5User).ConnectionString);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => other.OpenAsync());
        Assert.Equal(("28000", $"certificate authentication failed for user \"{PostgresFixture.Md5User}\""), (refused.SqlState, refused.MessageText));
    }

    [Fact]
    public async Task Direct_TLS_with_ALPN_serves_Npgsql_and_a_ClientHello_without_ALPN_is_refused_over_TLS()
    {
        await using var pooler = StartPooler("require");
        var direct = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port))
        {
            SslMode = SslMode.VerifyFull,
            RootCertificate = _ca.Certificate,
            SslNegotiation = SslNegotiation.Direct,
            Host = "localhost",
        };
        await using (var client = new NpgsqlConnection(direct.ConnectionString))
        {
            await client.OpenAsync();
            await using var select = new NpgsqlCommand("select 9", client);
            Assert.Equal(9, await select.ExecuteScalarAsync());
        }

        Assert.Equal((byte)'R', (await DirectStartupAsync(pooler.Port, alpn: true))[0]); // the authentication request
        var refused = await DirectStartupAsync(pooler.Port, alpn: false);
        Assert.Equal((byte)'E', refused[0]);
        Assert.Contains("received direct SSL connection request without ALPN protocol negotiation extension", System.Text.Encoding.UTF8.GetString(refused));
    }

    /// <summary>A TLS ClientHello first (no SSLRequest), then a startup packet over TLS; what the pooler answers.</summary>
    private async Task<byte[]> DirectStartupAsync(int port, bool alpn)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = alpn ? [new SslApplicationProtocol("postgresql")] : null,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        await tls.WriteAsync(new MessageBuilder().StartupMessage([new("user", PostgresFixture.ScramUser), new("database", "postgres")]).ToArray());
        var answer = new byte[512];
        var read = await tls.ReadAsync(answer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return answer[..read];
    }

    [Fact]
    public async Task Client_tls_protocols_and_ciphers_decide_what_psql_can_negotiate()
    {
        await using (var pooler = StartPooler("require", ", client_tls_protocols = tlsv1.3"))
        {
            Assert.Contains("protocol: TLSv1.3", await PsqlAsync(pooler, "sslmode=require", "\\conninfo"));
            await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(pooler, "sslmode=require ssl_max_protocol_version=TLSv1.2", "select 1"));
        }

        await using (var pooler = StartPooler("require", ", client_tls_protocols = tlsv1.2, client_tls_ciphers = \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\""))
        {
            Assert.Contains("cipher: ECDHE-ECDSA-AES128-GCM-SHA256", await PsqlAsync(pooler, "sslmode=require", "\\conninfo"));
        }

        var refused = Assert.Throws<ConfigurationException>(() => StartPooler("require", ", client_tls_ciphers = \"HIGH:!aNULL\""));
        Assert.Contains("client_tls_ciphers: 'HIGH' is not an IANA cipher suite name", refused.Message);
    }

    [Fact]
    public async Task Client_tls13_ciphers_decides_TLS_1_3_s_suite_which_the_login_line_names_and_SET_changes_it_for_the_next_client()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler(
            $"client_tls_sslmode = require, client_tls_cert_file = \"{_server.Certificate}\", client_tls_key_file = \"{_server.Key}\", " +
            $"client_tls_protocols = tlsv1.3, client_tls13_ciphers = TLS_CHACHA20_POLY1305_SHA256, auth_type = trust, admin_users = {PostgresFixture.ScramUser}",
            log: log);
        Assert.Contains("cipher: TLS_CHACHA20_POLY1305_SHA256", await PsqlAsync(pooler, "sslmode=require", "\\conninfo"));
        Assert.Contains(log.Lines, line => line.Contains("tls=TLSv1.3/TLS_CHACHA20_POLY1305_SHA256", StringComparison.Ordinal)); // PgBouncer's words

        // The admin console over TLS too (client_tls_sslmode = require), with psql.
        Task<string> SetAsync(string setting) => PsqlAsync(pooler, "sslmode=require dbname=pgbouncer", $"SET {setting}");
        await SetAsync("client_tls13_ciphers = 'TLS_AES_256_GCM_SHA384'");
        Assert.Contains("cipher: TLS_AES_256_GCM_SHA384", await PsqlAsync(pooler, "sslmode=require", "\\conninfo"));

        // A name that is no TLS 1.3 suite: taken and logged as PgBouncer does, and the suites in use stay.
        await SetAsync("client_tls13_ciphers = 'unknown'");
        Assert.Contains(log.Lines, line => line.Contains("failed to set the TLSv1.3 cipher suites", StringComparison.Ordinal));
        Assert.Contains("cipher: TLS_AES_256_GCM_SHA384", await PsqlAsync(pooler, "sslmode=require", "\\conninfo"));
    }

    [Fact]
    public async Task A_certificate_rotated_in_place_takes_effect_on_SIGHUP_and_open_TLS_clients_stay_connected()
    {
        var rotatedCa = await TestCa.CreateAsync(_folder, "rotated-ca");
        var rotated = await rotatedCa.IssueServerAsync("rotated");
        var certificate = Path.Combine(_folder, "live.crt");
        var key = Path.Combine(_folder, "live.key");
        File.Copy(_server.Certificate, certificate);
        File.Copy(_server.Key, key);
        await using var pooler = await PoolerProcess.StartAsync($$"""
            pgbouncer {
              listen_port = {port}, auth_type = scram-sha-256, auth_file = "{{postgres.UserListPath}}", pool_mode = transaction
              client_tls_sslmode = require, client_tls_cert_file = "{{certificate}}", client_tls_key_file = "{{key}}"
            }
            databases { "*" { host = 127.0.0.1, port = {{postgres.Cluster.Port}} } }
            """);
        string Psql(TestCa root) => $"host=localhost port={pooler.Port} user={PostgresFixture.ScramUser} dbname=postgres sslmode=verify-full sslrootcert={root.Certificate}";
        var open = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port))
        {
            SslMode = SslMode.VerifyFull,
            RootCertificate = _ca.Certificate,
            Host = "localhost",
        };
        await using var client = new NpgsqlConnection(open.ConnectionString);
        await client.OpenAsync();
        Assert.Equal("1", (await postgres.RunToolAsync("psql", ["-X", "-At", "-c", "select 1", Psql(_ca)])).Trim());

        File.Copy(rotated.Certificate, certificate, overwrite: true);
        File.Copy(rotated.Key, key, overwrite: true);
        var before = pooler.Lines.Count;
        await pooler.SignalAsync("HUP");
        await pooler.WaitForLineAsync("reload:", before);

        Assert.Equal("2", (await postgres.RunToolAsync("psql", ["-X", "-At", "-c", "select 2", Psql(rotatedCa)])).Trim());
        await Assert.ThrowsAsync<InvalidOperationException>(() => postgres.RunToolAsync("psql", ["-X", "-At", "-c", "select 3", Psql(_ca)]));
        await using var select = new NpgsqlCommand("select 4", client);
        Assert.Equal(4, await select.ExecuteScalarAsync()); // the connection made before keeps its TLS session
    }
}
