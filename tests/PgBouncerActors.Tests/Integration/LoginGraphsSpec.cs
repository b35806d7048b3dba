using Akka.Actor;
using Akka.Streams;
using Npgsql;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Every login runs its startup and authentication, and every server login its own, as an
/// Akka.Streams graph: none may outlive its login, or each client would leave memory behind for
/// as long as the pooler runs.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LoginGraphsSpec(PostgresFixture postgres)
{
    [Theory]
    [InlineData("session", "scram-sha-256")]
    [InlineData("transaction", "scram-sha-256")]
    [InlineData("transaction", "trust")]
    public async Task No_conversation_graph_is_left_running_after_logins_and_failed_logins(string mode, string auth)
    {
        await using var pooler = postgres.StartPooler($"pool_mode = {mode}, default_pool_size = 25, auth_type = {auth}");
        // Clients that stay connected: their login ended, so must its graph.
        var connections = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port));
            await connection.OpenAsync();
            await using var select = new NpgsqlCommand("select 1", connection);
            Assert.Equal(1, await select.ExecuteScalarAsync());
            return connection;
        }));
        await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var wrong = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, password: "wrong", database: "no_such_db"));
            await wrong.OpenAsync();
        });

        var supervisor = ((ActorMaterializer)pooler.Streams).Supervisor;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        IActorRef? running;
        do
        {
            running = await RunningGraphAsync(pooler.System, supervisor);
        }
        while (running is not null && DateTime.UtcNow < deadline);

        Assert.Null(running);
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
    }

    /// <summary>A stream actor still under the materializer's supervisor, or null when there is none.</summary>
    private static async Task<IActorRef?> RunningGraphAsync(ActorSystem system, IActorRef supervisor)
    {
        try
        {
            var identity = await system.ActorSelection(supervisor.Path / "*").Ask<ActorIdentity>(new Identify(null), TimeSpan.FromMilliseconds(300));
            return identity.Subject;
        }
        catch (AskTimeoutException)
        {
            return null; // nobody there to answer
        }
    }
}
