using System.Net;
using System.Net.Sockets;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Tests.Simulation;

/// <summary>A scripted PostgreSQL server: the test says what it expects and what it answers, message by message.</summary>
internal sealed class FakeServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public FakeServer() => _listener.Start();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public async Task<FakeServerConnection> AcceptAsync(TimeSpan? timeout = null)
    {
        var socket = await _listener.AcceptSocketAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
        return new FakeServerConnection(PgSocket.Wrap(socket));
    }

    /// <summary>True when a connection arrives within the time given (used to prove none does).</summary>
    public bool HasPendingConnection(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (_listener.Pending())
            {
                return true;
            }

            Thread.Sleep(20);
        }

        return false;
    }

    public void Dispose() => _listener.Stop();
}

internal sealed class FakeServerConnection(PgSocket socket)
{
    public const int SecretKey = 4242;

    public PgSocket Socket { get; } = socket;

    /// <summary>Answers with raw messages (each a code and payload pieces written by the builder).</summary>
    public Task SendAsync(Func<MessageBuilder, MessageBuilder> compose) => Socket.SendAsync(compose(new MessageBuilder())).AsTask();

    /// <summary>True when nothing arrives within the time given (the pooler holds a request back).</summary>
    public async Task<bool> StaysQuietAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            var result = await Socket.Input.ReadAsync(timeout.Token);
            Socket.Input.AdvanceTo(result.Buffer.Start);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    /// <summary>The next messages' type codes, as a string ("PBES").</summary>
    public async Task<string> ReadTypesAsync(int count)
    {
        var types = "";
        for (var i = 0; i < count; i++)
        {
            types += (await ReadAsync())?.Type ?? '-';
        }

        return types;
    }

    public async Task<IReadOnlyList<KeyValuePair<string, string>>> AcceptLoginAsync(int processId)
    {
        var startup = StartupPacket.Parse((await Socket.Input.ReadStartupPacketAsync())!.Payload);
        await Socket.SendAsync(new MessageBuilder().AuthenticationOk()
            .ParameterStatus("server_version", "15.0 (fake)")
            .ParameterStatus("client_encoding", "UTF8")
            .ParameterStatus("TimeZone", "UTC")
            .BackendKeyData(processId, SecretKey)
            .ReadyForQuery());
        return startup.Parameters;
    }

    public async Task<string> ExpectQueryAsync()
    {
        var message = await Socket.Input.ReadMessageAsync(1 << 20).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(message);
        Assert.Equal('Q', message!.Type);
        return System.Text.Encoding.UTF8.GetString(message.Payload, 0, message.Payload.Length - 1);
    }

    public Task CompleteAsync(string tag, byte status = TransactionStatus.Idle) =>
        Socket.SendAsync(new MessageBuilder().Begin((byte)BackendMessageCode.CommandComplete).WriteCString(tag).End().ReadyForQuery(status)).AsTask();

    /// <summary>Null when the pooler closed the connection (after an optional Terminate).</summary>
    public async Task<PgMessage?> ReadAsync() => await Socket.Input.ReadMessageAsync(1 << 20).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
}

/// <summary>A bare protocol client, so the specs see exactly which messages the pooler sends.</summary>
internal sealed class WireClient(PgSocket socket)
{
    public PgSocket Socket { get; } = socket;

    public static async Task<WireClient> ConnectAsync(int port) =>
        new(await PgSocket.ConnectAsync("127.0.0.1", port, CancellationToken.None));

    /// <param name="within">How long the login may take (10 s by default; a login waits its turn for a server connection in pooled modes).</param>
    public async Task<List<PgMessage>> LoginAsync(string user = "alice", string database = "app", TimeSpan? within = null)
    {
        await Socket.SendAsync(new MessageBuilder().StartupMessage([new("user", user), new("database", database)]));
        return await ReadUntilReadyAsync(within);
    }

    public async Task<List<PgMessage>> QueryAsync(string sql)
    {
        await Socket.SendAsync(new MessageBuilder().Query(sql));
        return await ReadUntilReadyAsync();
    }

    public Task SendQueryAsync(string sql) => Socket.SendAsync(new MessageBuilder().Query(sql)).AsTask();

    public Task SendAsync(MessageBuilder messages) => Socket.SendAsync(messages).AsTask();

    public Task TerminateAsync() => Socket.SendAsync(new MessageBuilder().Terminate()).AsTask();

    /// <summary>Messages up to and including ReadyForQuery, or up to the close; each within <paramref name="within"/> (10 s by default).</summary>
    public async Task<List<PgMessage>> ReadUntilReadyAsync(TimeSpan? within = null)
    {
        var messages = new List<PgMessage>();
        while (await Socket.Input.ReadMessageAsync(1 << 20).AsTask().WaitAsync(within ?? TimeSpan.FromSeconds(10)) is { } message)
        {
            messages.Add(message);
            if (message.Type == 'Z')
            {
                break;
            }
        }

        return messages;
    }
}
