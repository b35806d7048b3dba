using CsCheck;
using PgBouncerActors.Prepared;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Shared;
using Xunit;

namespace PgBouncerActors.Tests.Prepared;

/// <summary>
/// Statements made with SQL, checked against a model of PostgreSQL: three clients take turns on
/// two server connections, prepare and deallocate under the same few names with different texts,
/// run DISCARD ALL, lose a connection, and drop the table one statement reads. Before each
/// transaction the connection holds exactly the client's statements (but one the server cannot
/// prepare again, whose error is kept), so a client's PREPARE never meets another's name and its
/// DEALLOCATE always finds its own; and what the pooler believes a connection holds is always
/// what the model server holds.
/// </summary>
public sealed class SqlStatementSyncModelSpec
{
    private static readonly string[] Names = ["a", "b", "c"];
    private static readonly string[] Texts = ["SELECT 1", "SELECT 2", "SELECT x FROM t"];

    private enum Action
    {
        Prepare,
        Deallocate,
        DiscardAll,
        ConnectionLost,
        DropTable,
        CreateTable,
    }

    private readonly record struct Step(Action Action, int Client, int Server, int Name, int Text);

    private static readonly Gen<Step> Steps = Gen.Select(Gen.Int[0, 9], Gen.Int[0, 2], Gen.Int[0, 1], Gen.Int[0, 2], Gen.Int[0, 2])
        .Select((action, client, server, name, text) => new Step(action switch
        {
            < 4 => Action.Prepare,
            < 7 => Action.Deallocate,
            7 => Action.DiscardAll,
            8 => Action.ConnectionLost,
            _ => text == 0 ? Action.DropTable : Action.CreateTable,
        }, client, server, name, text));

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void Each_transaction_finds_exactly_its_clients_statements_on_the_connection(string seed)
    {
        Steps.Array[1, 60].Sample(steps => new Model().Run(steps), seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations / 5, threads: 1);
    }

    /// <summary>PostgreSQL's side: per connection, the statements made with SQL (name to text), and whether table t exists.</summary>
    private sealed class Model
    {
        private readonly ClientStatements[] _clients = [new(), new(), new()];
        private readonly ServerStatements[] _pooler = new ServerStatements[2];
        private readonly Dictionary<string, string>[] _servers = [[], []];
        private readonly StatementInvalidation _invalidation = new();
        private bool _tableExists = true;

        public Model()
        {
            _pooler[0] = new ServerStatements(10, _invalidation);
            _pooler[1] = new ServerStatements(10, _invalidation);
        }

        public void Run(Step[] steps)
        {
            foreach (var step in steps)
            {
                switch (step.Action)
                {
                    case Action.ConnectionLost:
                        _pooler[step.Server] = new ServerStatements(10, _invalidation);
                        _servers[step.Server].Clear();
                        continue;
                    case Action.DropTable or Action.CreateTable:
                        _tableExists = step.Action == Action.CreateTable;
                        continue;
                }

                var client = _clients[step.Client];
                var pooler = _pooler[step.Server];
                var server = _servers[step.Server];
                if (!pooler.SqlInLineWith(client))
                {
                    var plan = SqlStatementSync.Plan(client, pooler);
                    plan.Done(plan.Queries.Select(query => Execute(server, query)).ToArray());
                }

                var mine = client.SqlStatements();
                Assert.True(pooler.SqlInLineWith(client) || mine.Keys.Any(name => pooler.SqlNotPrepared(name) is not null),
                    "in line after the sync, unless a statement could not be prepared again");
                foreach (var (held, definition) in mine)
                {
                    Assert.True(pooler.SqlNotPrepared(held) is not null || (server.TryGetValue(held, out var text) && text == definition.SqlText),
                        $"the client's {held} is on the connection before its transaction");
                }

                Assert.All(server.Keys, held => Assert.True(mine.ContainsKey(held), $"{held} is the client's, or gone"));
                var name = Names[step.Name];
                switch (step.Action)
                {
                    case Action.Prepare when !client.TryGet(name, out _): // a name the client has is refused by the pooler (42P05)
                        var statement = $"PREPARE {name} AS {Texts[step.Text]}";
                        var refused = Execute(server, statement);
                        Assert.False(refused?.SqlState == "42P05", "the server had another client's statement under the name");
                        if (refused is null)
                        {
                            pooler.SqlChanged(client, name, StatementDefinition.FromSql(statement));
                        }

                        break;
                    case Action.Deallocate when client.TryGet(name, out _):
                        if (pooler.SqlNotPrepared(name) is null)
                        {
                            Assert.Null(Execute(server, $"DEALLOCATE {SqlStatementSync.QuotedName(name)}")); // the client's own is there
                        }

                        // Either way the name is free after (one the server could not prepare again is answered by the pooler).
                        pooler.SqlChanged(client, name, definition: null);
                        Assert.False(client.TryGet(name, out _));
                        break;
                    case Action.DiscardAll:
                        server.Clear();
                        pooler.Clear();
                        client.Clear();
                        break;
                }

                Assert.Equal(server.OrderBy(pair => pair.Key), pooler.SqlStatements().Select(pair => KeyValuePair.Create(pair.Key, pair.Value.SqlText)).OrderBy(pair => pair.Key));
            }
        }

        /// <summary>A query as PostgreSQL would run it on the connection: its error, or null.</summary>
        private PgError? Execute(Dictionary<string, string> server, string query)
        {
            if (query.StartsWith("DEALLOCATE ", StringComparison.Ordinal))
            {
                var name = query["DEALLOCATE ".Length..].Trim('"');
                return server.Remove(name) ? null : PgError.Error("26000", $"prepared statement \"{name}\" does not exist");
            }

            var prepared = query.Split(' ')[1];
            if (server.ContainsKey(prepared))
            {
                return PgError.Error("42P05", $"prepared statement \"{prepared}\" already exists");
            }

            if (query.EndsWith("FROM t", StringComparison.Ordinal) && !_tableExists)
            {
                return PgError.Error("42P01", "relation \"t\" does not exist");
            }

            server[prepared] = query;
            return null;
        }
    }
}
