using PgBouncerActors.Net;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Backend;

/// <summary>
/// One logged-in server connection: the socket, the server's key and reported parameters. Owned
/// by its BackendConnectionActor; while lent, the session's proxy loops read and write it, and
/// nobody else does (the idle watch is stopped before a lease starts).
/// </summary>
internal sealed class ServerConnection(PgSocket socket, ServerEndpoint endpoint, string user, long maxFrameLength)
{
    private Task<bool>? _idleWatch;

    public PgSocket Socket { get; } = socket;

    public ServerEndpoint Endpoint { get; } = endpoint;

    public string User { get; } = user;

    public long MaxFrameLength { get; } = maxFrameLength;

    public int ProcessId { get; set; }

    public int SecretKey { get; set; }

    /// <summary>The server's current ParameterStatus values, kept up to date by whoever reads the socket.</summary>
    public Dictionary<string, string> Parameters { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The ParameterStatus values of the login: the server's defaults for this database and user, whatever clients set since.</summary>
    public IReadOnlyDictionary<string, string> LoginParameters { get; private set; } = new Dictionary<string, string>();

    /// <summary>The login is over: what the server reported so far are its defaults.</summary>
    public void LoggedIn() => LoginParameters = new Dictionary<string, string>(Parameters, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Settings the pooler applied for a client that the server does not report (extra_float_digits,
    /// statement_timeout from options...), so the next client's settings can be compared with them.
    /// A reset query clears them.
    /// </summary>
    public Dictionary<string, string> Applied { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Transaction and statement modes: the statements the pooler prepared here for its clients (made on first use).</summary>
    public Prepared.ServerStatements? Statements { get; set; }

    /// <summary>
    /// Brings the connection in line with a client's settings in one statement whose replies the
    /// client does not see; nothing is sent when they already match.
    /// </summary>
    /// <returns>The server's refusal, or null.</returns>
    public async Task<PgError?> ApplySettingsAsync(IReadOnlyDictionary<string, string> desired, CancellationToken cancellationToken)
    {
        var query = Session.StartupParameters.BuildSetQuery(desired, Parameters, Applied);
        if (query is null)
        {
            return null;
        }

        var error = await RunSilentlyAsync(query, cancellationToken).ConfigureAwait(false);
        if (error is null)
        {
            Applied.Clear();
            foreach (var (name, value) in desired)
            {
                if (!Parameters.ContainsKey(name))
                {
                    Applied[name] = value;
                }
            }
        }

        return error;
    }

    /// <summary>
    /// Runs one simple Query and swallows its results (reset and SET queries the client must not see).
    /// </summary>
    /// <returns>The server's error, or null when it ran and the connection is back to idle.</returns>
    public Task<PgError?> RunSilentlyAsync(string sql, CancellationToken cancellationToken) =>
        RunAsync(new MessageBuilder().Query(sql), "a silent query", onRow: null, cancellationToken);

    /// <summary>
    /// Runs one parameterized query with the extended protocol (unnamed statement and portal, so no
    /// client's prepared statements are touched) and returns its first row in text.
    /// </summary>
    /// <returns>The first row (null when there was none), or the server's error.</returns>
    public async Task<(string?[]? Row, PgError? Error)> QueryFirstRowAsync(string sql, IReadOnlyList<string?> parameters, CancellationToken cancellationToken)
    {
        string?[]? row = null;
        var error = await RunAsync(new MessageBuilder().Parse("", sql).Bind("", "", parameters).Execute("").Sync(), "the query",
            payload => row ??= ReadDataRow(payload), cancellationToken).ConfigureAwait(false);
        return (error is null ? row : null, error);
    }

    /// <summary>
    /// Sends the pooler's own request and reads up to its ReadyForQuery: rows go to <paramref name="onRow"/>,
    /// ParameterStatus is kept, a FATAL or a COPY ends the connection's use.
    /// </summary>
    /// <returns>The server's error, an error when the request left a transaction open, or null.</returns>
    private async Task<PgError?> RunAsync(MessageBuilder request, string what, Action<byte[]>? onRow, CancellationToken cancellationToken)
    {
        await Socket.SendAsync(request, cancellationToken).ConfigureAwait(false);
        PgError? error = null;
        while (true)
        {
            var message = await Socket.Input.ReadMessageAsync(MaxFrameLength, cancellationToken).ConfigureAwait(false)
                ?? throw new IOException("the server closed the connection");
            switch ((BackendMessageCode)message.Code)
            {
                case BackendMessageCode.DataRow:
                    onRow?.Invoke(message.Payload);
                    break;
                case BackendMessageCode.ErrorResponse:
                    error = PgError.Parse(message.Payload);
                    if (error.IsFatal)
                    {
                        throw new IOException($"the server ended the connection: {error}");
                    }

                    break;
                case BackendMessageCode.ParameterStatus:
                    Proxy.ParameterStatusReader.Apply(new(message.Payload), Parameters);
                    break;
                case BackendMessageCode.CopyInResponse or BackendMessageCode.CopyOutResponse or BackendMessageCode.CopyBothResponse:
                    throw new IOException($"{what} started COPY");
                case BackendMessageCode.ReadyForQuery:
                    return error ?? (message.Payload is [TransactionStatus.Idle] ? null
                        : PgError.Error(SqlStates.InternalError, $"{what} left the server connection inside a transaction"));
            }
        }
    }

    private static string?[] ReadDataRow(byte[] payload)
    {
        var count = System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(payload);
        var values = new string?[count];
        var at = 2;
        for (var column = 0; column < count; column++)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(at));
            at += 4;
            if (length >= 0)
            {
                values[column] = System.Text.Encoding.UTF8.GetString(payload, at, length);
                at += length;
            }
        }

        return values;
    }

    /// <summary>
    /// While idle, a server connection is read so that its death (restart, pg_terminate_backend,
    /// idle timeout on the server) is noticed at once instead of by the next client.
    /// </summary>
    public void StartIdleWatch(Action<string> onLost)
    {
        _idleWatch ??= WatchAsync(onLost);
    }

    /// <summary>Stops the idle watch and leaves the socket to the next reader; false if the connection died meanwhile.</summary>
    public async Task<bool> StopIdleWatchAsync()
    {
        if (_idleWatch is null)
        {
            return !Socket.IsClosed;
        }

        Socket.Input.CancelPendingRead();
        var alive = await _idleWatch.ConfigureAwait(false);
        _idleWatch = null;
        return alive;
    }

    private async Task<bool> WatchAsync(Action<string> onLost)
    {
        try
        {
            while (true)
            {
                var result = await Socket.Input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    Socket.Input.AdvanceTo(result.Buffer.Start);
                    return true;
                }

                var buffer = result.Buffer;
                var reason = "the server closed the idle connection";
                while (FrameReader.TryReadMessage(ref buffer, MaxFrameLength, out var frame))
                {
                    switch ((BackendMessageCode)frame.Code)
                    {
                        case BackendMessageCode.ParameterStatus:
                            Proxy.ParameterStatusReader.Apply(frame.Payload, Parameters);
                            continue;
                        case BackendMessageCode.NoticeResponse or BackendMessageCode.NotificationResponse:
                            continue;
                        case BackendMessageCode.ErrorResponse:
                            reason = PgError.Parse(frame.Payload).ToString();
                            break;
                        default:
                            reason = $"the idle server sent an unexpected '{(char)frame.Code}' message";
                            break;
                    }

                    Socket.Input.AdvanceTo(buffer.Start);
                    onLost(reason);
                    return false;
                }

                Socket.Input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    onLost(reason);
                    return false;
                }
            }
        }
        catch (Exception e) when (e is IOException or FramingException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            onLost(e.Message);
            return false;
        }
    }

    /// <summary>
    /// Says goodbye with Terminate when the socket is still usable, then closes. With
    /// <paramref name="cancelFirst"/>, a CancelRequest goes first: a backend busy with a request
    /// (waiting on a lock, a long query) reads neither Terminate nor the close until it is done,
    /// and holds its locks and its transaction until then.
    /// </summary>
    public async Task CloseAsync(bool cancelFirst = false)
    {
        if (cancelFirst)
        {
            try
            {
                await ServerCancel.SendAsync(Endpoint, ProcessId, SecretKey, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
            {
                // the server is unreachable: closing is all that is left
            }
        }

        await Socket.CloseWithAsync(new MessageBuilder().Terminate().WrittenMemory).ConfigureAwait(false);
    }
}
