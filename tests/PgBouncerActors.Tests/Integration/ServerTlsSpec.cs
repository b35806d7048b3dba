using Npgsql;
using PgBouncerActors.Demo;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// TLS from the pooler to PostgreSQL: the fixture's cluster is given ssl = on with a certificate
/// made by openssl for this run (and back to plaintext after), and the pooler checks it as
/// server_tls_sslmode says.
/// </summary>
[Collection(PostgresCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ServerTlsSpec(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-server-tls-").FullName;

    private string Certificate => Path.Combine(_folder, "server.crt");

    private string OtherCa => Path.Combine(_folder, "other.crt");

    /// <summary>The CA of the pooler's own certificate, which the server is told to check client certificates against.</summary>
    private TestCa _clientCa = null!;

    private Issued _pooler = null!;

    public async Task InitializeAsync()
    {
        var key = Path.Combine(_folder, "server.key");
        await TestCertificates.MakeSelfSignedAsync(key, Certificate);
        await TestCertificates.MakeSelfSignedAsync(Path.Combine(_folder, "other.key"), OtherCa);
        _clientCa = await TestCa.CreateAsync(_folder, "client-ca");
        _pooler = await _clientCa.IssueClientAsync("pooler", "pooler");
        // PostgreSQL (running as postgres when the tests run as root) reads them and wants its key private.
        File.SetUnixFileMode(_folder, (UnixFileMode)Convert.ToInt32("755", 8));
        if (Environment.UserName == "root")
        {
            await ScratchCluster.RunAsync("chown", ["postgres", key, Certificate]);
        }

        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await postgres.Cluster.RunSqlAsync(
            $"ALTER SYSTEM SET ssl_cert_file = '{Certificate}'; ALTER SYSTEM SET ssl_key_file = '{key}'; ALTER SYSTEM SET ssl = on; " +
            $"ALTER SYSTEM SET ssl_ca_file = '{_clientCa.Certificate}';"); // asks TLS clients for a certificate, checks one if sent
        await postgres.Cluster.RunSqlAsync("SELECT pg_reload_conf();");
    }

    public async Task DisposeAsync()
    {
        await postgres.Cluster.RunSqlAsync(
            "ALTER SYSTEM RESET ssl; ALTER SYSTEM RESET ssl_cert_file; ALTER SYSTEM RESET ssl_key_file; ALTER SYSTEM RESET ssl_ca_file;");
        await postgres.Cluster.RunSqlAsync("SELECT pg_reload_conf();");
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<object?> ServerSslAsync(string pgbouncer, string column = "ssl")
    {
        await using var pooler = postgres.StartPooler($"pool_mode = transaction, {pgbouncer}");
        await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await client.OpenAsync();
        await using var ssl = new NpgsqlCommand($"select {column} from pg_stat_ssl where pid = pg_backend_pid()", client);
        return await ssl.ExecuteScalarAsync();
    }

    [Fact]
    public async Task The_server_sees_the_poolers_client_certificate_and_the_protocol_server_tls_protocols_allows()
    {
        var verifyFull = $"server_tls_sslmode = verify-full, server_tls_ca_file = \"{Certificate}\"";
        Assert.Equal("/CN=pooler", await ServerSslAsync(
            $"{verifyFull}, server_tls_cert_file = \"{_pooler.Certificate}\", server_tls_key_file = \"{_pooler.Key}\"", "client_dn"));
        Assert.Equal(DBNull.Value, await ServerSslAsync(verifyFull, "client_dn"));
        Assert.Equal("TLSv1.2", await ServerSslAsync($"{verifyFull}, server_tls_protocols = tlsv1.2", "version"));
    }

    [Fact]
    public async Task Verify_full_checks_the_servers_certificate_against_the_CA_file_and_the_server_sees_TLS()
    {
        Assert.Equal(true, await ServerSslAsync($"server_tls_sslmode = verify-full, server_tls_ca_file = \"{Certificate}\""));
    }

    [Fact]
    public async Task Pgbench_through_pooled_TLS_server_connections_parked_and_handed_over_loses_no_transaction()
    {
        await postgres.EnsurePgbenchInitializedAsync();
        await using var pooler = postgres.StartPooler(
            $"pool_mode = transaction, default_pool_size = 2, server_tls_sslmode = verify-full, server_tls_ca_file = \"{Certificate}\"");
        var output = await postgres.RunToolAsync("pgbench", ["-n", "-c", "6", "-j", "2", "-t", "200", "-h", "127.0.0.1", "-p", pooler.Port.ToString(),
            "-U", PostgresFixture.ScramUser, "bench"]);
        Assert.Equal("0", PostgresFixture.FailedTransactions(output));
        Assert.Contains("number of transactions actually processed: 1200/1200", output);
    }

    /// <summary>
    /// As PgBouncer: a reload or SET that changes server_tls_* replaces the pool's connections
    /// (logged as "database configuration changed"), and the console answers once every pool has
    /// the new settings, so the very next transaction runs on a TLS connection, without a restart
    /// or a RECONNECT.
    /// </summary>
    [Fact]
    public async Task Turning_server_TLS_on_with_SET_replaces_the_plaintext_connections_before_the_console_answers()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler(
            $"pool_mode = transaction, default_pool_size = 1, server_tls_sslmode = disable, auth_type = trust, admin_users = {PostgresFixture.ScramUser}", log: log);
        await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await client.OpenAsync();
        await using var ssl = new NpgsqlCommand("select ssl from pg_stat_ssl where pid = pg_backend_pid()", client);
        Assert.Equal(false, await ssl.ExecuteScalarAsync());
        await ServerDeathSpec.WaitUntilBackAtTheDeskAsync(pooler); // else the next query may still go where the last one went

        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        Assert.Null((await console.ShowAsync("SET server_tls_sslmode = prefer")).Error);
        Assert.Equal(true, await ssl.ExecuteScalarAsync());
        for (var waited = 0; log.Count("closing because: database configuration changed") == 0; waited += 10) // logged as the old one closes
        {
            Assert.True(waited < 10_000, "the plaintext connection's close was never logged:\n" + string.Join("\n", log.Lines));
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Without_TLS_the_server_sees_plaintext_and_prefer_takes_TLS_when_offered()
    {
        Assert.Equal(false, await ServerSslAsync("server_tls_sslmode = disable"));
        Assert.Equal(true, await ServerSslAsync("server_tls_sslmode = prefer"));
    }

    [Fact]
    public async Task A_certificate_that_does_not_chain_to_the_CA_file_fails_the_server_login_and_the_client_is_told_why()
    {
        await using var pooler = postgres.StartPooler(
            $"pool_mode = transaction, server_tls_sslmode = verify-ca, server_tls_ca_file = \"{OtherCa}\", server_connect_timeout = 5, query_wait_timeout = 2");
        var once = PostgresFixture.SingleAttemptConnectionString(pooler.Port);
        async Task OpenAsync()
        {
            await using var client = new NpgsqlConnection(once);
            await client.OpenAsync();
        }

        // As PgBouncer, the first client waits while the pool retries, up to query_wait_timeout...
        var waited = await Assert.ThrowsAsync<PostgresException>(OpenAsync);
        Assert.Equal("57014", waited.SqlState);
        // ...and the next is told at once why the server logins fail.
        var refused = await Assert.ThrowsAsync<PostgresException>(OpenAsync);
        Assert.StartsWith("08", refused.SqlState);
        Assert.Contains("TLS towards server", refused.MessageText);
    }

    [Fact]
    public async Task A_refused_server_certificate_is_logged_as_certificate_verify_failed_and_a_SET_of_the_right_CA_file_is_tried_at_once()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler($"pool_mode = transaction, server_tls_sslmode = verify-full, server_tls_ca_file = \"{OtherCa}\", " +
            $"query_wait_timeout = 2, auth_type = trust, admin_users = {PostgresFixture.ScramUser}", log: log);
        var once = PostgresFixture.SingleAttemptConnectionString(pooler.Port);
        await using (var refused = new NpgsqlConnection(once))
        {
            await Assert.ThrowsAsync<PostgresException>(() => refused.OpenAsync());
        }

        Assert.Contains(log.Lines, line => line.Contains("certificate verify failed", StringComparison.Ordinal)); // OpenSSL's words, as PgBouncer logs them

        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        await console.ShowAsync($"SET server_tls_ca_file = '{Certificate}'");
        // Not "server login has been failing, cached error": the failures were the old CA file's.
        await using var client = new NpgsqlConnection(once);
        await client.OpenAsync();
        await using var ssl = new NpgsqlCommand("select ssl from pg_stat_ssl where pid = pg_backend_pid()", client);
        Assert.Equal(true, await ssl.ExecuteScalarAsync());
    }

    [Fact]
    public async Task SET_takes_a_new_certificate_and_key_one_at_a_time_keeping_the_old_pair_in_between()
    {
        await using var pooler = postgres.StartPooler($"pool_mode = transaction, server_tls_sslmode = verify-full, server_tls_ca_file = \"{Certificate}\", " +
            $"auth_type = trust, admin_users = {PostgresFixture.ScramUser}");
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        Assert.Null((await console.RunAsync($"SET server_tls_key_file = '{_pooler.Key}'")).Error); // no certificate yet: taken, TLS as before
        var missing = await console.RunAsync($"SET server_tls_cert_file = '{_pooler.Certificate}.missing'");
        Assert.Contains("cannot load the certificate and key", missing.Error?.Message); // a file that is not there is refused
        Assert.Null((await console.RunAsync($"SET server_tls_cert_file = '{_pooler.Certificate}'")).Error);

        await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await client.OpenAsync();
        await using var dn = new NpgsqlCommand("select client_dn from pg_stat_ssl where pid = pg_backend_pid()", client);
        Assert.Equal("/CN=pooler", await dn.ExecuteScalarAsync()); // the pair, once whole, is what the server sees
    }
}
