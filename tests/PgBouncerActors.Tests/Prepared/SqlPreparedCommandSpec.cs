using System.Buffers;
using System.Text;
using PgBouncerActors.Prepared;
using Xunit;

namespace PgBouncerActors.Tests.Prepared;

/// <summary>
/// Which statements of a query string prepare, execute or deallocate, read as PostgreSQL reads
/// them, and the PREPARE text the pooler sends again on another connection.
/// </summary>
public sealed class SqlPreparedCommandSpec
{
    private static List<SqlPreparedCommand>? Recognize(string sql, out bool whole) =>
        SqlPreparedCommand.Recognize(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(sql + "\0")), out whole);

    [Fact]
    public void A_query_that_is_one_PREPARE_is_sent_again_exactly_as_the_client_wrote_it()
    {
        const string sql = "/* lead */ PREPARE \"Mixed\" (int) AS SELECT $1 -- trailing";
        var command = Assert.Single(Recognize(sql, out var whole)!);
        Assert.True(whole);
        Assert.Equal(new SqlPreparedCommand(SqlPreparedVerb.Prepare, "Mixed", sql), command);
    }

    [Fact]
    public void In_a_longer_string_each_statement_is_read_in_order_and_a_PREPARE_is_cut_at_its_semicolon()
    {
        var commands = Recognize("select 'prepare x'; PREPARE q AS SELECT ';' ; execute Q; Deallocate Prepare q; DEALLOCATE ALL; DISCARD ALL", out var whole)!;
        Assert.False(whole);
        Assert.Equal(
        [
            new SqlPreparedCommand(SqlPreparedVerb.Prepare, "q", "PREPARE q AS SELECT ';' "),
            new SqlPreparedCommand(SqlPreparedVerb.Execute, "q"),
            new SqlPreparedCommand(SqlPreparedVerb.Deallocate, "q"),
            new SqlPreparedCommand(SqlPreparedVerb.ForgetAll, ""),
            new SqlPreparedCommand(SqlPreparedVerb.ForgetAll, ""),
        ], commands);
    }

    [Theory]
    [InlineData("select 1")]
    [InlineData("select 'prepare p as select 1'")]
    [InlineData("PREPARE TRANSACTION 'x'")]
    [InlineData("EXPLAIN EXECUTE p(1)")]
    [InlineData("DEALLOCATE")]
    public void Anything_else_is_none_of_the_poolers_business(string sql)
    {
        Assert.Null(Recognize(sql, out var whole));
        Assert.False(whole);
    }

    [Fact]
    public void Effects_follow_the_answers_in_order_and_stop_at_one_that_does_not_match()
    {
        var effects = SqlEffects.Of(Recognize("PREPARE a AS SELECT 1; EXECUTE a; DEALLOCATE a; PREPARE b AS SELECT 2", out _)!)!;
        Assert.Equal("a", effects.Next(SqlPreparedVerb.Prepare)?.Name); // EXECUTE answers with its statement's own tag: not counted
        Assert.Equal("a", effects.Next(SqlPreparedVerb.Deallocate)?.Name);
        Assert.Null(effects.Next(SqlPreparedVerb.Deallocate)); // the next one is a PREPARE: something is off, nothing more is applied
        Assert.Null(effects.Next(SqlPreparedVerb.Prepare));
        Assert.Null(SqlEffects.Of(Recognize("EXECUTE a", out _)!));
    }
}
