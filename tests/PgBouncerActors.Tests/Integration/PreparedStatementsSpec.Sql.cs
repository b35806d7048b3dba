using Npgsql;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Statements made with SQL (PREPARE name) in transaction mode: whatever a client writes with its
/// names answers as on its own connection to PostgreSQL, whichever server connection its
/// transaction lands on and whatever another client left there.
/// </summary>
public sealed partial class PreparedStatementsSpec
{
    /// <summary>
    /// Between the statements of the script, another client (a second psql) prepares statements
    /// under the same names on the pool's only server connection; the script's output must be
    /// PostgreSQL's own, which it gives when the script runs straight against it.
    /// </summary>
    [Fact]
    public async Task A_psql_script_using_its_statements_in_every_way_answers_as_PostgreSQL_while_another_client_takes_its_names_in_between()
    {
        await using var pooler = StartTransactionPool(1);
        const string script = """
            PREPARE p(int) AS SELECT $1 AS x;
            \! INTRUDER
            EXPLAIN (COSTS OFF) EXECUTE p(3);
            \! INTRUDER
            CREATE TABLE prepared_spec_as AS EXECUTE p(2);
            SELECT x FROM prepared_spec_as;
            DROP TABLE prepared_spec_as;
            \! INTRUDER
            EXECUTE p \gdesc
            \! INTRUDER
            SELECT name, statement, from_sql FROM pg_prepared_statements ORDER BY name;
            EXECUTE p(1, 2);
            \! INTRUDER
            EXECUTE p('abc');
            PREPARE bad AS SELECT $1a;
            PREPARE p AS SELECT 2;
            BEGIN;
            EXECUTE p(5);
            SELECT name FROM pg_prepared_statements;
            COMMIT;
            \! INTRUDER
            DEALLOCATE p;
            \! INTRUDER
            SELECT name FROM pg_prepared_statements;
            EXECUTE p(1);
            DEALLOCATE p;
            PREPARE q AS SELECT 'q' AS y \; PREPARE r AS SELECT 'r' AS y \; SELECT 'both';
            \! INTRUDER
            EXECUTE q;
            EXECUTE r;
            SELECT name FROM pg_prepared_statements ORDER BY name;
            DEALLOCATE ALL;
            \! INTRUDER
            SELECT count(*) FROM pg_prepared_statements;
            EXECUTE q;
            BEGIN;
            SELECT 1/0;
            EXECUTE q;
            DEALLOCATE q;
            PREPARE q AS SELECT 1;
            ROLLBACK;
            """;

        var direct = await PsqlScriptAsync(script, postgres.Cluster.Port);
        var pooled = await PsqlScriptAsync(script, pooler.Port);
        Assert.Contains("ERROR:  wrong number of parameters for prepared statement \"p\"", direct.Errors); // the script says something
        Assert.Contains("LINE 1: EXECUTE p('abc');", direct.Errors, StringComparison.Ordinal); // with the caret under the argument
        Assert.Contains(" p    | PREPARE p(int) AS SELECT $1 AS x; | t", direct.Output, StringComparison.Ordinal);
        Assert.Equal(direct.Output, pooled.Output);
        Assert.Equal(direct.Errors, pooled.Errors);
    }

    [Fact]
    public async Task Npgsql_PREPARE_EXECUTE_and_DEALLOCATE_over_the_extended_protocol_follow_the_client_to_a_fresh_server_connection()
    {
        await using var pooler = StartTransactionPool(2);
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
        await connection.OpenAsync();
        await ExecuteAsync(connection, "PREPARE twice(int) AS SELECT $1 * 2");
        var firstPid = await ScalarAsync<int>(connection, "select pg_backend_pid()");
        await TerminateAsync(firstPid);

        Assert.Equal(42, await ScalarAsync<int>(connection, "EXECUTE twice(21)"));
        Assert.NotEqual(firstPid, await ScalarAsync<int>(connection, "select pg_backend_pid()"));
        Assert.Contains("Result", await ScalarAsync<string>(connection, "EXPLAIN (COSTS OFF) EXECUTE twice(1)"), StringComparison.Ordinal);

        await ExecuteAsync(connection, "DEALLOCATE twice");
        var gone = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync<int>(connection, "EXECUTE twice(1)"));
        Assert.Equal(("26000", "prepared statement \"twice\" does not exist"), (gone.SqlState, gone.MessageText));
        await ExecuteAsync(connection, "PREPARE twice(int) AS SELECT $1 * 3"); // the name is free again
        Assert.Equal(9, await ScalarAsync<int>(connection, "EXECUTE twice(3)"));
    }

    [Fact]
    public async Task A_client_does_not_see_or_collide_with_the_statements_a_departed_client_made_with_SQL_on_its_connection()
    {
        await using var pooler = StartTransactionPool(1);
        var departed = await LoginAsync(pooler.Port);
        await QueryOkAsync(departed, "PREPARE left_behind AS SELECT 'theirs'");
        await QueryOkAsync(departed, "PREPARE also_left AS SELECT 1");
        await departed.TerminateAsync();

        var client = await LoginAsync(pooler.Port);
        Assert.Equal("0", Value(await client.QueryAsync("select count(*) from pg_prepared_statements where from_sql")));
        await QueryOkAsync(client, "PREPARE left_behind AS SELECT 'mine'");
        Assert.Equal("mine", Value(await client.QueryAsync("EXECUTE left_behind")));
        var refused = await client.QueryAsync("EXECUTE also_left");
        Assert.Equal(("EZ", "26000"), (Types(refused), PgError.Parse(refused[0].Payload).SqlState));
    }

    /// <summary>Runs a psql script as the SCRAM user; INTRUDER in it stands for a second psql that prepares p and q on the same server.</summary>
    private async Task<(string Output, string Errors)> PsqlScriptAsync(string script, int port)
    {
        var psql = postgres.Cluster.BinPath("psql");
        var intruder = $"{psql} -X -q -o /dev/null -h 127.0.0.1 -p {port} -U {PostgresFixture.ScramUser} -d postgres " +
                       "-c \"PREPARE p AS SELECT 'intruder'\" -c \"PREPARE q AS SELECT 0\"";
        return await postgres.RunToolCapturingAsync("psql", ["-X", "-h", "127.0.0.1", "-p", port.ToString(), "-U", PostgresFixture.ScramUser,
            "-d", "postgres", "-f", "-"], script.Replace("INTRUDER", intruder, StringComparison.Ordinal));
    }
}
