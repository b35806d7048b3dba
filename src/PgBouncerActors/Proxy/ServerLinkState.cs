using PgBouncerActors.Backend;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// What the pooler knows about the server connection a client is using: which one it is, the
/// requests that still owe a ReadyForQuery, the last transaction status, COPY, an
/// extended-protocol batch not yet closed by Sync. It decides whether the connection may go to
/// another client (ARCHITECTURE invariant 3). Both proxy directions update it, one writer per field.
/// </summary>
internal sealed class ServerLinkState
{
    private int _pendingReadyForQuery;
    private volatile bool _inCopy;
    private volatile bool _unsyncedExtended;
    private volatile byte _transactionStatus = TransactionStatus.Idle;
    private volatile ServerConnection? _server;
    private volatile ServerConnection? _parked;
    private long _lastRequestTick = Environment.TickCount64;

    public ForwardPosition ToServer { get; } = new();

    public ForwardPosition ToClient { get; } = new();

    /// <summary>
    /// Held by whoever writes to the server or takes it away: the client loop while it forwards a
    /// read, the server loop while it gives the connection back, the session while it stops the
    /// server loop. So a request never goes to a connection that was just released.
    /// </summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The server connection the client is using now; null between transactions (changed under <see cref="Gate"/>).</summary>
    public ServerConnection? Server
    {
        get => _server;
        set => _server = value;
    }

    /// <summary>
    /// Transaction and statement modes: the connection this client keeps between transactions
    /// because nobody else wanted one when its last transaction ended (changed under <see cref="Gate"/>).
    /// Its server loop waits on it meanwhile, so its death is noticed at once.
    /// </summary>
    public ServerConnection? Parked
    {
        get => _parked;
        set => _parked = value;
    }

    /// <summary>Set (under the gate) when the session ends: the server loop must not release any more, only stop.</summary>
    public bool Stopping { get; set; }

    public int PendingReadyForQuery => Volatile.Read(ref _pendingReadyForQuery);

    /// <summary>A FATAL error the server sent and the client already received.</summary>
    public PgError? ServerFatal { get; set; }

    /// <summary>Clean: nothing owed, idle, not copying, no half batch, no half frame in either direction.</summary>
    public bool IsClean =>
        PendingReadyForQuery == 0 && _transactionStatus == TransactionStatus.Idle && !_inCopy && !_unsyncedExtended &&
        ToServer.AtFrameBoundary && ToClient.AtFrameBoundary && ServerFatal is null;

    /// <summary>How long the client has sent nothing while its transaction is open and nothing is owed it; zero otherwise.</summary>
    public TimeSpan IdleInTransaction(long nowTick) =>
        _server is not null && _transactionStatus != TransactionStatus.Idle && PendingReadyForQuery == 0 && !_inCopy
            ? TimeSpan.FromMilliseconds(nowTick - Interlocked.Read(ref _lastRequestTick))
            : TimeSpan.Zero;

    public string DescribeState() =>
        IsClean ? "idle" :
        _inCopy ? "in COPY" :
        PendingReadyForQuery > 0 ? $"{PendingReadyForQuery} request(s) awaiting results" :
        _transactionStatus != TransactionStatus.Idle ? "inside a transaction" :
        _unsyncedExtended ? "extended-protocol batch without Sync" : "mid-message";

    public void RequestSent()
    {
        Interlocked.Increment(ref _pendingReadyForQuery);
        MarkClientActivity();
    }

    public void ExtendedMessageSent()
    {
        _unsyncedExtended = true;
        MarkClientActivity();
    }

    public void SyncSent()
    {
        _unsyncedExtended = false;
        RequestSent();
    }

    public void CopyStarted() => _inCopy = true;

    public void ReadyForQueryReceived(byte status)
    {
        _transactionStatus = status;
        _inCopy = false;
        Interlocked.Decrement(ref _pendingReadyForQuery);
    }

    private void MarkClientActivity() => Interlocked.Exchange(ref _lastRequestTick, Environment.TickCount64);
}
