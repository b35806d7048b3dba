using Npgsql;
using PgBouncerActors.Demo;
using PgBouncerActors.Hosting;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// auth_user and auth_query, as teams that keep passwords out of a userlist run them: users absent
/// from auth_file are looked up in pg_authid on auth_user's own pool; an expired password, an
/// unknown user and a wrong password all get the same 28P01 (CVE-2025-2291, no enumeration); a
/// changed password is read afresh after a failure; a database entry may bring its own query and
/// its own auth database.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class AuthQuerySpec(PostgresFixture postgres) : IAsyncLifetime
{
    private const string Live = "aq_live";
    private const string Expired = "aq_expired";
    private PoolerHost _pooler = null!;
    private readonly LogCapture _log = new();

    public async Task InitializeAsync()
    {
        await postgres.Cluster.RunSqlAsync($"""
            SET password_encryption = 'scram-sha-256';
            DROP ROLE IF EXISTS {Live}; DROP ROLE IF EXISTS {Expired};
            CREATE ROLE {Live} LOGIN PASSWORD 'live-pass';
            CREATE ROLE {Expired} LOGIN PASSWORD 'old-pass' VALID UNTIL '2001-01-01';
            """);
        // The superuser (in the fixture's auth_file) reads pg_authid; aq_* are in no auth_file.
        _pooler = postgres.StartPooler($"auth_user = {ScratchCluster.Superuser}, pool_mode = transaction, admin_users = {PostgresFixture.ScramUser}", log: _log,
            databases: $$"""
                nobody { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = postgres, auth_query = "SELECT $1::text, NULL::text" }
                elsewhere { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = postgres, auth_dbname = authdb }
                authdb { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = bench }
                """);
    }

    public async Task DisposeAsync()
    {
        await _pooler.DisposeAsync();
        await postgres.Cluster.RunSqlAsync($"DROP ROLE IF EXISTS {Live}; DROP ROLE IF EXISTS {Expired};");
    }

    private async Task<object?> QueryAsync(string user, string password, string database = "postgres", string sql = "select current_user")
    {
        await using var client = new NpgsqlConnection(PostgresFixture.ConnectionString(_pooler.Port, user, password, database));
        await client.OpenAsync();
        await using var command = new NpgsqlCommand(sql, client);
        return await command.ExecuteScalarAsync();
    }

    private async Task<(string SqlState, string Message)> RefusedAsync(string user, string password, string database = "postgres")
    {
        var refused = await Assert.ThrowsAsync<PostgresException>(() => QueryAsync(user, password, database));
        return (refused.SqlState, refused.MessageText);
    }

    [Fact]
    public async Task A_user_found_by_auth_query_logs_in_with_SCRAM_and_the_server_sees_that_user()
    {
        Assert.Equal(Live, await QueryAsync(Live, "live-pass"));
        Assert.Equal(Live, await QueryAsync(Live, "live-pass")); // from the cache this time, the same outcome
    }

    [Fact]
    public async Task An_expired_password_an_unknown_user_and_a_wrong_password_get_the_same_28P01_and_the_same_words()
    {
        Assert.Equal(("28P01", "SASL authentication failed"), await RefusedAsync(Expired, "old-pass"));
        Assert.Equal(("28P01", "SASL authentication failed"), await RefusedAsync("aq_nobody", "whatever"));
        Assert.Equal(("28P01", "SASL authentication failed"), await RefusedAsync(Live, "wrong"));
        Assert.Equal(Live, await QueryAsync(Live, "live-pass")); // a failure costs nobody else anything
    }

    [Fact]
    public async Task A_changed_password_is_read_afresh_once_a_login_with_the_cached_verifier_fails()
    {
        await postgres.Cluster.RunSqlAsync($"SET password_encryption = 'scram-sha-256'; ALTER ROLE {Live} PASSWORD 'live-pass';");
        Assert.Equal(Live, await QueryAsync(Live, "live-pass")); // cached now
        await postgres.Cluster.RunSqlAsync($"SET password_encryption = 'scram-sha-256'; ALTER ROLE {Live} PASSWORD 'next-pass';");
        try
        {
            // SCRAM's salt comes from the secret: psql's first try meets the cached verifier and fails, which drops it...
            var psql = $"host=127.0.0.1 port={_pooler.Port} dbname=postgres user={Live} password=next-pass sslmode=disable gssencmode=disable";
            var first = await Assert.ThrowsAsync<InvalidOperationException>(() => postgres.RunToolAsync("psql", ["-X", "-At", "-c", "select 1", psql]));
            Assert.Contains($"password authentication failed for user \"{Live}\"", first.Message);
            Assert.Equal("1", (await postgres.RunToolAsync("psql", ["-X", "-At", "-c", "select 1", psql])).Trim()); // ...and the next one reads it afresh

            // Npgsql retries a refused login once by itself (after its GSS/TLS "prefer" attempt), so its users see no failure at all.
            await postgres.Cluster.RunSqlAsync($"SET password_encryption = 'scram-sha-256'; ALTER ROLE {Live} PASSWORD 'third-pass';");
            int Failures() => _log.Lines.Count(line => line.Contains($"client login failed: db=postgres user={Live}") && line.EndsWith("reason=wrong password"));
            var failuresBefore = Failures();
            Assert.Equal(Live, await QueryAsync(Live, "third-pass"));
            Assert.Equal(failuresBefore + 1, Failures());
            Assert.Equal("28P01", (await RefusedAsync(Live, "next-pass")).SqlState); // the password before is gone
        }
        finally
        {
            await postgres.Cluster.RunSqlAsync($"SET password_encryption = 'scram-sha-256'; ALTER ROLE {Live} PASSWORD 'live-pass';");
        }
    }

    [Fact]
    public async Task A_database_entry_brings_its_own_auth_query_and_its_own_auth_database()
    {
        // nobody's query finds no secret for anyone: refused as a wrong password is, while postgres's default query lets the user in.
        Assert.Equal(("28P01", "SASL authentication failed"), await RefusedAsync(Live, "live-pass", "nobody"));
        Assert.Equal(Live, await QueryAsync(Live, "live-pass", "elsewhere"));
        var pools = (await postgres.RunToolAsync("psql", ["-X", "-At", "-c", "SHOW POOLS",
            $"host=127.0.0.1 port={_pooler.Port} dbname=pgbouncer user={PostgresFixture.ScramUser} password={PostgresFixture.ScramPassword}"])).Split('\n');
        Assert.Contains(pools, row => row.StartsWith($"authdb|{ScratchCluster.Superuser}|", StringComparison.Ordinal)); // elsewhere's query ran in authdb's pool
        Assert.Contains(pools, row => row.StartsWith($"elsewhere|{Live}|", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_console_user_kept_in_PostgreSQL_logs_in_with_auth_query_run_in_the_auth_dbname_database()
    {
        await using var pooler = postgres.StartPooler($"auth_user = {ScratchCluster.Superuser}, auth_dbname = authdb, stats_users = {Live}",
            databases: $"authdb {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres }}");
        Environment.SetEnvironmentVariable("PGPASSWORD", "live-pass");
        try
        {
            var psql = postgres.Cluster.BinPath("psql");
            var version = await ScratchCluster.RunAsync(psql, ["-X", "-At", "-c", "SHOW VERSION", $"host=127.0.0.1 port={pooler.Port} user={Live} dbname=pgbouncer"]);
            Assert.StartsWith("PgBouncer 1.25.2", version);
            Environment.SetEnvironmentVariable("PGPASSWORD", "wrong");
            var refused = await ScratchCluster.RunCapturingAsync(psql, ["-X", "-At", "-c", "SHOW VERSION", $"host=127.0.0.1 port={pooler.Port} user={Live} dbname=pgbouncer"])
                .ContinueWith(run => run.Exception?.InnerException?.Message ?? "");
            Assert.Contains("authentication failed", refused);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PGPASSWORD", null);
        }
    }

    [Fact]
    public void The_console_cannot_be_the_auth_dbname_of_the_pgbouncer_section()
    {
        var refused = Assert.Throws<PgBouncerActors.Configuration.ConfigurationException>(() => postgres.Settings("auth_user = someone, auth_dbname = pgbouncer"));
        Assert.Contains("cannot use the reserved \"pgbouncer\" database as an auth_dbname", refused.Message); // PgBouncer's words
    }
}
