using PgBouncerActors.Backend;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// What the pooler knows about the server connection a client is using: which one it is, what the
/// server still owes (<see cref="Tracker"/>), whether bytes are on their way to it, and, in pooled
/// modes, the connection the client keeps between transactions. It decides whether the connection
/// may go to another client (ARCHITECTURE invariant 3).
/// <para>
/// <see cref="Gate"/> is held only for short decisions, never across socket I/O: the client loop
/// takes it to claim the server for one read's bytes (<see cref="Writing"/>), the server loop to
/// give the connection back, the session to stop. So neither direction ever waits on the other
/// while one of them is blocked on a socket.
/// </para>
/// </summary>
internal sealed class ServerLinkState
{
    private volatile ServerConnection? _server;
    private ServerConnection? _parked;
    private ParkState _park;
    private CancellationTokenSource? _parkWake;
    private long _lastClientTick = Environment.TickCount64;

    /// <param name="counters">Where the client's answered queries are counted (SHOW STATS); a link of its own when nobody reads them.</param>
    public ServerLinkState(Stats.TrafficCounters? counters = null) => Tracker = new ProtocolTracker(counters ?? new Stats.TrafficCounters());

    public ForwardPosition ToServer { get; } = new();

    public ForwardPosition ToClient { get; } = new();

    public ProtocolTracker Tracker { get; }

    /// <summary>Short decisions only (see the class comment); never held across an await.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The server connection the client is using now; null between transactions (changed under <see cref="Gate"/>).</summary>
    public ServerConnection? Server
    {
        get => _server;
        set => _server = value;
    }

    /// <summary>Set (under the gate) when the session ends: the server loop must not release any more, only stop.</summary>
    public bool Stopping { get; private set; }

    /// <summary>The client loop is writing a read's bytes to <see cref="Server"/> (under the gate): it may not be released meanwhile.</summary>
    public bool Writing { get; set; }

    /// <summary>The server loop found the connection settled while bytes were on their way to it; the client loop wakes it once they are out.</summary>
    public bool ReleaseDeferred { get; set; }

    /// <summary>A write to the server failed or was cut short: part of a message may be out, so the connection is never reused.</summary>
    public bool WriteBroken { get; set; }

    /// <summary>A FATAL error the server sent and the client already received.</summary>
    public PgError? ServerFatal { get; set; }

    /// <summary>The client sent something PostgreSQL would not read (set by the client-side inspector); the client is refused with it.</summary>
    public PgError? ClientViolation { get; set; }

    /// <summary>disable_pqexec as it was when the client logged in: its Query messages are refused.</summary>
    public bool RefuseSimpleQuery { get; init; }

    /// <summary>
    /// Clean: the server owes nothing and reads normally, the client is idle outside a transaction,
    /// no bytes are in flight or half-sent either way. Judged by the server loop, or once both loops stopped.
    /// </summary>
    public bool IsClean =>
        Tracker.IsSettled && !Writing && !WriteBroken && ToServer.AtFrameBoundary && ToClient.AtFrameBoundary && ServerFatal is null;

    public string DescribeState() => WriteBroken ? "a write to the server was cut short" : Tracker.Describe();

    /// <summary>A message from the client was forwarded (client loop).</summary>
    public void ClientActive() => Interlocked.Exchange(ref _lastClientTick, Environment.TickCount64);

    /// <summary>How long the client has sent nothing while its transaction is open and nothing is owed it; zero otherwise.</summary>
    public TimeSpan IdleInTransaction(long nowTick) =>
        _server is not null && Tracker.Status != TransactionStatus.Idle && Tracker.Awaiting == 0 && !Tracker.InCopy
            ? SinceClientActive(nowTick)
            : TimeSpan.Zero;

    /// <summary>How long the client has sent nothing while idle outside a transaction with nothing owed; zero otherwise.</summary>
    public TimeSpan IdleOutsideTransaction(long nowTick) => OutsideTransaction ? SinceClientActive(nowTick) : TimeSpan.Zero;

    /// <summary>Nothing owed either way and no transaction, COPY or unfinished batch open: the client could be cut here without losing anything.</summary>
    public bool OutsideTransaction =>
        Tracker.Status == TransactionStatus.Idle && Tracker.Awaiting == 0 && !Tracker.InCopy && !Tracker.ExtendedOpen;

    /// <summary>How long the server has owed the client an answer; zero when it owes nothing.</summary>
    public TimeSpan Busy() =>
        Tracker.BusySince is var since and > 0 && Tracker.Awaiting > 0 ? System.Diagnostics.Stopwatch.GetElapsedTime(since) : TimeSpan.Zero;

    /// <summary>How long since the client last sent something (SHOW CLIENTS request_time).</summary>
    public TimeSpan SinceClientActive() => SinceClientActive(Environment.TickCount64);

    private TimeSpan SinceClientActive(long nowTick) => TimeSpan.FromMilliseconds(nowTick - Interlocked.Read(ref _lastClientTick));

    // --- the connection kept between transactions (transaction and statement modes) ---------------

    /// <summary>
    /// Where a kept ("parked") connection stands. Changed under the gate; its server loop waits
    /// on the socket meanwhile without reading it, so that the client can still tell whether the
    /// server spoke before the client's request went out.
    /// </summary>
    private enum ParkState
    {
        None,
        Parked,
        TakenByClient,
        TakenBack,
        Lost,
    }

    /// <summary>A connection is parked and may be taken up.</summary>
    public bool HasParked
    {
        get
        {
            lock (Gate)
            {
                return _park == ParkState.Parked;
            }
        }
    }

    /// <summary>Parks the connection just released (under the gate); returns the token that wakes its server loop.</summary>
    public CancellationToken Park(ServerConnection connection)
    {
        _parked = connection;
        _park = ParkState.Parked;
        if (_parkWake is null || _parkWake.IsCancellationRequested)
        {
            _parkWake?.Dispose();
            _parkWake = new CancellationTokenSource();
        }

        return _parkWake.Token;
    }

    /// <summary>
    /// The client's next request takes the parked connection up, unless the server sent something
    /// or closed while it was parked: then the request must not go to it (the answer would be the
    /// dead server's FATAL), and it is marked lost for its server loop to give back.
    /// </summary>
    public ServerConnection? TryTakeParked()
    {
        lock (Gate)
        {
            if (_park != ParkState.Parked || Stopping)
            {
                return null;
            }

            if (_parked!.Socket.HasInput())
            {
                _park = ParkState.Lost;
                return null;
            }

            _park = ParkState.TakenByClient;
            _server = _parked;
            _parked = null;
            return _server;
        }
    }

    /// <summary>
    /// The parked connection's wait ended, yet nobody took it and the socket has nothing to read
    /// (no data, no close). On Linux a zero-byte receive now and then completes so, mostly right
    /// after an earlier one on the socket was cancelled: the server loop waits again instead of
    /// giving a healthy connection up as lost.
    /// </summary>
    public bool StillParkedAndSilent()
    {
        lock (Gate)
        {
            return _park == ParkState.Parked && !Stopping && !_parked!.Socket.HasInput();
        }
    }

    /// <summary>The pool wants the parked connection back: its server loop ends with Released.</summary>
    public void TakeBackParked()
    {
        lock (Gate)
        {
            if (_park == ParkState.Parked && !Stopping)
            {
                _park = ParkState.TakenBack;
                _parkWake?.Cancel();
            }
        }
    }

    /// <summary>The parked connection's server loop woke up: how its wait ended (see <see cref="ParkOutcome"/>).</summary>
    public ParkOutcome EndParkedWait()
    {
        lock (Gate)
        {
            var state = _park;
            _park = ParkState.None;
            _parked = null;
            return Stopping ? ParkOutcome.Stopped
                : state switch
                {
                    ParkState.TakenByClient => ParkOutcome.TakenByClient,
                    ParkState.TakenBack => ParkOutcome.TakenBack,
                    _ => ParkOutcome.Lost, // it spoke or closed between transactions (or the client saw it do so)
                };
        }
    }

    /// <summary>The session ends (under the gate): no more releases; a parked or pending read is woken.</summary>
    public void Stop()
    {
        lock (Gate)
        {
            if (Stopping)
            {
                return;
            }

            Stopping = true;
            _parkWake?.Cancel();
            if (_park == ParkState.None)
            {
                // The server loop reads the pipe (or will again before it ends). A cancel it never
                // consumes would fail the next reader of a connection that went back to the pool.
                _server?.Socket.Input.CancelPendingRead();
            }
        }
    }
}

/// <summary>How a parked connection's wait ended.</summary>
internal enum ParkOutcome
{
    /// <summary>The client's request went out on it: what arrived is its answer.</summary>
    TakenByClient,

    /// <summary>The pool wanted it back; it goes back clean.</summary>
    TakenBack,

    /// <summary>The server sent something or closed between transactions: nobody may use it again.</summary>
    Lost,

    /// <summary>The session is ending.</summary>
    Stopped,
}
