using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.TestDecoding;
using PgBouncerActors.Demo;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// A PostgreSQL cluster of its own with wal_level = logical (the shared one runs with the default,
/// and changing it takes a restart under every other spec).
/// </summary>
public sealed class LogicalWalCluster : IAsyncLifetime
{
    public PostgresFixture Postgres { get; } = new();

    public async Task InitializeAsync()
    {
        await Postgres.InitializeAsync();
        await Postgres.Cluster.RunSqlAsync("ALTER SYSTEM SET wal_level = logical");
        await Postgres.Cluster.StopAsync();
        await Postgres.Cluster.StartAgainAsync();
    }

    public Task DisposeAsync() => Postgres.DisposeAsync();
}

/// <summary>
/// Replication connections through the pooler, as PgBouncer 1.23+ passes them: a client that logs
/// in with replication=database or replication=true gets a server connection of its own, opened
/// with its startup parameters, counted in its pool and closed when it leaves, whatever the pool's mode.
/// </summary>
/// <remarks>
/// In the PostgreSQL collection, though it has a cluster of its own: its initdb, restart and base
/// backup are heavy on 2 cores, and run beside ContentionSpec's minute of load they starved it.
/// </remarks>
[Collection(PostgresCollection.Name)]
public sealed class ReplicationSpec(LogicalWalCluster cluster) : IClassFixture<LogicalWalCluster>
{
    private PostgresFixture Postgres => cluster.Postgres;

    private static string ReplicationConnectionString(int port, string user = ScratchCluster.Superuser, string password = ScratchCluster.SuperuserPassword) =>
        new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(port, user, password))
        {
            SslMode = SslMode.Disable, GssEncryptionMode = GssEncryptionMode.Disable, ApplicationName = "wal-reader", IncludeErrorDetail = true,
        }.ConnectionString;

    /// <summary>How many walsenders the server runs for the pooler's clients (application_name wal-reader).</summary>
    private async Task<long> WalSendersAsync()
    {
        await using var direct = new NpgsqlConnection(Postgres.DirectConnectionString());
        await direct.OpenAsync();
        await using var count = new NpgsqlCommand(
            "select count(*) from pg_stat_activity where backend_type = 'walsender' and application_name = 'wal-reader'", direct);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    private async Task<long> WaitForWalSendersAsync(long expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        long now;
        while ((now = await WalSendersAsync()) != expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        return now;
    }

    [Fact]
    public async Task Logical_replication_streams_a_committed_insert_through_a_transaction_mode_pooler_and_its_walsender_ends_with_the_client()
    {
        await using var pooler = Postgres.StartPooler($"pool_mode = transaction, auth_type = trust, admin_users = {ScratchCluster.Superuser}");
        await Postgres.Cluster.RunSqlAsync("CREATE TABLE IF NOT EXISTS replicated(id int primary key, note text)");
        await using (var replication = new LogicalReplicationConnection(ReplicationConnectionString(pooler.Port)))
        {
            await replication.Open();
            var system = await replication.IdentifySystem();
            Assert.True(system.SystemId.Length > 0);
            var slot = await replication.CreateTestDecodingReplicationSlot("through_pooler", temporarySlot: true);
            Assert.Equal(1, await WalSendersAsync()); // the client's own server connection, not a pooled one
            await using (var console = await ConsoleClient.ConnectAsync(pooler.Port, ScratchCluster.Superuser))
            {
                foreach (var show in new[] { "SHOW CLIENTS", "SHOW SERVERS" })
                {
                    var table = await console.ShowAsync(show);
                    var column = table.Columns.FindIndex(c => c.Name == "replication");
                    Assert.Single(table.Rows, row => row[column] == "logical");
                }
            }

            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var changes = new List<string>();
            var reading = Task.Run(async () =>
            {
                await foreach (var change in replication.StartReplication(slot, stop.Token))
                {
                    changes.Add(change.Data);
                    if (change.Data.StartsWith("COMMIT", StringComparison.Ordinal))
                    {
                        return;
                    }
                }
            });
            await Postgres.Cluster.RunSqlAsync("INSERT INTO replicated VALUES (1, 'through the pooler')");
            await reading;
            Assert.Contains(changes, change => change.Contains("table public.replicated: INSERT: id[integer]:1 note[text]:'through the pooler'"));
        }

        Assert.Equal(0, await WaitForWalSendersAsync(0)); // closed when its client left, not kept for the next client
        await using var normal = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, ScratchCluster.Superuser, ScratchCluster.SuperuserPassword));
        await normal.OpenAsync();
        await using var select = new NpgsqlCommand("select count(*) from replicated", normal);
        Assert.Equal(1L, await select.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Physical_replication_takes_a_base_backup_with_pg_basebackup_through_the_pooler()
    {
        await using var pooler = Postgres.StartPooler();
        var target = Directory.CreateTempSubdirectory("pgba-basebackup-").FullName;
        try
        {
            Environment.SetEnvironmentVariable("PGPASSWORD", ScratchCluster.SuperuserPassword);
            // -X stream: a second replication connection, for the WAL, beside the backup's own.
            await ScratchCluster.RunAsync(Postgres.Cluster.BinPath("pg_basebackup"), ["-h", "127.0.0.1", "-p", pooler.Port.ToString(),
                "-U", ScratchCluster.Superuser, "-D", target, "--checkpoint=fast", "-X", "stream", "--no-sync"]);
            Assert.True(File.Exists(Path.Combine(target, "PG_VERSION")));
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(target, "pg_wal")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PGPASSWORD", null);
            Directory.Delete(target, recursive: true);
        }
    }

    [Fact]
    public async Task A_replication_client_evicts_an_idle_pooled_connection_when_the_pool_is_full()
    {
        var log = new LogCapture();
        await using var pooler = Postgres.StartPooler("default_pool_size = 1", log: log);
        await using (var normal = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, ScratchCluster.Superuser, ScratchCluster.SuperuserPassword)))
        {
            await normal.OpenAsync(); // session mode: the pool's one connection, idle once this client leaves
        }

        await using (var replication = new LogicalReplicationConnection(ReplicationConnectionString(pooler.Port)))
        {
            await replication.Open();
            Assert.NotNull(await replication.IdentifySystem());
        }

        Assert.Equal(1, log.Count("closing because: evicted"));
        Assert.Equal(0, await WaitForWalSendersAsync(0));
        await using var after = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, ScratchCluster.Superuser, ScratchCluster.SuperuserPassword));
        await after.OpenAsync(); // the replication connection's place is free again
    }

    [Fact]
    public async Task A_replication_login_the_server_refuses_fails_that_client_with_its_reason_and_no_other()
    {
        var log = new LogCapture();
        await using var pooler = Postgres.StartPooler(log: log);
        await using var refused = new LogicalReplicationConnection(ReplicationConnectionString(pooler.Port, PostgresFixture.ScramUser,
            PostgresFixture.ScramPassword));
        var error = await Assert.ThrowsAsync<PostgresException>(() => refused.Open());
        Assert.Equal("login failed", error.MessageText);
        Assert.Equal("42501", error.SqlState); // the server's own SQLSTATE
        Assert.Contains("must be superuser or replication role", error.Detail);
        Assert.True(log.Count("closing because: login failed (age=") >= 2, string.Join("\n", log.Lines)); // the server connection's line and the client's

        // Nothing of the pool's health: its other clients log in and query at once (no backoff, no cached error).
        await using var normal = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await normal.OpenAsync();
        await using var select = new NpgsqlCommand("select 1", normal);
        Assert.Equal(1, await select.ExecuteScalarAsync());
    }
}
