using System.Buffers;
using System.Text;
using PgBouncerActors.Prepared;
using Xunit;

namespace PgBouncerActors.Tests.Prepared;

/// <summary>
/// One server connection's statements when the server may no longer run some as prepared: a
/// client's fresh Parse never gets a copy made before an invalidation, a Bind of a statement the
/// client already has still does (PostgreSQL answers it as it would the client's own), and every
/// copy left behind is closed on the server, once.
/// </summary>
public sealed class ServerStatementsSpec
{
    private static StatementDefinition Parse(string sql) =>
        StatementDefinition.FromParse(new ReadOnlySequence<byte>([.. Encoding.UTF8.GetBytes(sql), 0, 0, 0]));

    private static List<string> Retired(ServerStatements statements)
    {
        var names = new List<string>();
        while (statements.TakeRetired(out var retired))
        {
            names.Add(retired.Name);
        }

        return names;
    }

    [Fact]
    public void A_statement_the_server_refused_is_set_aside_for_a_fresh_Parse_on_every_connection_and_kept_for_clients_that_prepared_before()
    {
        var invalidation = new StatementInvalidation();
        var first = new ServerStatements(10, invalidation);
        var second = new ServerStatements(10, invalidation);
        var before = Parse("select foo from t"); // a client's, prepared before the change (DefinedAt 0)
        var old = first.Add(before);
        var otherOld = second.Add(Parse("select foo from t"));

        invalidation.Invalidate(Parse("select foo from t")); // equal by text, whichever client's copy
        var after = Parse("select foo from t");
        after.DefinedAt = invalidation.Step; // a client's Parse after the change

        Assert.Same(old, first.Use(before, forNewStatement: false)); // a Bind: PostgreSQL answers the statement the client has
        Assert.Null(first.Use(after, forNewStatement: true));
        var fresh = first.Add(after);
        Assert.NotEqual(old.Name, fresh.Name);
        Assert.Same(fresh, first.Use(after, forNewStatement: true)); // made after the invalidation: good from now on
        Assert.Same(fresh, first.Use(after, forNewStatement: false));
        Assert.Same(old, first.Use(before, forNewStatement: false)); // never rows of a shape the older client did not describe
        Assert.Empty(Retired(first)); // set aside, still on the server for it

        Assert.Null(second.Use(after, forNewStatement: true)); // the other connection's copy too
        second.Add(after);
        Assert.Same(otherOld, second.Use(before, forNewStatement: false));
    }

    [Fact]
    public void A_DDL_sets_aside_every_statement_made_before_it_and_a_second_one_closes_what_the_first_set_aside()
    {
        var invalidation = new StatementInvalidation();
        var statements = new ServerStatements(10, invalidation);
        var one = statements.Add(Parse("select 1"));
        statements.Add(Parse("select 2"));
        Assert.Same(one, statements.Use(Parse("select 1"), forNewStatement: true)); // nothing invalidated yet

        invalidation.InvalidateAll();
        var three = statements.Add(Parse("select 3"));
        Assert.Null(statements.Use(Parse("select 1"), forNewStatement: true));
        Assert.Null(statements.Use(Parse("select 2"), forNewStatement: true));
        Assert.Same(three, statements.Use(Parse("select 3"), forNewStatement: true));
        var oneAgain = statements.Add(Parse("select 1"));
        Assert.Empty(Retired(statements));

        invalidation.InvalidateAll();
        Assert.Null(statements.Use(Parse("select 1"), forNewStatement: true)); // oneAgain is set aside: the first copy goes
        Assert.Equal([one.Name], Retired(statements));
        Assert.Empty(Retired(statements)); // each closed once
        Assert.NotEqual(one.Name, oneAgain.Name);
    }

    [Fact]
    public void A_full_connection_retires_its_least_recently_used_statement_to_make_room()
    {
        var statements = new ServerStatements(2, new StatementInvalidation());
        var one = statements.Add(Parse("select 1"));
        statements.Add(Parse("select 2"));
        statements.Use(Parse("select 1"), forNewStatement: false);

        statements.Add(Parse("select 3"));

        Assert.Equal(2, statements.Count);
        Assert.NotNull(statements.Use(Parse("select 1"), forNewStatement: false));
        Assert.Null(statements.Use(Parse("select 2"), forNewStatement: false));
        Assert.Single(Retired(statements));
        Assert.NotEqual(one.Name, statements.NextStandInName()); // stand-ins never reuse a statement's name
    }
}
