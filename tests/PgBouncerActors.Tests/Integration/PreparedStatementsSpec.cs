using System.Text;
using Npgsql;
using PgBouncerActors.Backend;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Named prepared statements in transaction mode, as drivers use them, against PostgreSQL: they
/// work in every later transaction whichever server connection it lands on, with PostgreSQL's
/// own answers and errors.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed partial class PreparedStatementsSpec(PostgresFixture postgres)
{
    private PoolerHost StartTransactionPool(int size, string extra = "") =>
        postgres.StartPooler($"auth_type = trust, pool_mode = transaction, default_pool_size = {size}, max_client_conn = 200, query_wait_timeout = 30 {extra}",
            own: "shutdown_timeout = 0"); // the bare clients stay connected to the end: no drain

    private static string AutoPrepare(int port) =>
        new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(port)) { MaxAutoPrepare = 20, AutoPrepareMinUsages = 2 }.ConnectionString;

    [Fact]
    public async Task Npgsql_auto_prepare_with_sixty_clients_over_a_pool_of_three_gets_every_answer_right()
    {
        await using var pooler = StartTransactionPool(3);
        var prepared = 0;
        await Task.WhenAll(Enumerable.Range(0, 60).Select(client => Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(AutoPrepare(pooler.Port));
            await connection.OpenAsync();
            for (var round = 0; round < 10; round++)
            {
                var n = (client * 1000) + round;
                Assert.Equal(n * 2, await ScalarAsync<int>(connection, "select $1::int * 2", n));
                Assert.Equal($"c{n}", await ScalarAsync<string>(connection, "select 'c' || $1::text", n));
                Assert.Equal(n + 7L, await ScalarAsync<long>(connection, "select $1::bigint + 7", (long)n));
            }

            await using var again = new NpgsqlCommand("select $1::int * 2", connection) { Parameters = { new() { Value = client } } };
            Assert.Equal(client * 2, await again.ExecuteScalarAsync());
            if (again.IsPrepared)
            {
                Interlocked.Increment(ref prepared);
            }
        })));

        Assert.Equal(60, prepared); // every client ran its statements prepared, not one by one
        await using var look = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await look.OpenAsync();
        Assert.True(await ScalarAsync<long>(look, "select count(*) from pg_prepared_statements where name like 'PGBA\\_%'") > 0,
            "the server connection holds none of the pooler's statements");
    }

    [Fact]
    public async Task Explicitly_prepared_commands_of_fifty_clients_over_a_pool_of_three_survive_every_transaction()
    {
        await using var pooler = StartTransactionPool(3);
        await Task.WhenAll(Enumerable.Range(0, 50).Select(client => Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await connection.OpenAsync();
            await using var twice = new NpgsqlCommand("select $1::int * 2", connection);
            twice.Parameters.Add(new NpgsqlParameter<int>());
            await twice.PrepareAsync();
            await using var text = new NpgsqlCommand("select $1::text || '!'", connection);
            text.Parameters.Add(new NpgsqlParameter<string>());
            await text.PrepareAsync();
            for (var round = 0; round < 8; round++)
            {
                await using var transaction = await connection.BeginTransactionAsync();
                twice.Transaction = text.Transaction = transaction;
                ((NpgsqlParameter<int>)twice.Parameters[0]).TypedValue = client + round;
                await using (var reader = await twice.ExecuteReaderAsync())
                {
                    await reader.ReadAsync();
                    Assert.Equal((client + round) * 2, reader.GetInt32(0));
                }

                ((NpgsqlParameter<string>)text.Parameters[0]).TypedValue = $"client {client}";
                Assert.Equal($"client {client}!", await text.ExecuteScalarAsync());
                await transaction.CommitAsync();
            }
        })));
    }

    [Fact]
    public async Task In_statement_mode_prepared_commands_of_twenty_clients_over_a_pool_of_two_get_every_answer_right()
    {
        await using var pooler = postgres.StartPooler("auth_type = trust, pool_mode = statement, default_pool_size = 2, max_client_conn = 200",
            own: "shutdown_timeout = 0");
        await Task.WhenAll(Enumerable.Range(0, 20).Select(client => Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await connection.OpenAsync();
            await using var twice = new NpgsqlCommand("select $1::int * 2", connection);
            twice.Parameters.Add(new NpgsqlParameter<int>());
            await twice.PrepareAsync();
            for (var round = 0; round < 10; round++)
            {
                ((NpgsqlParameter<int>)twice.Parameters[0]).TypedValue = client + round;
                Assert.Equal((client + round) * 2, await twice.ExecuteScalarAsync()); // each statement on whichever connection is free
            }
        })));
    }

    [Fact]
    public async Task A_name_in_use_is_refused_with_42P05_and_after_Close_it_names_another_query()
    {
        await using var pooler = StartTransactionPool(1);
        var client = await LoginAsync(pooler.Port);
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("s1", "select 1").Sync())));

        var refused = await SendAsync(client, b => b.Parse("s1", "select 2").Bind("", "s1").Execute("").Sync());
        Assert.Equal("EZ", Types(refused)); // and the rest of the batch skipped, as PostgreSQL does
        var error = PgError.Parse(refused[0].Payload);
        Assert.Equal(("42P05", "prepared statement \"s1\" already exists"), (error.SqlState, error.Message));

        Assert.Equal("1", await ValueAsync(client, b => b.Bind("", "s1").Execute("").Sync()));
        Assert.Equal("3Z", Types(await SendAsync(client, b => b.Close('S', "s1"u8).Sync())));
        Assert.Equal("2", await ValueAsync(client, b => b.Parse("s1", "select 2").Bind("", "s1").Execute("").Sync(), skip: "1"));
    }

    [Fact]
    public async Task Bind_and_Describe_work_on_a_fresh_server_connection_after_the_first_one_was_killed()
    {
        await using var pooler = StartTransactionPool(2);
        var client = await LoginAsync(pooler.Port);
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("answer", "select $1::int + 1 as n").Sync())));
        var firstPid = await BackendPidAsync(client);
        await TerminateAsync(firstPid);

        // A new server connection, which has never seen the statement: the pooler prepares it there first, unseen.
        var described = await SendAsync(client, b => b.Describe('S', "answer"u8).Sync());
        Assert.Equal("tTZ", Types(described)); // ParameterDescription, RowDescription: no ParseComplete the client never asked for
        Assert.Equal("42", await ValueAsync(client, b => BindInt(b, "answer", 41).Execute("").Sync()));
        var secondPid = await BackendPidAsync(client);
        Assert.NotEqual(firstPid, secondPid);
    }

    [Fact]
    public async Task A_syntax_error_in_Parse_fails_as_directly_and_leaves_the_name_free()
    {
        await using var pooler = StartTransactionPool(1);
        var viaPooler = await LoginAsync(pooler.Port);
        var direct = await DirectLoginAsync(pooler, postgres);

        var pooled = await SendAsync(viaPooler, b => b.Parse("broken", "selec 1").Sync());
        var straight = await SendAsync(direct, b => b.Parse("broken", "selec 1").Sync());
        Assert.Equal(("EZ", "EZ"), (Types(straight), Types(pooled)));
        Assert.Equal(Fields(straight[0]), Fields(pooled[0])); // SQLSTATE 42601, message, position: all PostgreSQL's
        Assert.Equal("3", await ValueAsync(viaPooler, b => b.Parse("broken", "select 3").Bind("", "broken").Execute("").Sync(), skip: "1"));
    }

    [Fact]
    public async Task An_error_in_a_pipelined_batch_on_a_new_connection_skips_the_rest_until_Sync_as_directly()
    {
        await using var pooler = StartTransactionPool(2);
        var viaPooler = await LoginAsync(pooler.Port);
        var direct = await DirectLoginAsync(pooler, postgres);
        foreach (var client in new[] { viaPooler, direct })
        {
            Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("divide", "select 10 / $1::int").Sync())));
        }

        await TerminateAsync(await BackendPidAsync(viaPooler));

        MessageBuilder Batch(MessageBuilder b) => BindInt(BindInt(BindInt(b, "divide", 5).Execute(""), "divide", 0).Execute(""), "divide", 2).Execute("").Sync();
        var pooled = await SendAsync(viaPooler, Batch);
        var straight = await SendAsync(direct, Batch);
        Assert.Equal("2DCEZ", Types(straight)); // the zero is folded into the plan at Bind, which fails
        Assert.Equal(Types(straight), Types(pooled));
        Assert.Equal(Fields(straight[^2]), Fields(pooled[^2])); // 22012 division by zero
        Assert.Equal("5", await ValueAsync(viaPooler, b => BindInt(b, "divide", 2).Execute("").Sync()));
    }

    [Fact]
    public async Task With_max_prepared_statements_2_five_statements_in_rotation_all_answer_and_the_server_holds_two()
    {
        await using var pooler = StartTransactionPool(1, ", max_prepared_statements = 2");
        var client = await LoginAsync(pooler.Port);
        for (var k = 1; k <= 5; k++)
        {
            Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse($"s{k}", $"select {k} * 10").Sync())));
        }

        for (var round = 0; round < 3; round++)
        {
            for (var k = 1; k <= 5; k++)
            {
                Assert.Equal($"{k * 10}", await ValueAsync(client, b => b.Bind("", $"s{k}").Execute("").Sync()));
            }
        }

        Assert.Equal("2", await ValueAsync(client, b => b.Parse("", "select count(*) from pg_prepared_statements").Bind("", "").Execute("").Sync(), skip: "1"));
    }

    /// <summary>
    /// PgBouncer's switch: SET max_prepared_statements = 0 on the console stops the renaming for a client already logged in, at
    /// its next message. Its names then reach the server as they are (one it prepared before is unknown there: 26000, as through
    /// PgBouncer); back above 0, its statements are the pooler's again and answer.
    /// </summary>
    [Fact]
    public async Task Max_prepared_statements_set_to_0_on_the_console_stops_the_renaming_for_a_logged_in_client_and_above_0_it_resumes()
    {
        await using var pooler = StartTransactionPool(1, $", admin_users = {PostgresFixture.ScramUser}");
        var client = await LoginAsync(pooler.Port);
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("s1", "select 10").Sync())));
        Assert.Equal("10", await ValueAsync(client, b => b.Bind("", "s1").Execute("").Sync()));

        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        await console.ShowAsync("SET max_prepared_statements = 0");
        var unknown = await SendAsync(client, b => b.Bind("", "s1").Execute("").Sync());
        Assert.Equal("EZ", Types(unknown));
        Assert.Equal("26000", Fields(unknown[0]).Item1);
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("s2", "select 20").Sync())));
        Assert.Equal("s2", await ValueAsync(client, b => b.Parse("", "select name from pg_prepared_statements where name = 's2'").Bind("", "").Execute("").Sync(),
            skip: "1"));

        await console.ShowAsync("SET max_prepared_statements = 200");
        Assert.Equal("10", await ValueAsync(client, b => b.Bind("", "s1").Execute("").Sync()));
    }

    [Fact]
    public async Task Two_clients_prepare_the_same_name_differently_over_one_server_connection_with_SQL_through_psql()
    {
        await using var pooler = StartTransactionPool(1);
        async Task<string> PsqlAsync(string script) => await postgres.RunToolAsync("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", PostgresFixture.ScramUser, "-d", "postgres", "-f", "-"], script);

        var runs = await Task.WhenAll(Enumerable.Range(1, 2).Select(who => PsqlAsync($"""
            PREPARE p (int) AS SELECT $1 * {who};
            {string.Concat(Enumerable.Range(1, 20).Select(i => $"EXECUTE p({i});\n"))}
            /* a comment, and case */ execute P (100);
            DEALLOCATE PREPARE p;
            PREPARE p AS SELECT 'again {who}';
            EXECUTE p;
            DEALLOCATE ALL;
            """)));

        for (var who = 1; who <= 2; who++)
        {
            var expected = string.Join('\n', Enumerable.Range(1, 20).Select(i => (i * who).ToString()).Append((100 * who).ToString()).Append($"again {who}"));
            Assert.Equal(expected, runs[who - 1].Trim());
        }

        var client = await LoginAsync(pooler.Port);
        var gone = await client.QueryAsync("EXECUTE p");
        Assert.Equal("26000", PgError.Parse(gone[0].Payload).SqlState); // never prepared by this client: PostgreSQL's own error
    }

    [Fact]
    public async Task SQL_EXECUTE_on_a_fresh_server_connection_prepares_again_and_a_statement_that_cannot_gives_PostgreSQLs_error()
    {
        await using var pooler = StartTransactionPool(2);
        var client = await LoginAsync(pooler.Port);
        await QueryOkAsync(client, "create table if not exists prepared_spec_t(x int)");
        await QueryOkAsync(client, "insert into prepared_spec_t values (5)");
        await QueryOkAsync(client, "PREPARE sum_t AS SELECT sum(x) FROM prepared_spec_t");
        await QueryOkAsync(client, "PREPARE triple (int) AS SELECT $1 * 3");
        await TerminateAsync(await BackendPidAsync(client));

        Assert.Equal("21", Value(await client.QueryAsync("EXECUTE triple(7)")));
        Assert.Equal("CZ", Types(await client.QueryAsync("DEALLOCATE triple")));
        await QueryOkAsync(client, "drop table prepared_spec_t");
        await TerminateAsync(await BackendPidAsync(client));

        var failed = await client.QueryAsync("EXECUTE sum_t");
        Assert.Equal("EZ", Types(failed));
        Assert.Equal("42P01", PgError.Parse(failed[0].Payload).SqlState); // relation does not exist, as a re-PREPARE would say
        Assert.Equal("1", Value(await client.QueryAsync("select 1"))); // and the session goes on
        Assert.Equal("CZ", Types(await client.QueryAsync("DEALLOCATE sum_t"))); // as on its own session, where it still existed
        await QueryOkAsync(client, "PREPARE sum_t AS SELECT 4");
        Assert.Equal("4", Value(await client.QueryAsync("EXECUTE sum_t")));
    }

    [Fact]
    public async Task Two_clients_taking_turns_on_one_connection_with_transactions_of_statements_they_prepare_inside_them()
    {
        await using var pooler = StartTransactionPool(1);
        var clients = new[] { await LoginAsync(pooler.Port), await LoginAsync(pooler.Port) };
        for (var round = 0; round < 3; round++)
        {
            foreach (var client in clients)
            {
                // As pgbench -M prepared: each statement prepared (Parse, Sync) the first time, just before it runs.
                var first = round == 0;
                foreach (var (name, sql) in new[] { ("p0", "BEGIN"), ("p1", "SELECT 1"), ("p2", "END") })
                {
                    if (first)
                    {
                        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse(name, sql).Sync())));
                    }

                    var ran = await SendAsync(client, b => b.Bind("", name).Describe('P', "").Execute("").Sync());
                    Assert.Equal(name == "p1" ? "2TDCZ" : "2nCZ", Types(ran));
                }
            }
        }
    }

    [Fact]
    public async Task No_client_reaches_a_statement_the_pooler_prepared_for_another_by_its_server_name()
    {
        await using var pooler = StartTransactionPool(1);
        var owner = await LoginAsync(pooler.Port);
        var other = await LoginAsync(pooler.Port);
        Assert.Equal("1Z", Types(await SendAsync(owner, b => b.Parse("mine", "select 'secret'").Sync())));
        var serverName = Value(await owner.QueryAsync("select name from pg_prepared_statements"));
        Assert.StartsWith("PGBA_", serverName);

        var bound = await SendAsync(other, b => b.Bind("", serverName).Execute("").Sync());
        Assert.Equal("EZ", Types(bound));
        Assert.Equal(("26000", $"prepared statement \"{serverName}\" does not exist"), (PgError.Parse(bound[0].Payload).SqlState, PgError.Parse(bound[0].Payload).Message));
        Assert.Equal("EZ", Types(await SendAsync(other, b => b.Describe('S', Encoding.UTF8.GetBytes(serverName)).Sync())));
        Assert.Equal("3Z", Types(await SendAsync(other, b => b.Close('S', Encoding.UTF8.GetBytes(serverName)).Sync())));
        foreach (var sql in new[] { $"EXECUTE \"{serverName}\"", $"DEALLOCATE \"{serverName}\"" })
        {
            var refused = await other.QueryAsync(sql);
            Assert.Equal(("EZ", "26000"), (Types(refused), PgError.Parse(refused[0].Payload).SqlState));
        }

        Assert.Equal("secret", await ValueAsync(owner, b => b.Bind("", "mine").Execute("").Sync()));
    }

    [Fact]
    public async Task DEALLOCATE_ALL_and_DISCARD_ALL_forget_the_clients_statements_and_the_server_connections()
    {
        await using var pooler = StartTransactionPool(1);
        var client = await LoginAsync(pooler.Port);
        foreach (var forget in new[] { "DEALLOCATE ALL", "select 1; deallocate prepare all", "DISCARD ALL" })
        {
            Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("s", "select 7").Sync())));
            Assert.Equal("7", await ValueAsync(client, b => b.Bind("", "s").Execute("").Sync()));
            Assert.DoesNotContain(await client.QueryAsync(forget), m => m.Type == 'E');
            var gone = await SendAsync(client, b => b.Bind("", "s").Execute("").Sync());
            Assert.Equal(("EZ", "26000"), (Types(gone), PgError.Parse(gone[0].Payload).SqlState));
        }

        // The server connection was emptied too: preparing again works there.
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("s", "select 8").Sync())));
        Assert.Equal("8", await ValueAsync(client, b => b.Bind("", "s").Execute("").Sync()));

        // DEALLOCATE of a statement made with Parse frees the name, as on a direct connection.
        Assert.Equal("CZ", Types(await client.QueryAsync("DEALLOCATE s")));
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("s", "select 9").Sync())));
        Assert.Equal("9", await ValueAsync(client, b => b.Bind("", "s").Execute("").Sync()));
    }

    [Fact]
    public async Task A_Parse_that_fails_again_on_a_new_connection_gives_PostgreSQLs_error_for_the_Bind_and_the_session_goes_on()
    {
        await using var pooler = StartTransactionPool(2);
        var client = await LoginAsync(pooler.Port);
        await QueryOkAsync(client, "create table if not exists prepared_spec_gone(x int)");
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("count_gone", "select count(*) from prepared_spec_gone").Sync())));
        Assert.Equal("0", await ValueAsync(client, b => b.Bind("", "count_gone").Execute("").Sync()));
        await QueryOkAsync(client, "drop table prepared_spec_gone");
        await TerminateAsync(await BackendPidAsync(client));

        var failed = await SendAsync(client, b => b.Bind("", "count_gone").Execute("").Sync());
        Assert.Equal(("EZ", "42P01"), (Types(failed), PgError.Parse(failed[0].Payload).SqlState)); // the pooler's Parse failed: its error, once
        Assert.Equal("1", Value(await client.QueryAsync("select 1")));
    }

    [Fact]
    public async Task A_five_megabyte_parameter_streams_through_a_renamed_Bind_and_a_long_Parse_passes_unnamed_and_is_refused_named()
    {
        await using var pooler = StartTransactionPool(1);
        var client = await LoginAsync(pooler.Port);
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("len", "select length($1::text)").Sync())));
        Assert.Equal("5000000", await ValueAsync(client, b => BindText(b, "len", new string('x', 5_000_000)).Execute("").Sync()));

        var longText = $"select length('{new string('y', 1_100_000)}')";
        Assert.Equal("1100000", await ValueAsync(client, b => b.Parse("", longText).Bind("", "").Execute("").Sync(), skip: "1"));
        var refused = await SendAsync(client, b => b.Parse("long", longText).Bind("", "long").Execute("").Sync());
        Assert.Equal(("EZ", "54000"), (Types(refused), PgError.Parse(refused[0].Payload).SqlState)); // the rest skipped to Sync
        Assert.Equal("5", await ValueAsync(client, b => BindText(b, "len", "abcde").Execute("").Sync()));
    }

    [Fact]
    public async Task A_statement_named_with_sixteen_kilobytes_is_prepared_described_bound_and_closed_as_PgBouncer_allows()
    {
        await using var pooler = StartTransactionPool(1);
        var client = await LoginAsync(pooler.Port);
        var name = new string('a', 16 * 1024); // PgBouncer's suite: four of its packet buffers; the server only sees the pooler's short name
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse(name, "select $1::text").Sync())));
        var described = await SendAsync(client, b => b.Describe('S', Encoding.UTF8.GetBytes(name)).Sync());
        Assert.True(Types(described) == "tTZ", string.Join(",", described.Where(m => m.Type == 'E').Select(m => PgError.Parse(m.Payload).Message)));
        Assert.Equal("abc", await ValueAsync(client, b => BindText(b, name, "abc").Execute("").Sync()));
        Assert.Equal("3Z", Types(await SendAsync(client, b => b.Close('S', Encoding.UTF8.GetBytes(name)).Sync())));
        var gone = await SendAsync(client, b => b.Describe('S', Encoding.UTF8.GetBytes(name)).Sync());
        Assert.Equal(("EZ", "26000"), (Types(gone), PgError.Parse(gone[0].Payload).SqlState));

        // A portal's name is not renamed: a Describe that long is what PostgreSQL refuses, and so does the pooler, before any server reads it.
        await client.SendAsync(new MessageBuilder().Describe('P', Encoding.UTF8.GetBytes(name)).Sync());
        var refused = await client.ReadUntilReadyAsync(); // up to the close: no ReadyForQuery comes
        Assert.Equal("08P01", PgError.Parse(refused.Single(m => m.Type == 'E').Payload).SqlState);
        var other = await LoginAsync(pooler.Port);
        Assert.Equal("1", Value(await other.QueryAsync("select 1")));
    }

    private static async Task QueryOkAsync(WireClient client, string sql)
    {
        var answers = await client.QueryAsync(sql);
        Assert.True(answers.All(m => m.Type != 'E'), $"{sql}: {string.Join(", ", answers.Where(m => m.Type == 'E').Select(m => PgError.Parse(m.Payload).Message))}");
    }

    /// <summary>The server process the client's current transaction runs on.</summary>
    private static async Task<int> BackendPidAsync(WireClient client) => int.Parse(Value(await client.QueryAsync("select pg_backend_pid()")));

    private async Task TerminateAsync(int pid)
    {
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
        await direct.OpenAsync();
        await using var kill = new NpgsqlCommand($"select pg_terminate_backend({pid}, 5000)", direct);
        Assert.Equal(true, await kill.ExecuteScalarAsync());
    }

    /// <summary>A bare client through the pooler (which trusts it).</summary>
    private static async Task<WireClient> LoginAsync(int port)
    {
        var client = await WireClient.ConnectAsync(port);
        Assert.Equal('Z', (await client.LoginAsync(PostgresFixture.ScramUser, "postgres")).Last().Type);
        return client;
    }

    /// <summary>A bare client straight to PostgreSQL, logged in as the pooler logs in, to compare answers with.</summary>
    private static async Task<WireClient> DirectLoginAsync(PoolerHost pooler, PostgresFixture postgres)
    {
        var connection = await ServerLogin.ConnectAsync(new ServerEndpoint("127.0.0.1", postgres.Cluster.Port, "postgres"),
            new ServerCredentials(PostgresFixture.ScramUser, PostgresFixture.ScramPassword), 1 << 20, TimeSpan.FromSeconds(10), pooler.Conversations);
        return new WireClient(connection.Socket);
    }

    private static async Task<List<PgMessage>> SendAsync(WireClient client, Func<MessageBuilder, MessageBuilder> compose)
    {
        await client.SendAsync(compose(new MessageBuilder()));
        return await client.ReadUntilReadyAsync();
    }

    /// <summary>The single value of the one row a batch returns, after checking the answers' types (<paramref name="skip"/> first).</summary>
    private static async Task<string> ValueAsync(WireClient client, Func<MessageBuilder, MessageBuilder> compose, string skip = "")
    {
        var answers = await SendAsync(client, compose);
        Assert.Equal($"{skip}2DCZ", Types(answers));
        return Value(answers);
    }

    private static string Value(List<PgMessage> answers)
    {
        var row = answers.First(m => m.Type == 'D').Payload;
        var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(row.AsSpan(2));
        return Encoding.UTF8.GetString(row, 6, length);
    }

    private static MessageBuilder BindInt(MessageBuilder builder, string statement, int value) => BindText(builder, statement, value.ToString());

    /// <summary>A Bind of one text parameter.</summary>
    private static MessageBuilder BindText(MessageBuilder builder, string statement, string value)
    {
        var text = Encoding.UTF8.GetBytes(value);
        return builder.Begin((byte)PgBouncerActors.Protocol.FrontendMessageCode.Bind).WriteCString("").WriteCString(statement)
            .WriteInt16(0).WriteInt16(1).WriteInt32(text.Length).WriteBytes(text).WriteInt16(0).End();
    }

    private static string Types(IEnumerable<PgMessage> messages) => string.Concat(messages.Select(m => m.Type));

    private static (string, string, string?) Fields(PgMessage error)
    {
        var parsed = PgError.Parse(error.Payload);
        var position = Encoding.UTF8.GetString(error.Payload).Split('\0').FirstOrDefault(f => f.StartsWith('P'));
        return (parsed.SqlState, parsed.Message, position);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, params object[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }
}
