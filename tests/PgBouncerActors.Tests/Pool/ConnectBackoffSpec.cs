using PgBouncerActors.Configuration;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Pool;

public sealed class ConnectBackoffSpec
{
    private static readonly PgError Refused = PgError.FatalError(SqlStates.UnableToConnect, "connection refused");
    private static readonly BackoffSettings Settings = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), RandomFactor: 0);

    [Fact]
    public void Logins_in_flight_together_count_as_one_failure_and_the_next_wave_doubles()
    {
        var backoff = new ConnectBackoff(Settings, () => 0);
        var wave = backoff.Wave;
        var now = TimeSpan.FromSeconds(10);
        Assert.Equal(TimeSpan.FromMilliseconds(100), backoff.Failed(Refused, now, wave));
        for (var i = 0; i < 5; i++)
        {
            backoff.Failed(Refused, now + TimeSpan.FromMilliseconds(1), wave); // the rest of the wave, a millisecond later
        }

        Assert.Equal(1, backoff.Failures);
        Assert.False(backoff.MayConnect(now + TimeSpan.FromMilliseconds(99)));
        Assert.True(backoff.MayConnect(now + TimeSpan.FromMilliseconds(100)));
        Assert.Equal(TimeSpan.FromMilliseconds(200), backoff.Failed(Refused, now + TimeSpan.FromMilliseconds(150), backoff.Wave));
        Assert.Equal(2, backoff.Failures);
    }

    [Theory]
    [InlineData("08001", true)]
    [InlineData("08006", true)]
    [InlineData("57P03", true)] // the database system is starting up
    [InlineData("57P01", true)]
    [InlineData("53300", true)] // too many clients already
    [InlineData("3D000", false)] // no such database (yet)
    [InlineData("28P01", false)] // wrong password
    [InlineData("28000", false)]
    [InlineData("42501", false)]
    public void Only_an_outage_is_backed_off_and_kept_for_the_next_clients(string sqlState, bool outage)
    {
        var backoff = new ConnectBackoff(Settings, () => 0);
        var now = TimeSpan.FromSeconds(1);
        backoff.Failed(PgError.FatalError(sqlState, "refused"), now, backoff.Wave);
        Assert.Equal(outage, backoff.IsFailing);
        Assert.Equal(outage, backoff.LastError is not null);
        Assert.False(backoff.MayConnect(now)); // either way, the very next attempt waits a little: the server is not hammered
        Assert.True(backoff.MayConnect(now + TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public void A_refused_login_keeps_min_pool_size_from_trying_again_before_server_login_retry_while_waiting_clients_may()
    {
        var backoff = new ConnectBackoff(Settings, () => 0);
        var now = TimeSpan.FromSeconds(1);
        backoff.Failed(PgError.FatalError("28P01", "password authentication failed"), now, backoff.Wave);
        var later = now + TimeSpan.FromSeconds(1);
        Assert.True(backoff.MayConnect(later)); // a client that waits tries, and gets the server's answer
        Assert.False(backoff.MayWarm(later)); // nobody waits: no login until server_login_retry (Settings' max, 5 s) has passed
        Assert.True(backoff.MayWarm(now + TimeSpan.FromSeconds(5)));
        backoff.Failed(PgError.FatalError("28P01", "password authentication failed"), now + TimeSpan.FromSeconds(5), backoff.Wave);
        backoff.Succeeded();
        Assert.True(backoff.MayWarm(now + TimeSpan.FromSeconds(5)));
    }
}
