using Npgsql;
using PgBouncerActors.Hosting;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// TLS towards clients with a certificate made by Debian's openssl for this run: psql with
/// sslmode=verify-full checks it, Npgsql with SSL Mode=Require uses it, and client_tls_sslmode =
/// require refuses a plaintext login as PgBouncer does.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClientTlsSpec(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-tls-").FullName;

    private string Certificate => Path.Combine(_folder, "server.crt");

    private string Key => Path.Combine(_folder, "server.key");

    public Task InitializeAsync() => TestCertificates.MakeSelfSignedAsync(Key, Certificate);

    public Task DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    private PoolerHost StartPooler(string mode) => postgres.StartPooler(
        $"client_tls_sslmode = {mode}, client_tls_cert_file = \"{Certificate}\", client_tls_key_file = \"{Key}\", pool_mode = transaction, " +
        $"admin_users = {PostgresFixture.ScramUser}");

    private Task<string> PsqlAsync(PoolerHost pooler, string sslOptions, string command) => postgres.RunToolAsync("psql",
        ["-X", "-At", "-c", command, $"host=localhost port={pooler.Port} user={PostgresFixture.ScramUser} dbname=postgres {sslOptions}"]);

    [Fact]
    public async Task Psql_with_verify_full_checks_the_poolers_certificate_and_runs_its_queries_over_TLS()
    {
        await using var pooler = StartPooler("require");
        var info = await PsqlAsync(pooler, $"sslmode=verify-full sslrootcert={Certificate}", "\\conninfo");
        Assert.Contains("SSL connection (protocol: TLSv1.", info);
        Assert.Equal("42", (await PsqlAsync(pooler, $"sslmode=verify-full sslrootcert={Certificate}", "select 41 + 1")).Trim());
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
}
