using System.IO.Pipelines;
using PgBouncerActors.Auth;
using PgBouncerActors.Backend;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// A client's link to the server connections it uses: which one it holds and in what state
/// (<see cref="LinkStateMachine"/>), what the server still owes (<see cref="Tracker"/>), where each
/// direction stands in its frames, and whether the connection may go to another client
/// (ARCHITECTURE invariant 3). In every mode the client loop writes requests to the connection the
/// link holds and the connection's own reader forwards the answers here; in transaction and
/// statement modes the link checks out a connection from its pool's desk when a request finds it
/// without one, and the reader gives it back at the clean end of the transaction.
/// </summary>
internal sealed partial class ClientLink : IQueuedRequest
{
    private readonly LinkStateMachine _machine = new();
    private long _lastClientTick = Environment.TickCount64;

    /// <param name="counters">Where the client's answered queries are counted (SHOW STATS); a link of its own when nobody reads them.</param>
    public ClientLink(Stats.TrafficCounters? counters = null)
    {
        Tracker = new ProtocolTracker(counters ?? new Stats.TrafficCounters());
    }

    public ForwardPosition ToServer { get; } = new();

    public ForwardPosition ToClient { get; } = new();

    public ProtocolTracker Tracker { get; }

    public LinkState State => _machine.State;

    /// <summary>The server connection the client holds now; null between transactions.</summary>
    public ServerConnection? Server => _machine.Server;

    /// <summary>A write to the server failed or was cut short: part of a message may be out, so the connection is never reused.</summary>
    public bool WriteBroken { get; set; }

    /// <summary>A FATAL error the server sent and the client already received.</summary>
    public PgError? ServerFatal { get; set; }

    /// <summary>
    /// Transaction and statement modes: a FATAL the server sent after the client's transaction had
    /// ended (nothing owed: pg_terminate_backend, a restart), kept from the client as PgBouncer keeps
    /// it (its connection was as good as back in the pool). The connection is closed, not lent again.
    /// </summary>
    public PgError? FatalAfterTransaction { get; set; }

    /// <summary>The client sent something PostgreSQL would not read (set by the client-side inspector); the client is refused with it.</summary>
    public PgError? ClientViolation { get; set; }

    /// <summary>
    /// Why PostgreSQL would not read a message of the client's (a FATAL for the client, never
    /// forwarded), or null. A Describe or Close over PostgreSQL's length may name one of the client's
    /// statements by a long name, which the server never sees (it gets the pooler's): it is let in,
    /// to be seen whole (see <see cref="ClientToServerInspector"/>).
    /// </summary>
    public string? Refusal(byte code, int length) =>
        Protocol.FrontendMessageRules.Refusal(code, length, RefuseSimpleQuery) is { } refusal &&
        !(Statements is not null && (Protocol.FrontendMessageCode)code is Protocol.FrontendMessageCode.Describe or Protocol.FrontendMessageCode.Close &&
          length <= FrameForwarder.HeadLimit)
            ? refusal
            : null;

    /// <summary>Transaction and statement modes: the client's prepared statements kept across server connections; null when they pass as they are.</summary>
    public Prepared.StatementRewriter? Statements { get; set; }

    /// <summary>disable_pqexec as it was when the client logged in: its Query messages are refused.</summary>
    public bool RefuseSimpleQuery { get; init; }

    /// <summary>Where a cancel for this client goes: the connection it holds, or its wait at the desk.</summary>
    public CancelRoute CancelRoute { get; } = new();

    /// <summary>
    /// Clean: the server owes nothing and reads normally, the client is idle outside a transaction,
    /// no bytes are half-sent either way. Judged by the server's reader, or once both directions stopped.
    /// </summary>
    public bool IsClean =>
        Tracker.IsSettled && !WriteBroken && ToServer.AtFrameBoundary && ToClient.AtFrameBoundary && ServerFatal is null;

    public string DescribeState() => WriteBroken ? "a write to the server was cut short" : Tracker.Describe();

    /// <summary>A message from the client was forwarded (client loop).</summary>
    public void ClientActive() => Interlocked.Exchange(ref _lastClientTick, Environment.TickCount64);

    /// <summary>
    /// How long the client has sent nothing while its transaction is open and nothing is owed it,
    /// counted from its last message or the server's last answer, whichever came later (as
    /// PgBouncer: a long query inside a transaction is not idle time); zero otherwise.
    /// </summary>
    public TimeSpan IdleInTransaction(long nowTick)
    {
        if (Server is null || Tracker.Status == TransactionStatus.Idle || Tracker.Awaiting != 0 || Tracker.InCopy)
        {
            return TimeSpan.Zero;
        }

        var sinceClient = SinceClientActive(nowTick);
        return Tracker.AnsweredAt is var answered and > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(answered) is var sinceAnswer && sinceAnswer < sinceClient
            ? sinceAnswer
            : sinceClient;
    }

    /// <summary>How long the client has sent nothing while idle outside a transaction with nothing owed; zero otherwise.</summary>
    public TimeSpan IdleOutsideTransaction(long nowTick) => OutsideTransaction ? SinceClientActive(nowTick) : TimeSpan.Zero;

    /// <summary>Nothing owed either way and no transaction, COPY or unfinished batch open: the client could be cut here without losing anything.</summary>
    public bool OutsideTransaction =>
        Tracker.Status == TransactionStatus.Idle && Tracker.Awaiting == 0 && !Tracker.InCopy && !Tracker.ExtendedOpen;

    /// <summary>How long the client's transaction (or statement outside one) has run; zero when none runs.</summary>
    public TimeSpan InTransaction() =>
        Tracker.TransactionSince is var since and > 0 ? System.Diagnostics.Stopwatch.GetElapsedTime(since) : TimeSpan.Zero;

    /// <summary>How long the server has owed the client an answer; zero when it owes nothing.</summary>
    public TimeSpan Busy() =>
        Tracker.BusySince is var since and > 0 && Tracker.Awaiting > 0 ? System.Diagnostics.Stopwatch.GetElapsedTime(since) : TimeSpan.Zero;

    /// <summary>How long since the client last sent something (SHOW CLIENTS request_time).</summary>
    public TimeSpan SinceClientActive() => SinceClientActive(Environment.TickCount64);

    private TimeSpan SinceClientActive(long nowTick) => TimeSpan.FromMilliseconds(nowTick - Interlocked.Read(ref _lastClientTick));

    /// <summary>
    /// A link made outside any pool, holding <paramref name="server"/> from the start (specs and
    /// benchmarks of the inspectors, which need a connection to rename statements on).
    /// </summary>
    public void HoldFromTheStart(ServerConnection server)
    {
        _machine.TryBeginWaiting();
        _machine.TryAttach(server);
        _machine.TryLink(server);
    }

    // --- the client loop's side ------------------------------------------------------------------------

    /// <summary>The client loop may write one read's bytes to the connection returned; null when the link holds none or is stopped.</summary>
    public ServerConnection? BeginWrite() => _machine.TryBeginWrite();

    /// <summary>The client loop's bytes are out (or the write failed): the server's reader judges the connection again if it wanted to give it back meanwhile.</summary>
    public void EndWrite(ServerConnection server)
    {
        if (!_machine.EndWrite())
        {
            return;
        }

        if (server.ReaderEnded is { } why)
        {
            ServerLost(server, why, failure: null); // the reader ended while this write went on, and left the judgement to it
        }
        else
        {
            server.Socket.Input.CancelPendingRead();
        }
    }
}
