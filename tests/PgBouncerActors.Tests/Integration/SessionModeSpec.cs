using Npgsql;
using NpgsqlTypes;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

[Collection(PostgresCollection.Name)]
public sealed class SessionModeSpec(PostgresFixture postgres)
{
    private static async Task<NpgsqlConnection> OpenAsync(int port)
    {
        var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port));
        await connection.OpenAsync();
        return connection;
    }

    [Fact]
    public async Task Plain_and_prepared_commands_and_a_transaction_run_through_the_pooler()
    {
        await using var pooler = postgres.StartPooler();
        await using var connection = await OpenAsync(pooler.Port);
        await using (var create = new NpgsqlCommand("create temp table items(id int primary key, name text)", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await using var insert = new NpgsqlCommand("insert into items values ($1, $2)", connection, transaction);
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text });
            await insert.PrepareAsync();
            for (var i = 1; i <= 20; i++)
            {
                insert.Parameters[0].Value = i;
                insert.Parameters[1].Value = $"item {i}";
                await insert.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
        }

        await using (var rolledBack = await connection.BeginTransactionAsync())
        {
            await using var delete = new NpgsqlCommand("delete from items", connection, rolledBack);
            Assert.Equal(20, await delete.ExecuteNonQueryAsync());
            await rolledBack.RollbackAsync();
        }

        await using var sum = new NpgsqlCommand("select sum(id), max(name) from items", connection);
        await using var reader = await sum.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((210L, "item 9"), (reader.GetInt64(0), reader.GetString(1)));
    }

    [Fact]
    public async Task A_server_error_reaches_the_client_with_its_sqlstate_and_the_session_stays_usable()
    {
        await using var pooler = postgres.StartPooler();
        await using var connection = await OpenAsync(pooler.Port);
        await using var divide = new NpgsqlCommand("select 1/0", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => divide.ExecuteScalarAsync());
        Assert.Equal("22012", error.SqlState);
        await using var next = new NpgsqlCommand("select 'still here'", connection);
        Assert.Equal("still here", await next.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Copy_in_binary_and_copy_out_text_pass_through_unchanged()
    {
        await using var pooler = postgres.StartPooler();
        await using var connection = await OpenAsync(pooler.Port);
        await using (var create = new NpgsqlCommand("create temp table readings(sensor int, value double precision, note text)", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        const int rows = 50_000; // several hundred kilobytes: many CopyData frames and TCP segments
        await using (var importer = await connection.BeginBinaryImportAsync("copy readings from stdin (format binary)"))
        {
            for (var i = 0; i < rows; i++)
            {
                await importer.StartRowAsync();
                await importer.WriteAsync(i, NpgsqlDbType.Integer);
                await importer.WriteAsync(i * 0.5, NpgsqlDbType.Double);
                await importer.WriteAsync($"note {i}", NpgsqlDbType.Text);
            }

            Assert.Equal((ulong)rows, await importer.CompleteAsync());
        }

        using var exported = await connection.BeginTextExportAsync("copy (select sensor, note from readings where sensor < 3 order by sensor) to stdout");
        Assert.Equal("0\tnote 0\n1\tnote 1\n2\tnote 2\n", await exported.ReadToEndAsync());
    }

    [Fact]
    public async Task A_listening_client_receives_a_notification_sent_by_another()
    {
        await using var pooler = postgres.StartPooler();
        await using var listener = await OpenAsync(pooler.Port);
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Notification += (_, e) => received.TrySetResult($"{e.Channel}:{e.Payload}");
        await using (var listen = new NpgsqlCommand("listen orders", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }

        await using (var sender = await OpenAsync(pooler.Port))
        await using (var notify = new NpgsqlCommand("notify orders, 'order 42 shipped'", sender))
        {
            await notify.ExecuteNonQueryAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await listener.WaitAsync(timeout.Token);
        Assert.Equal("orders:order 42 shipped", await received.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Fifty_concurrent_clients_share_a_pool_of_five_server_connections()
    {
        await using var pooler = postgres.StartPooler("default_pool_size = 5");
        var peak = 0;
        var clients = Enumerable.Range(0, 50).Select(async client =>
        {
            await using var connection = await OpenAsync(pooler.Port);
            for (var i = 0; i < 5; i++)
            {
                await using var command = new NpgsqlCommand("select $1::int * 2, (select count(*) from pg_stat_activity where usename = current_user and backend_type = 'client backend')", connection);
                command.Parameters.AddWithValue(client * 100 + i);
                await using var reader = await command.ExecuteReaderAsync();
                await reader.ReadAsync();
                Assert.Equal((client * 100 + i) * 2, reader.GetInt32(0)); // every client gets its own answer
                InterlockedMax(ref peak, (int)reader.GetInt64(1));
            }
        });
        await Task.WhenAll(clients);
        Assert.InRange(peak, 1, 5);
    }

    [Fact]
    public async Task A_session_end_resets_the_server_connection_before_the_next_client_gets_it()
    {
        await using var pooler = postgres.StartPooler("default_pool_size = 1");
        int firstPid;
        await using (var first = await OpenAsync(pooler.Port))
        {
            await using var set = new NpgsqlCommand("set work_mem = '7MB'; create temp table leftover(x int); select pg_backend_pid()", first);
            firstPid = (int)(await set.ExecuteScalarAsync())!;
        }

        await using var second = await OpenAsync(pooler.Port);
        await using var check = new NpgsqlCommand("select pg_backend_pid(), current_setting('work_mem'), to_regclass('pg_temp.leftover') is null", second);
        await using var reader = await check.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal((firstPid, "4MB", true), (reader.GetInt32(0), reader.GetString(1), reader.GetBoolean(2)));
    }

    [Fact]
    public async Task A_client_that_vanishes_mid_transaction_gets_its_server_connection_closed_not_reused()
    {
        await using var pooler = postgres.StartPooler("default_pool_size = 1");
        int abandonedPid;
        var abandoned = await OpenAsync(pooler.Port);
        await using (var begin = new NpgsqlCommand("begin; create temp table half_done(x int); select pg_backend_pid()", abandoned))
        {
            abandonedPid = (int)(await begin.ExecuteScalarAsync())!;
        }

        abandoned.Dispose(); // Npgsql sends Terminate mid-transaction
        await using var next = await OpenAsync(pooler.Port);
        await using var check = new NpgsqlCommand("select pg_backend_pid()", next);
        Assert.NotEqual(abandonedPid, (int)(await check.ExecuteScalarAsync())!);
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
        await direct.OpenAsync();
        await using var gone = new NpgsqlCommand($"select count(*) from pg_stat_activity where pid = {abandonedPid}", direct);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((long)(await gone.ExecuteScalarAsync())! != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(0L, (long)(await gone.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task A_cancel_request_through_the_pooler_stops_the_running_query_with_57014()
    {
        await using var pooler = postgres.StartPooler();
        await using var connection = await OpenAsync(pooler.Port);
        await using var sleep = new NpgsqlCommand("select pg_sleep(30)", connection);
        var running = sleep.ExecuteNonQueryAsync();
        await Task.Delay(300);
        var started = DateTime.UtcNow;
        sleep.Cancel();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => running);
        Assert.Equal("57014", (error as PostgresException ?? error.InnerException as PostgresException)?.SqlState);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "the cancel took effect promptly");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
