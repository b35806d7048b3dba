using System.Diagnostics;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Integration;

/// <summary>Transaction pooling's promise: a thousand clients, ten server connections, nobody sees anybody else's work.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ThousandClientsSpec(PostgresFixture postgres, ITestOutputHelper output)
{
    private const int Clients = 1000;
    private const int TransactionsPerClient = 3;
    private const int RowsPerTransaction = 2;

    [Fact]
    public async Task A_thousand_clients_over_a_pool_of_ten_each_see_only_their_own_rows_and_every_row_lands_once()
    {
        await using (var setup = new NpgsqlConnection(postgres.DirectConnectionString()))
        {
            await setup.OpenAsync();
            await using var create = new NpgsqlCommand($"""
                drop table if exists tagged;
                create table tagged (client int, n int, pending bool not null default true, primary key (client, n));
                grant all on tagged to {PostgresFixture.ScramUser};
                """, setup);
            await create.ExecuteNonQueryAsync();
        }

        await using var pooler = postgres.StartPooler("pool_mode = transaction, default_pool_size = 10, max_client_conn = 1100");
        var clock = Stopwatch.StartNew();
        var leaks = await Task.WhenAll(Enumerable.Range(1, Clients).Select(client => Task.Run(() => RunClientAsync(pooler.Port, client))));
        var elapsed = clock.Elapsed;

        Assert.Equal([], leaks.OfType<string>());
        await using var check = new NpgsqlConnection(postgres.DirectConnectionString());
        await check.OpenAsync();
        await using var count = new NpgsqlCommand("select count(*), count(distinct (client, n)), count(*) filter (where pending), count(distinct client) from tagged", check);
        await using var reader = await count.ExecuteReaderAsync();
        await reader.ReadAsync();
        const long expected = Clients * TransactionsPerClient * RowsPerTransaction;
        Assert.Equal((expected, expected, 0L, (long)Clients), (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
        Assert.True(pooler.Stats.ServerLoginAttempts <= 10, $"{pooler.Stats.ServerLoginAttempts} server logins for a pool of 10");
        output.WriteLine($"{Clients} clients x {TransactionsPerClient} transactions through a pool of 10 in {elapsed.TotalSeconds:0.0}s; " +
                         $"{pooler.Stats.ServerLoginAttempts} server logins");
    }

    /// <summary>Each transaction inserts its rows marked pending and counts the pending rows it can see: only its own, or a server connection was shared mid-transaction.</summary>
    private static async Task<string?> RunClientAsync(int port, int client)
    {
        await using var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(port) + ";Timeout=60;Command Timeout=120");
        await connection.OpenAsync();
        for (var t = 0; t < TransactionsPerClient; t++)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            for (var r = 0; r < RowsPerTransaction; r++)
            {
                await using var insert = new NpgsqlCommand("insert into tagged (client, n) values ($1, $2)", connection, transaction);
                insert.Parameters.AddWithValue(client);
                insert.Parameters.AddWithValue((t * RowsPerTransaction) + r);
                await insert.ExecuteNonQueryAsync();
            }

            await using var look = new NpgsqlCommand("select count(*) filter (where client = $1), count(*) filter (where client <> $1) from tagged where pending",
                connection, transaction);
            look.Parameters.AddWithValue(client);
            await using (var reader = await look.ExecuteReaderAsync())
            {
                await reader.ReadAsync();
                var (mine, others) = (reader.GetInt64(0), reader.GetInt64(1));
                if (mine != RowsPerTransaction || others != 0)
                {
                    return $"client {client} saw {mine} pending rows of its own and {others} of other clients";
                }
            }

            await using var settle = new NpgsqlCommand("update tagged set pending = false where client = $1 and pending", connection, transaction);
            settle.Parameters.AddWithValue(client);
            await settle.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }

        return null;
    }
}
