using Akka.Actor;
using Akka.Streams;
using Npgsql;
using PgBouncerActors.Framing;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Every login runs its startup and authentication, and every server login its own, as an
/// Akka.Streams graph: none may stay with its client once the login is over, or each client would
/// leave memory behind for as long as the pooler runs. Graphs of logins that ended cleanly are
/// kept for the next logins, a bounded number of them holding no connection.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LoginGraphsSpec(PostgresFixture postgres)
{
    [Theory]
    [InlineData("session", "scram-sha-256")]
    [InlineData("transaction", "scram-sha-256")]
    [InlineData("transaction", "trust")]
    public async Task No_conversation_graph_is_left_running_after_logins_and_failed_logins_but_those_kept_for_the_next(string mode, string auth)
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

        var graphs = pooler.Conversations;
        var supervisor = ((ActorMaterializer)graphs.Materializer).Supervisor;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        int running;
        do
        {
            running = await RunningGraphsAsync(pooler.System, supervisor);
        }
        while (running != graphs.Idle && DateTime.UtcNow < deadline);

        Assert.Equal(graphs.Idle, running);
        Assert.InRange(running, 1, ConversationGraphs.DefaultKeep);
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
    }

    /// <summary>The stream actors under the materializer's supervisor: one per running graph (those that answer within 300 ms).</summary>
    private static async Task<int> RunningGraphsAsync(ActorSystem system, IActorRef supervisor)
    {
        var answers = new System.Collections.Concurrent.ConcurrentBag<IActorRef>();
        var collector = system.ActorOf(Props.Create(() => new IdentityCollector(answers)));
        system.ActorSelection(supervisor.Path / "*").Tell(new Identify(null), collector);
        await Task.Delay(300);
        system.Stop(collector);
        return answers.Count;
    }

    private sealed class IdentityCollector : ReceiveActor
    {
        public IdentityCollector(System.Collections.Concurrent.ConcurrentBag<IActorRef> answers) =>
            Receive<ActorIdentity>(identity =>
            {
                if (identity.Subject is { } subject)
                {
                    answers.Add(subject);
                }
            });
    }
}
