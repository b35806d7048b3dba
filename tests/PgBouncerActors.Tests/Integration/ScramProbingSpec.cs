using System.Text;
using PgBouncerActors.Protocol.Auth;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>A client probing user names through SCRAM learns nothing: an unknown user's exchange looks like a real one's, attempt after attempt.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ScramProbingSpec(PostgresFixture postgres)
{
    /// <summary>Runs a SCRAM exchange up to the server's first message and ends it with a wrong proof.</summary>
    /// <returns>The salt and iteration count offered, and the final error.</returns>
    private static async Task<(string Salt, string Iterations, PgError Final)> ProbeAsync(int port, string user)
    {
        var client = await WireClient.ConnectAsync(port);
        await client.SendAsync(new MessageBuilder().StartupMessage([new("user", user), new("database", "postgres")]));
        var offer = (await client.Socket.Input.ReadMessageAsync(1 << 16))!;
        Assert.Contains(ScramPrimitives.Mechanism, Encoding.ASCII.GetString(offer.Payload));
        var clientFirst = "n,,n=,r=" + ScramPrimitives.NewNonce();
        await client.SendAsync(new MessageBuilder().SaslInitialResponse(ScramPrimitives.Mechanism, Encoding.UTF8.GetBytes(clientFirst)));
        var serverFirst = Encoding.UTF8.GetString((await client.Socket.Input.ReadMessageAsync(1 << 16))!.Payload.AsSpan(4));
        var attributes = ScramPrimitives.ParseAttributes(serverFirst);
        var withoutProof = $"c={Convert.ToBase64String("n,,"u8)},r={attributes['r']}";
        await client.SendAsync(new MessageBuilder().SaslResponse(Encoding.UTF8.GetBytes($"{withoutProof},p={Convert.ToBase64String(new byte[32])}")));
        var final = (await client.Socket.Input.ReadMessageAsync(1 << 16))!;
        client.Socket.Abort();
        return (attributes['s'], attributes['i'], PgError.Parse(final.Payload));
    }

    [Fact]
    public async Task An_unknown_users_salt_is_the_same_on_every_attempt_and_shaped_like_a_real_users()
    {
        await using var pooler = postgres.StartPooler();
        var unknown = await ProbeAsync(pooler.Port, "nobody_here");
        var again = await ProbeAsync(pooler.Port, "nobody_here");
        var other = await ProbeAsync(pooler.Port, "nobody_else");
        var real = await ProbeAsync(pooler.Port, PostgresFixture.ScramUser);
        var realAgain = await ProbeAsync(pooler.Port, PostgresFixture.ScramUser);

        Assert.Equal(unknown.Salt, again.Salt); // a fresh salt per attempt would tell unknown users apart
        Assert.NotEqual(unknown.Salt, other.Salt);
        Assert.Equal(real.Salt, realAgain.Salt);
        Assert.Equal((Convert.FromBase64String(real.Salt).Length, real.Iterations), (Convert.FromBase64String(unknown.Salt).Length, unknown.Iterations));
        // PgBouncer's words for both, the user named in the detail: nothing tells an unknown user from a wrong password.
        Assert.Equal(("FATAL", "28P01", "SASL authentication failed", "password authentication failed for user \"nobody_here\""),
            (unknown.Final.Severity, unknown.Final.SqlState, unknown.Final.Message, unknown.Final.Detail));
        Assert.Equal(("FATAL", "28P01", "SASL authentication failed", $"password authentication failed for user \"{PostgresFixture.ScramUser}\""),
            (real.Final.Severity, real.Final.SqlState, real.Final.Message, real.Final.Detail));
    }
}
