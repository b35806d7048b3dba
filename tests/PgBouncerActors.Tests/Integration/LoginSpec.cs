using Npgsql;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Demo;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

[Collection(PostgresCollection.Name)]
public sealed class LoginSpec(PostgresFixture postgres)
{
    private static async Task<string?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (await command.ExecuteScalarAsync())?.ToString();
    }

    [Fact]
    public async Task A_scram_user_logs_in_through_the_pooler_and_the_server_sees_that_user()
    {
        await using var pooler = postgres.StartPooler();
        Assert.Equal(PostgresFixture.ScramUser, await ScalarAsync(PostgresFixture.ConnectionString(pooler.Port), "select current_user"));
    }

    [Fact]
    public async Task An_md5_user_logs_in_with_auth_type_md5_and_the_pooler_answers_the_servers_md5_challenge()
    {
        await using var pooler = postgres.StartPooler("auth_type = md5");
        var connectionString = PostgresFixture.ConnectionString(pooler.Port, PostgresFixture.Md5User, PostgresFixture.Md5Password);
        Assert.Equal(PostgresFixture.Md5User, await ScalarAsync(connectionString, "select current_user"));
    }

    [Fact]
    public async Task A_wrong_password_and_an_unknown_user_get_the_same_28P01()
    {
        await using var pooler = postgres.StartPooler();
        var wrong = await Assert.ThrowsAsync<PostgresException>(() =>
            ScalarAsync(PostgresFixture.ConnectionString(pooler.Port, PostgresFixture.ScramUser, "not-it"), "select 1"));
        var unknown = await Assert.ThrowsAsync<PostgresException>(() =>
            ScalarAsync(PostgresFixture.ConnectionString(pooler.Port, "nobody", "not-it"), "select 1"));
        Assert.Equal(("28P01", "28P01"), (wrong.SqlState, unknown.SqlState));
        Assert.Equal(wrong.MessageText.Replace(PostgresFixture.ScramUser, "X"), unknown.MessageText.Replace("nobody", "X"));
    }

    [Fact]
    public async Task An_unknown_database_gets_3D000()
    {
        var settingsWithoutFallback = SettingsLoader.LoadString($$"""
            pgbouncer { listen_port = 0, auth_type = scram-sha-256, auth_file = "{{postgres.UserListPath}}" }
            databases { appdb { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = postgres } }
            """);
        await using var strict = PoolerHost.Start(settingsWithoutFallback, Serilog.Core.Logger.None);
        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            ScalarAsync(PostgresFixture.ConnectionString(strict.Port, database: "nosuchdb"), "select 1"));
        Assert.Equal("3D000", error.SqlState);
        // The alias maps to the server's real database name.
        Assert.Equal("postgres", await ScalarAsync(PostgresFixture.ConnectionString(strict.Port, database: "appdb"), "select current_database()"));
    }

    [Fact]
    public async Task The_client_over_max_client_conn_gets_53300_naming_the_setting_and_the_others_keep_working()
    {
        await using var pooler = postgres.StartPooler("max_client_conn = 2");
        var connectionString = PostgresFixture.ConnectionString(pooler.Port);
        await using var first = new NpgsqlConnection(connectionString);
        await using var second = new NpgsqlConnection(connectionString);
        await first.OpenAsync();
        await second.OpenAsync();
        var refused = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(connectionString, "select 1"));
        Assert.Equal("53300", refused.SqlState);
        Assert.Contains("max_client_conn", refused.MessageText);
        await using var command = new NpgsqlCommand("select 7", first);
        Assert.Equal(7, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Startup_parameters_are_applied_on_the_server_including_options()
    {
        await using var pooler = postgres.StartPooler();
        var builder = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port))
        {
            ApplicationName = "orders-service",
            Options = "-c search_path=pg_catalog -c statement_timeout=1234",
            Timezone = "Asia/Tokyo",
        };
        Assert.Equal("orders-service|pg_catalog|1234ms|Asia/Tokyo", await ScalarAsync(builder.ConnectionString,
            "select current_setting('application_name') || '|' || current_setting('search_path') || '|' || current_setting('statement_timeout') || '|' || current_setting('TimeZone')"));
    }

    [Fact]
    public async Task A_setting_the_server_refuses_fails_the_login_with_the_servers_sqlstate()
    {
        await using var pooler = postgres.StartPooler();
        var builder = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { Options = "-c statement_timeout=banana" };
        var error = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(builder.ConnectionString, "select 1"));
        Assert.Equal("22023", error.SqlState); // invalid_parameter_value, as the server says it
    }

    [Fact]
    public async Task A_database_that_is_down_bounds_the_first_login_by_query_wait_timeout_and_tells_the_next_one_08001_at_once()
    {
        var settings = SettingsLoader.LoadString($$"""
            pgbouncer { listen_port = 0, auth_type = scram-sha-256, auth_file = "{{postgres.UserListPath}}", query_wait_timeout = 2 }
            databases { "*" { host = 127.0.0.1, port = {{ScratchCluster.FreePort()}} } }
            """);
        await using var pooler = PoolerHost.Start(settings, Serilog.Core.Logger.None);
        var connectionString = PostgresFixture.SingleAttemptConnectionString(pooler.Port);
        // As PgBouncer: the first client waits for the pool's retries (a restart costs it a wait, not an error), up to query_wait_timeout.
        var first = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(connectionString, "select 1"));
        Assert.Equal("57014", first.SqlState);
        Assert.StartsWith("query_wait_timeout", first.MessageText);

        // Then the pool knows the server is down: the next login is told at once, with the cached error.
        var told = System.Diagnostics.Stopwatch.StartNew();
        var next = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(connectionString, "select 1"));
        Assert.Equal("08001", next.SqlState);
        Assert.StartsWith("server login has been failing, cached error:", next.MessageText);
        Assert.True(told.Elapsed < TimeSpan.FromSeconds(1.5), $"the next login waited {told.Elapsed.TotalSeconds:0.0}s");
    }
}
