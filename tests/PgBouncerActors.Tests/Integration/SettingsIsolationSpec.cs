using Npgsql;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// A client starts from the server's defaults and its own startup parameters, nothing else, and
/// its startup parameters stay its defaults whatever it resets, as on a direct connection.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SettingsIsolationSpec(PostgresFixture postgres)
{
    private static readonly string[] Watched = ["TimeZone", "DateStyle", "standard_conforming_strings", "IntervalStyle"];

    private static async Task<string> ShowAsync(NpgsqlConnection connection, string setting)
    {
        await using var show = new NpgsqlCommand($"show {setting}", connection);
        return (string)(await show.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static string With(string connectionString, Action<NpgsqlConnectionStringBuilder> change)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        change(builder);
        return builder.ConnectionString;
    }

    [Theory]
    [InlineData("transaction")]
    [InlineData("session")]
    public async Task A_new_client_gets_the_servers_defaults_not_the_settings_the_last_client_left(string mode)
    {
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
        await direct.OpenAsync();
        var defaults = new Dictionary<string, string>();
        foreach (var setting in Watched)
        {
            defaults[setting] = await ShowAsync(direct, setting);
        }

        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 1, server_reset_query = \"\"");
        await using (var first = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port)))
        {
            await first.OpenAsync();
            await ExecuteAsync(first, "set TimeZone = 'Asia/Tokyo'; set DateStyle = 'SQL, DMY'; set standard_conforming_strings = off; " +
                                      "set IntervalStyle = 'sql_standard'");
        }

        await using var second = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await second.OpenAsync();
        foreach (var setting in Watched)
        {
            Assert.Equal(defaults[setting], second.PostgresParameters[setting]); // what its login told it
            Assert.Equal(defaults[setting], await ShowAsync(second, setting)); // and what the server does
        }
    }

    public static TheoryData<string, string> Resets => new()
    {
        { "transaction", "RESET ALL" },
        { "transaction", "DISCARD ALL" },
        { "transaction", "RESET TimeZone" },
        { "transaction", "SET TimeZone TO DEFAULT" },
        { "session", "RESET ALL" },
        { "session", "DISCARD ALL" },
        { "session", "SET search_path = DEFAULT" },
        { "statement", "RESET ALL" },
        { "statement", "DISCARD ALL" },
    };

    [Theory]
    [MemberData(nameof(Resets))]
    public async Task After_a_reset_a_client_sees_the_startup_settings_it_asked_for_as_on_a_direct_connection(string mode, string reset)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 2");
        foreach (var (label, connectionString) in new[]
                 {
                     ("direct", With(postgres.DirectConnectionString(), b => { b.Timezone = "Europe/Berlin"; b.SearchPath = "pg_catalog, public"; })),
                     ("pooler", With(PostgresFixture.ConnectionString(pooler.Port), b => { b.Timezone = "Europe/Berlin"; b.SearchPath = "pg_catalog, public"; })),
                 })
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await ExecuteAsync(connection, "set TimeZone = 'Asia/Tokyo'");
            await ExecuteAsync(connection, "set search_path = public");
            await ExecuteAsync(connection, reset);
            var zone = reset.Contains("search_path") ? "Asia/Tokyo" : "Europe/Berlin";
            var path = reset.Contains("TimeZone") ? "public" : "pg_catalog, public";
            Assert.Equal((label, zone, path), (label, await ShowAsync(connection, "TimeZone"), await ShowAsync(connection, "search_path")));
            Assert.Equal((label, zone), (label, connection.Timezone));
        }
    }

    [Theory]
    [InlineData("transaction")]
    [InlineData("session")]
    public async Task Npgsqls_own_pool_resetting_a_reused_connection_keeps_the_connection_strings_time_zone(string mode)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}");
        var connectionString = With(PostgresFixture.ConnectionString(pooler.Port), b =>
        {
            b.Pooling = true; // Npgsql sends DISCARD ALL when it hands out a connection it pooled
            b.Timezone = "Europe/Berlin";
            b.ApplicationName = "spec-" + Guid.NewGuid().ToString("N");
        });
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        for (var open = 0; open < 3; open++)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var render = new NpgsqlCommand("select '2024-01-01 00:00:00+00'::timestamptz::text, current_setting('application_name')", connection);
            await using var reader = await render.ExecuteReaderAsync();
            await reader.ReadAsync();
            Assert.Equal(("2024-01-01 01:00:00+01", new NpgsqlConnectionStringBuilder(connectionString).ApplicationName),
                (reader.GetString(0), reader.GetString(1)));
            await reader.DisposeAsync();
            await ExecuteAsync(connection, "set TimeZone = 'Asia/Tokyo'"); // what the reset must take away again
        }
    }

    /// <summary>
    /// PgJDBC logs in with DateStyle=ISO, which the server reports as "ISO, MDY". As PgBouncer does
    /// (its varcache_set_canonical), the client's value takes the server's spelling after the first
    /// SET, so a transaction that lands on a connection already carrying it sends no SET DateStyle
    /// again; only what really differs between the clients (their application_name) is set. With
    /// verbose, the log says so in PgBouncer's words (varcache_apply, varcache_set_canonical).
    /// </summary>
    [Fact]
    public async Task A_startup_setting_the_server_spells_otherwise_is_set_once_per_client_not_at_every_transaction()
    {
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 1", log: log, logLevel: Serilog.Events.LogEventLevel.Debug);
        var clients = new List<(string Name, NpgsqlConnection Connection)>();
        foreach (var name in new[] { "first", "second" })
        {
            var client = new NpgsqlConnection(With(PostgresFixture.ConnectionString(pooler.Port), builder =>
            {
                builder.Options = "-c DateStyle=ISO";
                builder.ApplicationName = name;
            }));
            await client.OpenAsync();
            clients.Add((name, client));
        }

        try
        {
            for (var round = 0; round < 4; round++)
            {
                foreach (var (name, client) in clients)
                {
                    Assert.Equal("ISO, MDY", await ShowAsync(client, "DateStyle"));
                    Assert.Equal(name, await ShowAsync(client, "application_name"));
                }
            }
        }
        finally
        {
            foreach (var (_, client) in clients)
            {
                await client.DisposeAsync();
            }
        }

        var applied = log.Lines.Where(line => line.StartsWith("varcache_apply:", StringComparison.Ordinal)).ToList();
        Assert.InRange(applied.Count(line => line.Contains("SET application_name=", StringComparison.Ordinal)), 8, 10); // they take turns on one connection (and Npgsql's opening query)
        Assert.Equal(2, applied.Count(line => line.Contains("SET DateStyle='ISO';", StringComparison.Ordinal))); // once for each, not at each turn
        Assert.Equal(2, log.Count("varcache_set_canonical: setting DateStyle to its canonical version ISO -> ISO, MDY"));
    }

    [Fact]
    public async Task Psql_with_PGOPTIONS_keeps_its_options_after_RESET_ALL()
    {
        await using var pooler = postgres.StartPooler("pool_mode = transaction");
        Environment.SetEnvironmentVariable("PGOPTIONS", "-c TimeZone=Asia/Kolkata -c extra_float_digits=1");
        try
        {
            var output = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", PostgresFixture.ScramUser,
                "-d", "postgres", "-c", "set TimeZone = 'UTC'", "-c", "reset all", "-c", "show TimeZone", "-c", "show extra_float_digits"]);
            Assert.Equal(["SET", "RESET", "Asia/Kolkata", "1"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PGOPTIONS", null);
        }
    }
}
