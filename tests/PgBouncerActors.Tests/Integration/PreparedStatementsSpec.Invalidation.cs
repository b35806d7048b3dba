using Npgsql;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Statements shared between clients when what they read changes (a migration while the
/// application runs), and statements ended by DEALLOCATE in the forms drivers send it: every
/// client sees what PostgreSQL would tell it on a connection of its own, and never the same error
/// twice for a statement it prepared again.
/// </summary>
public sealed partial class PreparedStatementsSpec
{
    [Theory]
    [InlineData("rename column foo to bar", "bar")]
    [InlineData("alter column foo type bigint", "foo")]
    public async Task A_table_changed_under_an_Npgsql_prepared_command_fails_it_once_with_0A000_and_its_fresh_prepare_works(string change, string column)
    {
        var table = $"prepared_spec_changed_{column}";
        await using var pooler = StartTransactionPool(1);
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await connection.OpenAsync();
        await ExecuteAsync(connection, $"drop table if exists {table}; create table {table}(foo int); insert into {table} values (8)");
        try
        {
            await using var command = new NpgsqlCommand($"select * from {table}", connection);
            await command.PrepareAsync();
            Assert.Equal(8L, Convert.ToInt64(await command.ExecuteScalarAsync()));

            await ExecuteAsync(connection, $"alter table {table} {change}");

            // PostgreSQL's answer to the statement prepared before the change, as on a direct connection...
            var refused = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());
            Assert.Equal("0A000", refused.SqlState);

            // ...and the application prepares it again: that Parse gets a statement made now, not the old one (0A000 forever before).
            await command.PrepareAsync();
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(command.IsPrepared);
            Assert.True(await reader.ReadAsync());
            Assert.Equal((column, 8L), (reader.GetName(0), Convert.ToInt64(reader.GetValue(0))));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteDirectAsync($"drop table if exists {table}");
        }
    }

    [Fact]
    public async Task Two_clients_sharing_a_statement_each_go_on_when_one_of_them_alters_the_table()
    {
        await using var pooler = StartTransactionPool(1);
        try
        {
            await using var altering = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await using var other = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await altering.OpenAsync();
            await other.OpenAsync();
            await ExecuteAsync(altering, "drop table if exists prepared_spec_shared; create table prepared_spec_shared(foo int); insert into prepared_spec_shared values (5)");
            await using var mine = new NpgsqlCommand("select foo from prepared_spec_shared", altering);
            await using var theirs = new NpgsqlCommand("select foo from prepared_spec_shared", other);
            await mine.PrepareAsync();
            await theirs.PrepareAsync(); // one statement on the server, shared
            Assert.Equal(5, await mine.ExecuteScalarAsync());
            Assert.Equal(5, await theirs.ExecuteScalarAsync());

            await ExecuteAsync(altering, "alter table prepared_spec_shared alter column foo type text");

            // Each client gets at most PostgreSQL's one error for its statement, prepares it again, and has the new type from then on.
            var refusals = new Dictionary<NpgsqlCommand, int> { [mine] = 0, [theirs] = 0 };
            foreach (var command in new[] { theirs, mine, theirs, mine })
            {
                Assert.Equal("5", await ScalarPreparingAgainOnRefusalAsync(command, refusals));
            }

            Assert.All(refusals.Values, count => Assert.True(count <= 1, $"{count} refusals of one client's statement"));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteDirectAsync("drop table if exists prepared_spec_shared");
        }
    }

    [Fact]
    public async Task A_statement_prepared_after_a_DDL_the_pooler_saw_is_prepared_afresh_not_mapped_onto_the_copy_made_before()
    {
        await using var pooler = StartTransactionPool(1);
        var first = await LoginAsync(pooler.Port);
        var second = await LoginAsync(pooler.Port);
        await QueryOkAsync(first, "drop table if exists prepared_spec_ddl; create table prepared_spec_ddl(foo int); insert into prepared_spec_ddl values (3)");
        try
        {
            Assert.Equal("1Z", Types(await SendAsync(first, b => b.Parse("before", "select foo from prepared_spec_ddl").Sync())));
            Assert.Equal("3", await ValueAsync(first, b => b.Bind("", "before").Execute("").Sync()));
            await QueryOkAsync(first, "alter table prepared_spec_ddl alter column foo type text");

            // The second client prepares the same text now: on a direct connection it works at once, and so it does here.
            Assert.Equal("3", await ValueAsync(second, b => b.Parse("after", "select foo from prepared_spec_ddl").Bind("", "after").Execute("").Sync(), skip: "1"));

            // The first client's statement predates the change: it runs on the copy made before, and PostgreSQL refuses it
            // as it would on a connection of its own (never rows of a type the client did not describe).
            var refused = await SendAsync(first, b => b.Bind("", "before").Execute("").Sync());
            Assert.Equal(("EZ", "0A000"), (Types(refused), PgError.Parse(refused[0].Payload).SqlState));
        }
        finally
        {
            await QueryOkAsync(first, "drop table if exists prepared_spec_ddl");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_statement_prepared_after_a_role_change_resolves_its_names_for_the_new_role_as_directly(bool extended)
    {
        // Each role finds its own table through search_path's "$user": the same text reads an int as one role and text as the other.
        await ExecuteDirectAsync($"""
            drop schema if exists pgba_alice cascade; drop schema if exists pgba_bob cascade;
            drop role if exists pgba_alice; drop role if exists pgba_bob;
            create role pgba_alice; create role pgba_bob;
            create schema pgba_alice authorization pgba_alice; create schema pgba_bob authorization pgba_bob;
            create table pgba_alice.role_t(x int); insert into pgba_alice.role_t values (1);
            create table pgba_bob.role_t(x text); insert into pgba_bob.role_t values ('bob');
            grant select on pgba_alice.role_t to pgba_alice; grant select on pgba_bob.role_t to pgba_bob;
            grant pgba_alice, pgba_bob to {PostgresFixture.ScramUser};
            """);
        await using var pooler = StartTransactionPool(1);
        var alice = await LoginAsync(pooler.Port);
        var bob = await LoginAsync(pooler.Port);
        try
        {
            await QueryOkAsync(alice, "set role pgba_alice");
            Assert.Equal("1", await ValueAsync(alice, b => b.Parse("mine", "select x from role_t").Bind("", "mine").Execute("").Sync(), skip: "1"));

            // Another client of the same server connection changes role and prepares the same text: on a connection of its own
            // it reads its own table, and so it does here (mapped onto the first client's copy, PostgreSQL refused it with 0A000).
            if (extended)
            {
                // As Npgsql sends it: an unnamed Parse, Bind, Execute.
                Assert.Equal("12CZ", Types(await SendAsync(bob, b => b.Parse("", "set role pgba_bob").Bind("", "").Execute("").Sync())));
            }
            else
            {
                await QueryOkAsync(bob, "set role pgba_bob");
            }

            Assert.Equal("bob", await ValueAsync(bob, b => b.Parse("mine", "select x from role_t").Bind("", "mine").Execute("").Sync(), skip: "1"));

            // And the first client, back in its role, still has its own.
            await QueryOkAsync(alice, "set role pgba_alice");
            Assert.Equal("1", await ValueAsync(alice, b => b.Bind("", "mine").Execute("").Sync()));
        }
        finally
        {
            await ExecuteDirectAsync("drop schema pgba_alice cascade; drop schema pgba_bob cascade; drop role pgba_alice; drop role pgba_bob");
        }
    }

    [Fact]
    public async Task DEALLOCATE_ALL_sent_with_the_extended_protocol_empties_the_client_and_the_server_connection_and_others_prepare_again()
    {
        await using var pooler = StartTransactionPool(1);
        var psycopg = await LoginAsync(pooler.Port);
        var other = await LoginAsync(pooler.Port);
        Assert.Equal("1Z", Types(await SendAsync(psycopg, b => b.Parse("_pg3_0", "select 7").Sync())));
        Assert.Equal("1Z", Types(await SendAsync(other, b => b.Parse("seven", "select 7").Sync()))); // shares the server's copy

        // As psycopg sends it after a ROLLBACK: an unnamed statement, bound and executed.
        var answers = await SendAsync(psycopg, b => b.Parse("", "DEALLOCATE ALL").Bind("", "").Execute("").Sync());
        Assert.Equal("12CZ", Types(answers));

        var gone = await SendAsync(psycopg, b => b.Bind("", "_pg3_0").Execute("").Sync());
        var error = PgError.Parse(gone[0].Payload);
        Assert.Equal(("EZ", "26000", "prepared statement \"_pg3_0\" does not exist"), (Types(gone), error.SqlState, error.Message));
        Assert.Equal("8", await ValueAsync(psycopg, b => b.Parse("_pg3_0", "select 8").Bind("", "_pg3_0").Execute("").Sync(), skip: "1"));

        // The other client's statement went from the server with it: the pooler prepares it again, unseen.
        Assert.Equal("7", await ValueAsync(other, b => b.Bind("", "seven").Execute("").Sync()));
    }

    [Fact]
    public async Task DEALLOCATE_of_a_protocol_statement_sent_as_an_unnamed_Parse_frees_the_name_and_an_unknown_name_gets_PostgreSQLs_error()
    {
        await using var pooler = StartTransactionPool(1);
        var client = await LoginAsync(pooler.Port);
        Assert.Equal("1Z", Types(await SendAsync(client, b => b.Parse("_pg3_1", "select 1").Sync())));

        var answers = await SendAsync(client, b => b.Parse("", "DEALLOCATE _pg3_1").Bind("", "").Execute("").Sync());
        Assert.Equal("12CZ", Types(answers));
        Assert.Equal("DEALLOCATE", System.Text.Encoding.UTF8.GetString(answers[2].Payload).TrimEnd('\0'));
        Assert.Equal("2", await ValueAsync(client, b => b.Parse("_pg3_1", "select 2").Bind("", "_pg3_1").Execute("").Sync(), skip: "1"));

        var unknown = await SendAsync(client, b => b.Parse("", "deallocate prepare nothing_here").Bind("", "").Execute("").Sync());
        var error = PgError.Parse(unknown.First(m => m.Type == 'E').Payload);
        Assert.Equal(("26000", "prepared statement \"nothing_here\" does not exist"), (error.SqlState, error.Message));
        Assert.Equal("2", await ValueAsync(client, b => b.Bind("", "_pg3_1").Execute("").Sync()));
    }

    /// <summary>The prepared command's value as text; on PostgreSQL's refusal of a statement prepared before a change (counted), it is prepared again and run.</summary>
    private static async Task<string> ScalarPreparingAgainOnRefusalAsync(NpgsqlCommand command, Dictionary<NpgsqlCommand, int> refusals)
    {
        try
        {
            return Convert.ToString(await command.ExecuteScalarAsync())!;
        }
        catch (PostgresException refused) when (refused.SqlState == "0A000")
        {
            refusals[command]++;
            await command.PrepareAsync();
            return Convert.ToString(await command.ExecuteScalarAsync())!;
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task ExecuteDirectAsync(string sql)
    {
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString());
        await direct.OpenAsync();
        await ExecuteAsync(direct, sql);
    }
}
