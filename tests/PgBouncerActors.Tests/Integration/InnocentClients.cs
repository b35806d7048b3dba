using System.Collections.Concurrent;
using Npgsql;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Ordinary clients that loop <c>SELECT $1</c> with a number of their own and check the answer,
/// each on one connection for its whole life, while a spec does something hostile through the
/// same pooler. Whatever goes wrong for them (an error, a wrong answer, a lost connection) is
/// harm done to an innocent session.
/// </summary>
internal sealed class InnocentClients : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _loops;
    private readonly ConcurrentQueue<string> _harm = new();
    private long _queries;

    public InnocentClients(int port, int count, string? connectionString = null)
    {
        _loops = Enumerable.Range(0, count).Select(index => Task.Run(() => LoopAsync(port, index, connectionString))).ToArray();
    }

    public long Queries => Interlocked.Read(ref _queries);

    /// <summary>What went wrong for them, one line per incident.</summary>
    public IReadOnlyCollection<string> Harm => _harm;

    /// <summary>Waits until every client has answered at least <paramref name="each"/> more queries, so they are known to be running.</summary>
    public async Task RunningAsync(int each = 5)
    {
        var target = Queries + each * _loops.Length;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Queries < target && DateTime.UtcNow < deadline && _harm.IsEmpty)
        {
            await Task.Delay(10);
        }
    }

    private async Task LoopAsync(int port, int index, string? connectionString)
    {
        var random = new Random(index);
        try
        {
            await using var connection = new NpgsqlConnection(connectionString ?? PostgresFixture.ConnectionString(port));
            await connection.OpenAsync(_stop.Token);
            await using var command = new NpgsqlCommand("select $1::int", connection);
            var parameter = command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
            while (!_stop.IsCancellationRequested)
            {
                var expected = random.Next();
                parameter.Value = expected;
                var answer = (int)(await command.ExecuteScalarAsync())!;
                if (answer != expected)
                {
                    _harm.Enqueue($"client {index}: asked for {expected}, got {answer}");
                }

                Interlocked.Increment(ref _queries);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // stopped
        }
        catch (Exception e)
        {
            _harm.Enqueue($"client {index}: {(e as PostgresException)?.SqlState} {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
        _stop.Dispose();
    }
}
