using System.Buffers;
using System.Text;
using PgBouncerActors.Prepared;
using Xunit;

namespace PgBouncerActors.Tests.Prepared;

/// <summary>Which query strings change the role their session's names resolve for, read as PostgreSQL reads them.</summary>
public sealed class RoleChangeSpec
{
    private static bool In(string sql) => RoleChange.In(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(sql + "\0\0\0")));

    [Theory]
    [InlineData("SET ROLE alice")]
    [InlineData("set role = 'alice'")]
    [InlineData("Set Local Role alice")]
    [InlineData("SET SESSION ROLE alice")]
    [InlineData("SET SESSION AUTHORIZATION alice")]
    [InlineData("SET LOCAL SESSION AUTHORIZATION DEFAULT")]
    [InlineData("SET SESSION SESSION AUTHORIZATION alice")]
    [InlineData("RESET ROLE")]
    [InlineData("reset session authorization")]
    [InlineData("/* who */ BEGIN; -- then\n set local role \"Alice\"; select 1")]
    public void A_statement_that_changes_the_role_is_seen_alone_or_inside_a_longer_string(string sql) => Assert.True(In(sql));

    [Theory]
    [InlineData("SELECT abalance FROM pgbench_accounts WHERE aid = $1")]
    [InlineData("select 'set role alice'")]
    [InlineData("set role_name = 'x'")]
    [InlineData("SET search_path = role")]
    [InlineData("ALTER ROLE alice SET search_path = x")]
    [InlineData("select set_config('role', 'alice', true)")]
    [InlineData("-- set role alice\nselect 1")]
    [InlineData("RESET ALL")]
    public void Anything_else_is_not(string sql) => Assert.False(In(sql));
}
