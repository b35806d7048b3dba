using System.Diagnostics;
using Npgsql;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// When the pool backs off and when it must not: logins that fail together count once (and the
/// clients queued meanwhile keep their turn), and a refusal that depends on who logs in (no such
/// database yet, a wrong password) is no outage.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class BackoffSpec(PostgresFixture postgres)
{
    private static async Task<string?> TryQueryAsync(string connectionString)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var select = new NpgsqlCommand("select 1", connection);
            await select.ExecuteScalarAsync();
            return null;
        }
        catch (NpgsqlException e)
        {
            return (e as PostgresException)?.SqlState ?? e.Message;
        }
    }

    private static async Task<TimeSpan> UntilFirstSuccessAsync(string connectionString, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (await TryQueryAsync(connectionString) is not null && clock.Elapsed < limit)
        {
            await Task.Delay(20);
        }

        return clock.Elapsed;
    }

    [Fact]
    public async Task Ten_logins_failing_together_count_as_one_failure_so_a_database_back_at_once_is_used_at_once()
    {
        // No login is refused before all ten wait for the pool and its ten logins are in flight: on a loaded machine a
        // client that logs in late would otherwise start a second wave after the first failed (a fixed delay before the
        // refusals, even of a second, was once not enough).
        var allInFlight = new TaskCompletionSource();
        await using var proxy = new FaultProxy(postgres.Cluster.Port)
        {
            Accept = ProxyAccept.Refuse, RefuseAfter = TimeSpan.FromMilliseconds(100), RefuseWhen = allInFlight.Task,
        };
        var log = new LogCapture();
        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 10",
            $"proxied {{ host = 127.0.0.1, port = {proxy.Port}, dbname = postgres }}", log);
        var connectionString = PostgresFixture.ConnectionString(pooler.Port, database: "proxied");

        var trying = Task.WhenAll(Enumerable.Range(0, 10).Select(_ => TryQueryAsync(connectionString)));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (proxy.Accepted < 10 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(10, proxy.Accepted);

        // The database is back the moment the wave fails: the ten held connections are refused, every later one is
        // forwarded. (Switching after the test had seen all ten failures let the pool's retry, 100ms after the first,
        // reach a proxy that still refused when the machine was busy, a second failure the pool rightly counted.)
        proxy.Accept = ProxyAccept.Forward;
        allInFlight.SetResult();
        // The ten held logins are refused one after another: an outage, so the ten clients keep their turn
        // (as PgBouncer's do) and the pool's retry, 100ms later, reaches the database that is back by then:
        // every one of them is served, none sees the failed wave.
        var failures = await trying;
        Assert.All(failures, Assert.Null);
        Assert.True(log.Count("(failure 1)") >= 1, string.Join("\n", log.Lines)); // the wave did fail

        var recovery = await UntilFirstSuccessAsync(connectionString, TimeSpan.FromSeconds(10));
        Assert.True(recovery < TimeSpan.FromSeconds(1.5), $"the first success came {recovery.TotalMilliseconds:0}ms after the database was back");
        Assert.True(log.Count("(failure 2)") == 0, string.Join("\n", log.Lines)); // one wave, one failure
    }

    [Fact]
    public async Task A_database_created_right_after_a_client_was_told_it_does_not_exist_is_usable_at_once()
    {
        await using var pooler = postgres.StartPooler("server_login_retry = 10", own: "server_backoff { min = 5s }");
        var connectionString = PostgresFixture.ConnectionString(pooler.Port, database: "created_late");
        Assert.Equal("3D000", await TryQueryAsync(connectionString));
        await postgres.Cluster.RunSqlAsync($"create database created_late owner {PostgresFixture.ScramUser}");
        try
        {
            Assert.Null(await TryQueryAsync(connectionString)); // not the cached 3D000 of a backoff
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await postgres.Cluster.RunSqlAsync("drop database created_late with (force)");
        }
    }

    [Fact]
    public async Task A_server_password_fixed_on_the_server_works_for_the_next_client_without_waiting_out_a_backoff()
    {
        await using var pooler = postgres.StartPooler("server_login_retry = 10", own: "server_backoff { min = 5s }",
            databases: $"fixed_user {{ host = 127.0.0.1, port = {postgres.Cluster.Port}, dbname = postgres, user = {PostgresFixture.Md5User}, password = \"changed-pass\" }}");
        var connectionString = PostgresFixture.ConnectionString(pooler.Port, database: "fixed_user");
        Assert.Equal("28P01", await TryQueryAsync(connectionString));
        await postgres.Cluster.RunSqlAsync($"alter role {PostgresFixture.Md5User} password 'changed-pass'");
        try
        {
            Assert.Null(await TryQueryAsync(connectionString));
        }
        finally
        {
            await postgres.Cluster.RunSqlAsync($"set password_encryption = 'md5'; alter role {PostgresFixture.Md5User} password '{PostgresFixture.Md5Password}'");
        }
    }

    [Fact]
    public async Task A_password_changed_on_the_server_fails_the_waiting_clients_with_its_error_at_once_after_RECONNECT_with_one_failed_login()
    {
        var user = $"pw_{Guid.NewGuid():N}"[..20];
        await postgres.Cluster.RunSqlAsync($"SET password_encryption = 'scram-sha-256'; CREATE ROLE {user} LOGIN PASSWORD 'old'");
        var userList = Path.GetTempFileName();
        await File.WriteAllTextAsync(userList, $"\"{user}\" \"old\"\n\"{PostgresFixture.ScramUser}\" \"{PostgresFixture.ScramPassword}\"\n");
        try
        {
            var log = new LogCapture();
            await using var pooler = postgres.StartPooler(
                $"auth_type = trust, auth_file = \"{userList}\", admin_users = {PostgresFixture.ScramUser}, pool_mode = transaction, default_pool_size = 1",
                log: log);
            var connectionString = PostgresFixture.ConnectionString(pooler.Port, user, "old");
            await using var holder = new NpgsqlConnection(connectionString);
            await holder.OpenAsync();
            await using var transaction = await holder.BeginTransactionAsync(); // holds the pool's one connection
            await using (var select = new NpgsqlCommand("select 1", holder, transaction))
            {
                await select.ExecuteScalarAsync();
            }

            await postgres.Cluster.RunSqlAsync($"ALTER ROLE {user} PASSWORD 'new'");
            var waiting = Enumerable.Range(0, 3).Select(_ => TryQueryAsync(connectionString)).ToList();
            await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
            await console.ShowAsync("RECONNECT"); // the held connection closes when given back: it serves nobody else
            await console.ShowAsync("SET default_pool_size = 2"); // room for a new connection, whose login fails

            var clock = Stopwatch.StartNew();
            var outcomes = await Task.WhenAll(waiting);
            Assert.All(outcomes, outcome => Assert.Equal("28P01", outcome)); // the server's own error, not a wait until query_wait_timeout
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed}");
            Assert.Equal(1, log.Count("server login failed")); // one login tried, not one per waiting client or per backoff round
            Assert.Contains(log.Lines, line => line.Contains($"closing because: password authentication failed for user \"{user}\" (age=0s)"));
        }
        finally
        {
            File.Delete(userList);
        }
    }
}
