using Akka.Actor;
using PgBouncerActors.Net;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Backend;

/// <summary>
/// One logged-in server connection: the socket, the server's key and reported parameters, and who
/// owns it now (its pool, its pool's desk, or the client or pooler task it is lent to; ARCHITECTURE
/// invariant 9). One reader reads the socket for its whole life (<see cref="ServerReader"/>) and
/// serves whoever owns it: it forwards answers to the link it is lent to, hands the answers of the
/// pooler's own requests to <see cref="PoolerQuery"/>, and watches it while idle. Only the owner writes.
/// </summary>
internal sealed class ServerConnection(PgSocket socket, ServerEndpoint endpoint, string user, long maxFrameLength) : DeskListNode<ServerConnection>
{
    private readonly PoolerQuery _query = new();
    private readonly Lock _holdLock = new();
    private TaskCompletionSource? _hold;
    private volatile string? _readerEnded;
    private volatile ConnectionOwner _owner = ConnectionOwner.Pool;
    private volatile Proxy.ClientLink? _lessee;

    public PgSocket Socket { get; } = socket;

    public ServerEndpoint Endpoint { get; } = endpoint;

    public string User { get; } = user;

    public long MaxFrameLength { get; } = maxFrameLength;

    public int ProcessId { get; set; }

    public int SecretKey { get; set; }

    /// <summary>The BackendConnectionActor that opened it and closes it.</summary>
    public IActorRef? Backend { get; set; }

    /// <summary>
    /// A replication connection ("database": logical, "true": physical), opened for one client
    /// with its startup parameters and closed when it leaves; null for a pooled connection.
    /// </summary>
    public string? Replication { get; init; }

    private int _claimed;

    /// <summary>
    /// A replication connection is taken by the session it was opened for, or by its pool when that
    /// session stopped before it could: the first to claim it decides, so it is never left with nobody.
    /// </summary>
    public bool TryClaim() => Interlocked.Exchange(ref _claimed, 1) == 0;

    /// <summary>The server's current ParameterStatus values, kept up to date by its reader.</summary>
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

    /// <summary>
    /// The client settings it carries, as a signature (<see cref="Proxy.ClientLink.SettingsSignature"/>):
    /// those it was brought in line with, or changed to along with its client by the client's own
    /// SETs. A client with the same signature (most are alike) needs no comparison of every setting
    /// before its request goes out. A reset query clears it.
    /// </summary>
    internal string? CarriedSettings { get; set; }

    /// <summary>Transaction and statement modes: the statements the pooler prepared here for its clients (made on first use).</summary>
    public Prepared.ServerStatements? Statements { get; set; }

    // --- ownership, changed under the desk's lock ---------------------------------------------------

    /// <summary>Who owns it now.</summary>
    public ConnectionOwner Owner
    {
        get => _owner;
        set => _owner = value;
    }

    /// <summary>The client link it is lent to (null when idle, the pool's, or lent to the pooler's own use).</summary>
    public Proxy.ClientLink? Lessee
    {
        get => _lessee;
        set => _lessee = value;
    }

    /// <summary>The desk of its pool, from its first check-in on.</summary>
    internal LendingDesk? Desk { get; set; }

    /// <summary>Its number in its pool's order of logins (RECONNECT closes those below a mark).</summary>
    internal long Generation { get; set; }

    /// <summary>When it logged in and when it last went idle, on the desk's monotonic clock.</summary>
    internal TimeSpan OpenedAt { get; set; }

    internal TimeSpan IdleSince { get; set; }

    /// <summary>What the server answered its database's connect_query with, when it refused it (logged, as PgBouncer, and otherwise ignored).</summary>
    public PgError? ConnectQueryError { get; set; }

    /// <summary>
    /// A client's requests have gone out on it (a login that only borrowed it does not count). As
    /// PgBouncer, a connection not used yet is neither checked with server_check_query nor closed
    /// by server_lifetime 0.
    /// </summary>
    public bool Used { get; set; }

    /// <summary>How long it had been idle when it was last lent (zero when it went from one lessee straight to the next): server_check_delay.</summary>
    public TimeSpan IdledFor { get; set; }

    /// <summary>On its way to close: it never goes back to the desk.</summary>
    internal bool Retired { get; set; }

    // --- the reader -----------------------------------------------------------------------------------

    /// <summary>The pooler's request in progress on this connection, if any (its reader feeds it).</summary>
    internal PoolerQuery Query => _query;

    /// <summary>Why its reader ended (the server closed or broke the protocol), or null while it reads: nothing more will be answered.</summary>
    public string? ReaderEnded => _readerEnded;

    /// <summary>Starts the reader, once, after the login. <paramref name="lost"/> hears when it ends: the connection is dead.</summary>
    public Task StartReader(Action<string> lost) => ServerReader.RunAsync(this, lost);

    /// <summary>
    /// The reader has ended: a request still waiting for an answer fails, and so does any later one;
    /// a link that holds the connection for use hears of it (its session ends the client with the cause).
    /// </summary>
    internal void ReaderStopped(string why, Exception? failure)
    {
        _readerEnded = why;
        Interlocked.MemoryBarrier();
        _query.Fail(new IOException($"server connection lost: {why}"));
        ResumeReading();
        Lessee?.ServerLost(this, why, failure);
    }

    /// <summary>
    /// The reader waits here once the link it served stops, until the session has decided what
    /// becomes of the connection (<see cref="ResumeReading"/>), or the connection closes.
    /// </summary>
    internal Task HoldAsync()
    {
        lock (_holdLock)
        {
            if (Socket.IsClosed)
            {
                return Task.CompletedTask;
            }

            _hold ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _hold.Task;
        }
    }

    /// <summary>Its new owner has it: a reader held for the last one reads on. Nothing when the reader is not held.</summary>
    internal void ResumeReading()
    {
        TaskCompletionSource? hold;
        lock (_holdLock)
        {
            hold = _hold;
            _hold = null;
        }

        hold?.TrySetResult();
    }

    // --- the pooler's own requests --------------------------------------------------------------------

    /// <summary>
    /// Brings the connection in line with a client's settings in one statement whose replies the
    /// client does not see; nothing is sent when they already match. Only by its owner, with nothing outstanding.
    /// </summary>
    /// <returns>The server's refusal, or null.</returns>
    public async ValueTask<PgError?> ApplySettingsAsync(IReadOnlyDictionary<string, string> desired, Serilog.ILogger log, CancellationToken cancellationToken)
    {
        var changes = Session.StartupParameters.SettingChanges(desired, Parameters, Applied);
        if (Session.StartupParameters.SetQuery(changes) is not { } query)
        {
            return null;
        }

        if (log.IsEnabled(Serilog.Events.LogEventLevel.Debug))
        {
            // PgBouncer's words (operators and its tests grep them), then the statement that really goes out.
            log.Debug("varcache_apply: {Sets:l} sent as {Query:l}", Session.StartupParameters.AsPgBouncerSets(changes), query);
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

    /// <summary>Runs one simple Query and swallows its results (reset, check and SET queries the client must not see).</summary>
    /// <returns>The server's error, or null when it ran and the connection is back to idle.</returns>
    /// <exception cref="IOException">The connection broke (the server closed it, or answered with a FATAL or a COPY).</exception>
    public ValueTask<PgError?> RunSilentlyAsync(string sql, CancellationToken cancellationToken) =>
        RunAsync(new MessageBuilder().Query(sql), "a silent query", onRow: null, cancellationToken);

    /// <summary>Runs several simple Queries at once, each on its own (an error in one does not stop the next), and swallows their results.</summary>
    /// <returns>Each query's error (null where it ran), in order.</returns>
    /// <exception cref="IOException">The connection broke.</exception>
    public async ValueTask<PgError?[]> RunEachSilentlyAsync(IReadOnlyList<string> queries, string what, CancellationToken cancellationToken)
    {
        var request = new MessageBuilder();
        foreach (var query in queries)
        {
            request.Query(query);
        }

        var each = new PgError?[queries.Count];
        await RunAsync(request, what, onRow: null, cancellationToken, each).ConfigureAwait(false);
        return each;
    }

    /// <summary>
    /// Runs one parameterized query with the extended protocol (unnamed statement and portal, so no
    /// client's prepared statements are touched) and returns its first row in text.
    /// </summary>
    /// <returns>The first row (null when there was none), or the server's error.</returns>
    public async ValueTask<(string?[]? Row, PgError? Error)> QueryFirstRowAsync(string sql, IReadOnlyList<string?> parameters,
        CancellationToken cancellationToken)
    {
        string?[]? row = null;
        var error = await RunAsync(new MessageBuilder().Parse("", sql).Bind("", "", parameters).Execute("").Sync(), "the query",
            payload => row ??= ReadDataRow(payload), cancellationToken).ConfigureAwait(false);
        return (error is null ? row : null, error);
    }

    /// <summary>Sends the pooler's own request; its reader brings the answers to <see cref="PoolerQuery"/> up to the ReadyForQuery.</summary>
    private async ValueTask<PgError?> RunAsync(MessageBuilder request, string what, Action<byte[]>? onRow, CancellationToken cancellationToken,
        PgError?[]? each = null)
    {
        var answered = _query.Begin(what, onRow, each);
        Interlocked.MemoryBarrier();
        if (_readerEnded is { } ended)
        {
            _query.Fail(new IOException($"server connection lost: {ended}"));
        }
        else
        {
            try
            {
                await Socket.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _query.Fail(e is IOException ? e : new IOException(e.Message, e));
            }
        }

        // A request given up is not answered for its owner: the connection cannot be trusted again (the caller closes it).
        await using var giveUp = cancellationToken.Register(static query => ((PoolerQuery)query!).Fail(
            new OperationCanceledException("the pooler's request was given up")), _query);
        return await answered.ConfigureAwait(false);
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
    /// Says goodbye with Terminate when the socket is still usable, then closes. With
    /// <paramref name="cancelFirst"/>, a CancelRequest goes first: a backend busy with a request
    /// (waiting on a lock, a long query) reads neither Terminate nor the close until it is done,
    /// and holds its locks and its transaction until then. A connection closed under a client it
    /// is lent to (KILL, a connection lost) is cut without a Terminate: only its owner writes to it,
    /// and that client's loop may be writing.
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

        if (Owner == ConnectionOwner.Lent)
        {
            Socket.Abort();
        }
        else
        {
            await Socket.CloseWithAsync(new MessageBuilder().Terminate().WrittenMemory).ConfigureAwait(false);
        }

        ResumeReading(); // a reader held for a session's decision sees the close
    }
}
