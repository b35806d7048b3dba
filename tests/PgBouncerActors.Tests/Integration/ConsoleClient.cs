using System.Text;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Tests.Integration;

/// <summary>A bare client of the admin console that shows exactly what came back: column names with their type OIDs, rows, tags, notices, errors.</summary>
internal sealed class ConsoleClient : IAsyncDisposable
{
    private readonly PgSocket _socket;

    private ConsoleClient(PgSocket socket) => _socket = socket;

    /// <summary>Logs in to the virtual database pgbouncer; a refused login throws with the server's error.</summary>
    public static async Task<ConsoleClient> ConnectAsync(int port, string user)
    {
        var socket = await PgSocket.ConnectAsync("127.0.0.1", port, CancellationToken.None);
        await socket.SendAsync(new MessageBuilder().StartupMessage([new("user", user), new("database", "pgbouncer")]).WrittenMemory);
        var client = new ConsoleClient(socket);
        var login = await client.ReadUntilReadyAsync();
        if (login.Error is { } error)
        {
            await client.DisposeAsync();
            throw new ConsoleRefusedException(error);
        }

        return client;
    }

    public async Task<ConsoleAnswer> RunAsync(string query)
    {
        await _socket.SendAsync(new MessageBuilder().Query(query).WrittenMemory);
        return await ReadUntilReadyAsync();
    }

    /// <summary>Sends raw messages (the extended protocol, say) and reads the answer up to ReadyForQuery.</summary>
    public async Task<ConsoleAnswer> SendAsync(MessageBuilder messages)
    {
        await _socket.SendAsync(messages.WrittenMemory);
        return await ReadUntilReadyAsync();
    }

    /// <summary>Runs a command that must succeed; its table.</summary>
    public async Task<ConsoleAnswer> ShowAsync(string query)
    {
        var answer = await RunAsync(query);
        return answer.Error is null ? answer : throw new ConsoleRefusedException(answer.Error);
    }

    private async Task<ConsoleAnswer> ReadUntilReadyAsync()
    {
        var answer = new ConsoleAnswer();
        while (await _socket.Input.ReadMessageAsync(1 << 24) is { } message)
        {
            switch (message.Type)
            {
                case 'T':
                    answer.Columns.AddRange(ReadColumns(message.Payload));
                    break;
                case 'D':
                    answer.Rows.Add(ReadRow(message.Payload));
                    break;
                case 'C':
                    answer.Tags.Add(Encoding.UTF8.GetString(message.Payload, 0, message.Payload.Length - 1));
                    break;
                case 'N':
                    answer.Notices.Add(PgError.Parse(message.Payload));
                    break;
                case 'E':
                    answer.Error = PgError.Parse(message.Payload);
                    if (answer.Error.IsFatal)
                    {
                        return answer;
                    }

                    break;
                case 'Z':
                    return answer;
            }
        }

        answer.Closed = true;
        return answer;
    }

    private static IEnumerable<(string Name, int TypeOid)> ReadColumns(byte[] payload)
    {
        var count = (payload[0] << 8) | payload[1];
        var offset = 2;
        for (var i = 0; i < count; i++)
        {
            var end = Array.IndexOf(payload, (byte)0, offset);
            var name = Encoding.UTF8.GetString(payload, offset, end - offset);
            offset = end + 1 + 6;
            var oid = (payload[offset] << 24) | (payload[offset + 1] << 16) | (payload[offset + 2] << 8) | payload[offset + 3];
            offset += 12;
            yield return (name, oid);
        }
    }

    private static string?[] ReadRow(byte[] payload)
    {
        var count = (payload[0] << 8) | payload[1];
        var values = new string?[count];
        var offset = 2;
        for (var i = 0; i < count; i++)
        {
            var length = (payload[offset] << 24) | (payload[offset + 1] << 16) | (payload[offset + 2] << 8) | payload[offset + 3];
            offset += 4;
            if (length >= 0)
            {
                values[i] = Encoding.UTF8.GetString(payload, offset, length);
                offset += length;
            }
        }

        return values;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _socket.SendAsync(new MessageBuilder().Begin((byte)'X').End().WrittenMemory);
        }
        catch (Exception)
        {
            // already closed by the pooler
        }

        _socket.Abort();
    }
}

internal sealed class ConsoleAnswer
{
    public List<(string Name, int TypeOid)> Columns { get; } = [];

    public List<string?[]> Rows { get; } = [];

    public List<string> Tags { get; } = [];

    public List<PgError> Notices { get; } = [];

    public PgError? Error { get; set; }

    public bool Closed { get; set; }

    /// <summary>The value of a column in the row whose first columns match <paramref name="key"/>.</summary>
    public string? Value(string column, params string[] key)
    {
        var index = Columns.FindIndex(c => c.Name == column);
        var row = Rows.FirstOrDefault(row => key.Select((k, i) => row[i] == k).All(match => match))
            ?? throw new InvalidOperationException($"no row {string.Join("/", key)} in {string.Join("; ", Rows.Select(r => string.Join(",", r)))}");
        return row[index];
    }

    public long Number(string column, params string[] key) => long.Parse(Value(column, key)!);
}

internal sealed class ConsoleRefusedException(PgError error) : Exception($"{error.SqlState} {error.Message}")
{
    public PgError Error { get; } = error;
}
