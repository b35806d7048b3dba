using System.Diagnostics;
using PgBouncerActors.Prepared;
using PgBouncerActors.Stats;
using PgBouncerActors.Protocol;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Follows PostgreSQL's reading of one server connection's input, so the pooler knows exactly
/// what the server still owes: the client messages (and the pooler's own) the server has not
/// answered yet, in order, and the state the server reads them in. Counting message types is not
/// enough: the server ignores Sync and Flush during COPY IN, swallows the message that ends a COPY,
/// and after an error in an extended-protocol message skips everything, Query included, up to the
/// next Sync. What each message turns out to mean is learned from the server's answers, which
/// come in the order the messages were read; so the client side only appends to a queue, and the
/// server side consumes it as answers arrive (and consumes lazily the messages that get no answer).
/// <para>
/// One writer per side: <see cref="ClientSent"/>/<see cref="PoolerSent"/> from whoever writes to
/// the server, everything else from whoever reads it. The queue between them is locked; the
/// reader's state is its own.
/// </para>
/// </summary>
internal sealed class ProtocolTracker(TrafficCounters counters)
{
    /// <summary>The monitor of this object, which no other code locks: a Lock of its own would cost every client 40 bytes.</summary>
    private object Gate => this;

    /// <summary>A tracker whose counts nobody reads (specs, benchmarks).</summary>
    public ProtocolTracker()
        : this(new TrafficCounters())
    {
    }

    private Entry[] _queue = new Entry[8]; // grows when a client pipelines more; every session has one
    private int _head;
    private int _count;
    private int _awaiting; // queued or current messages that PostgreSQL answers (all but Flush and COPY messages)
    private long _busySince; // Stopwatch timestamp; 0: nothing owed
    private long _transactionSince; // Stopwatch timestamp of the client's first request since it was last idle; 0: none
    private long _answeredAt; // Stopwatch timestamp of the last ReadyForQuery; 0: none yet

    /// <summary>When the client's transaction (or statement outside one) began (Stopwatch timestamp); 0: none runs.</summary>
    public long TransactionSince => Volatile.Read(ref _transactionSince);

    // The reader's view: the message the server is working on and how it reads what follows.
    private Entry _current;
    private Entry _answered; // the message the last answer read was for (it may be complete now)
    private byte[]? _replacement;
    private ServerStatement? _erroredStatement;
    private volatile ReadMode _mode;
    private volatile bool _extendedOpen;
    private volatile byte _status = TransactionStatus.Idle;
    private volatile bool _lostTrack;

    private enum ReadMode : byte
    {
        /// <summary>One message at a time, each answered (or not) as the protocol says.</summary>
        Normal,

        /// <summary>After an error in Parse/Bind/Describe/Execute/Close: everything up to the next Sync is discarded.</summary>
        SkipToSync,

        /// <summary>COPY FROM STDIN: CopyData, Flush and Sync are consumed; CopyDone, CopyFail or anything else ends it.</summary>
        CopyIn,

        /// <summary>The message that ended the COPY was read; the command's CommandComplete or ErrorResponse follows.</summary>
        CopyInEnded,

        /// <summary>COPY TO STDOUT: the server streams and reads nothing until it is done.</summary>
        CopyOut,
    }

    /// <summary>The transaction status of the last ReadyForQuery.</summary>
    public byte Status => _status;

    /// <summary>Messages the server will answer that it has not finished answering.</summary>
    public int Awaiting => Volatile.Read(ref _awaiting);

    /// <summary>When <see cref="Awaiting"/> last went from 0 to 1, or the last query answered while more were owed (a Stopwatch timestamp; 0: nothing owed), for query_timeout.</summary>
    public long BusySince => Interlocked.Read(ref _busySince);

    /// <summary>When the server last finished answering (its ReadyForQuery, a Stopwatch timestamp; 0: not yet): idle_transaction_timeout counts from there.</summary>
    public long AnsweredAt => Volatile.Read(ref _answeredAt);

    /// <summary>What SHOW STATS counts of this client: each answered query, and the transactions they end.</summary>
    public TrafficCounters Counters => counters;

    /// <summary>The client began an extended-protocol batch and has not sent its Sync: the server holds an implicit transaction.</summary>
    public bool ExtendedOpen => _extendedOpen;

    public bool InCopy => _mode is ReadMode.CopyIn or ReadMode.CopyInEnded or ReadMode.CopyOut;

    /// <summary>
    /// The server will go on sending without more from the client: it works on a message, or has
    /// one queued that it answers. Not while it waits for COPY data, or skips to a Sync not yet sent.
    /// </summary>
    public bool AnswerComing
    {
        get
        {
            if (_lostTrack || Awaiting == 0)
            {
                return false;
            }

            lock (Gate)
            {
                return _mode switch
                {
                    ReadMode.CopyIn => false,
                    ReadMode.SkipToSync => QueuedSync(),
                    _ => true,
                };
            }
        }
    }

    /// <summary>The server answered something the protocol does not allow here: nothing about this connection can be trusted any more.</summary>
    public bool LostTrack => _lostTrack;

    /// <summary>Why track was lost, for the log.</summary>
    public string? LostTrackReason { get; private set; }

    /// <summary>The client side: a message was forwarded to the server.</summary>
    public void ClientSent(byte code) => ClientSent(code, null);

    /// <summary>The client side: a message went to the server for the client; <paramref name="outcome"/> hears if it is a Parse the server refuses or skips.</summary>
    public void ClientSent(byte code, IPrepareOutcome? outcome) => ClientSent(code, AnswerOwner.Client, outcome);

    /// <summary>
    /// The client side: the client's Bind or Describe went out naming a statement of the pooler's;
    /// an error in answer to it is told with <see cref="TakeErroredStatement"/> (the server may no
    /// longer run that statement as prepared).
    /// </summary>
    public void ClientSentUsing(byte code, ServerStatement statement) => ClientSent(code, AnswerOwner.ClientUsingStatement, statement);

    /// <summary>The pooler statement named by the message the last ErrorResponse answered, once; null when it named none.</summary>
    public ServerStatement? TakeErroredStatement()
    {
        var statement = _erroredStatement;
        _erroredStatement = null;
        return statement;
    }

    private void ClientSent(byte code, AnswerOwner owner, object? tag)
    {
        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Parse or FrontendMessageCode.Bind or FrontendMessageCode.Describe or FrontendMessageCode.Execute
                or FrontendMessageCode.Close:
                _extendedOpen = true;
                break;
            case FrontendMessageCode.Sync:
                _extendedOpen = false;
                break;
        }

        Enqueue(new Entry(code, owner, tag));
    }

    /// <summary>The pooler wrote a message of its own into the client's stream; its answers are swallowed.</summary>
    public void PoolerSent(byte code) => Enqueue(new Entry(code, AnswerOwner.Pooler, null));

    /// <summary>
    /// The pooler sent a Parse in the client's stead (the client's statement, missing on this
    /// connection): the client does not see its ParseComplete, but does see its error, which
    /// stands for the client's own next message (the server skips that one).
    /// </summary>
    public void PoolerSentParse(ServerStatement statement) =>
        Enqueue(new Entry((byte)FrontendMessageCode.Parse, AnswerOwner.PoolerShowingErrors, statement));

    /// <summary>The pooler sent a message of its own in the client's stream whose success the client does not see, but whose error stands for its own next message's.</summary>
    public void PoolerSentShowingErrors(byte code) => Enqueue(new Entry(code, AnswerOwner.PoolerShowingErrors, null));

    /// <summary>The client's message went out as it is, and <paramref name="effects"/> say what it does to its statements made with SQL, should it run.</summary>
    public void ClientSentChangingStatements(byte code, SqlEffects effects) => ClientSent(code, AnswerOwner.Client, effects);

    /// <summary>Reader side: the type of the message the last answer was for (a Query, an Execute...).</summary>
    public byte AnsweredCode => _answered.Code;

    /// <summary>Reader side: what was told with the message the last answer was for (<see cref="SqlEffects"/>, a statement...).</summary>
    public object? AnsweredTag => _answered.Tag;

    /// <summary>The client's simple query went out rewritten (<see cref="QueryRewrite"/>): some of its answers are the pooler's.</summary>
    public void ClientSentRewritten(QueryRewrite rewrite) =>
        Enqueue(new Entry((byte)FrontendMessageCode.Query, AnswerOwner.ClientHidingCompletions, rewrite));

    /// <summary>
    /// The pooler sent a message whose single answer the client sees as <paramref name="answer"/>
    /// instead (a message of the protocol, whole); <paramref name="outcome"/> hears if the server skips it.
    /// </summary>
    public void PoolerSentForAnswer(byte code, byte[] answer, IPrepareOutcome? outcome = null) =>
        Enqueue(new Entry(code, AnswerOwner.Replaced, new ReplacedAnswer(answer, outcome)));

    /// <summary>What the server loop writes to the client instead of the answer <see cref="OnServerMessage"/> called Replace.</summary>
    public byte[] TakeReplacement()
    {
        var replacement = _replacement ?? [];
        _replacement = null;
        return replacement;
    }

    private void Enqueue(Entry entry)
    {
        lock (Gate)
        {
            if (IsRepeatable(entry) && (_count == 0 ? _current.IsNone && _mode == ReadMode.Normal : IsRepeatable(_queue[(_head + _count - 1) % _queue.Length])))
            {
                // Read at once with nothing before it, or right after another one: it changes nothing the
                // queue must remember, and a client streaming COPY data or Flushes does not grow it.
                return;
            }

            if (_count == _queue.Length)
            {
                var larger = new Entry[_queue.Length * 2];
                for (var i = 0; i < _count; i++)
                {
                    larger[i] = _queue[(_head + i) % _queue.Length];
                }

                _queue = larger;
                _head = 0;
            }

            _queue[(_head + _count) % _queue.Length] = entry;
            _count++;
            if (IsAnswered(entry) && _awaiting++ == 0)
            {
                Interlocked.Exchange(ref _busySince, Stopwatch.GetTimestamp());
            }

            if (entry.Owner != AnswerOwner.Pooler && _transactionSince == 0 && _status == TransactionStatus.Idle)
            {
                Volatile.Write(ref _transactionSince, _busySince); // a transaction of the client's begins (it is idle, or in one from now on)
            }
        }
    }

    /// <summary>
    /// The server side: a message arrived from the server (ReadyForQuery goes to <see cref="OnReadyForQuery"/>).
    /// </summary>
    /// <returns>Whether the client sees it, does not (it answers the pooler's own request), or sees <see cref="TakeReplacement"/> instead.</returns>
    public AnswerFate OnServerMessage(byte code)
    {
        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ParameterStatus or BackendMessageCode.NotificationResponse:
                return AnswerFate.Pass; // asynchronous, and the client's to know even during the pooler's own requests
            case BackendMessageCode.NoticeResponse:
                Drain();
                if (_current.IsNone)
                {
                    TakeNext(); // a notice is said while working on a message: that one, if any is queued
                }

                return _current.Owner == AnswerOwner.Pooler ? AnswerFate.Drop : AnswerFate.Pass;
        }

        Drain();
        if (_current.IsNone && !TakeNext())
        {
            LoseTrack($"the server sent '{(char)code}' with nothing outstanding");
            return AnswerFate.Pass;
        }

        _answered = _current;
        if (code == (byte)BackendMessageCode.ErrorResponse && _current.Owner == AnswerOwner.ClientUsingStatement)
        {
            _erroredStatement = (ServerStatement)_current.Tag!;
        }

        var fate = FateOf(code);
        switch ((FrontendMessageCode)_current.Code)
        {
            case FrontendMessageCode.Query:
                OnQueryAnswer(code);
                break;
            case FrontendMessageCode.Execute:
                OnExecuteAnswer(code);
                break;
            case FrontendMessageCode.FunctionCall:
                Expect(code, BackendMessageCode.FunctionCallResponse);
                break;
            case FrontendMessageCode.Sync:
                Expect(code, BackendMessageCode.ErrorResponse);
                break;
            case FrontendMessageCode.Parse:
                CompleteExtended(code, BackendMessageCode.ParseComplete);
                break;
            case FrontendMessageCode.Bind:
                CompleteExtended(code, BackendMessageCode.BindComplete);
                break;
            case FrontendMessageCode.Close:
                CompleteExtended(code, BackendMessageCode.CloseComplete);
                break;
            case FrontendMessageCode.Describe:
                if (code != (byte)BackendMessageCode.ParameterDescription)
                {
                    CompleteExtended(code, code == (byte)BackendMessageCode.NoData ? BackendMessageCode.NoData : BackendMessageCode.RowDescription);
                }

                break;
            default:
                LoseTrack($"the server sent '{(char)code}' while reading a message that gets no answer");
                break;
        }

        return fate;
    }

    /// <summary>What becomes of an answer to the current message, by who sent that message.</summary>
    private AnswerFate FateOf(byte code)
    {
        switch (_current.Owner)
        {
            case AnswerOwner.Pooler:
                return AnswerFate.Drop;
            case AnswerOwner.PoolerShowingErrors:
                return code == (byte)BackendMessageCode.ErrorResponse ? AnswerFate.Pass : AnswerFate.Drop;
            case AnswerOwner.Replaced:
                _replacement = ((ReplacedAnswer)_current.Tag!).Answer;
                return AnswerFate.Replace;
            case AnswerOwner.ClientHidingCompletions:
                var rewrite = (QueryRewrite)_current.Tag!;
                return code == (byte)BackendMessageCode.CommandComplete && rewrite.HidesCompletion() ? AnswerFate.Drop : AnswerFate.Pass;
            default:
                return AnswerFate.Pass;
        }
    }

    /// <summary>The server side: a ReadyForQuery with its transaction status.</summary>
    /// <returns>True when it ends the pooler's own request and the client must not see it.</returns>
    public bool OnReadyForQuery(byte status)
    {
        _status = status;
        Drain();
        if (_current.IsNone && !TakeNext())
        {
            LoseTrack("the server sent ReadyForQuery with nothing outstanding");
            return false;
        }

        var owned = _current.Owner == AnswerOwner.Pooler;
        var now = owned ? 0 : CountAnswered(status);
        switch ((FrontendMessageCode)_current.Code)
        {
            case FrontendMessageCode.Query or FrontendMessageCode.FunctionCall or FrontendMessageCode.Sync:
                _mode = ReadMode.Normal;
                Complete();
                break;
            default:
                LoseTrack($"the server sent ReadyForQuery while answering '{(char)_current.Code}'");
                break;
        }

        if (!owned && Awaiting > 0)
        {
            Interlocked.Exchange(ref _busySince, now); // a pipelined query: its time counts from the end of the one before
        }

        return owned;
    }

    /// <summary>One of the client's queries was answered: counted, with the transaction it ends when the server is idle again.</summary>
    /// <returns>The time of the answer (a Stopwatch timestamp).</returns>
    private long CountAnswered(byte status)
    {
        var now = Stopwatch.GetTimestamp();
        var since = Interlocked.Read(ref _busySince);
        long? transaction = null;
        if (status == TransactionStatus.Idle)
        {
            var began = Volatile.Read(ref _transactionSince);
            Volatile.Write(ref _transactionSince, 0);
            transaction = began == 0 ? 0 : now - began;
        }

        counters.Answered(since == 0 ? 0 : now - since, transaction);
        Volatile.Write(ref _answeredAt, now);
        return now;
    }

    /// <summary>
    /// Everything sent has been answered, the server reads normally and is idle outside a
    /// transaction: another client may have the connection. Reader side (or with both sides stopped).
    /// </summary>
    public bool IsSettled
    {
        get
        {
            Drain();
            return _current.IsNone && Volatile.Read(ref _count) == 0 && _mode == ReadMode.Normal && !_extendedOpen &&
                   _status == TransactionStatus.Idle && !_lostTrack;
        }
    }

    public string Describe() =>
        _lostTrack ? $"lost track of the protocol ({LostTrackReason})" :
        InCopy ? "in COPY" :
        _mode == ReadMode.SkipToSync ? "skipping to Sync after an error" :
        Awaiting > 0 ? $"{Awaiting} message(s) awaiting results" :
        _status != TransactionStatus.Idle ? "inside a transaction" :
        _extendedOpen ? "extended-protocol batch without Sync" : "idle";

    private void OnQueryAnswer(byte code)
    {
        switch ((BackendMessageCode)code)
        {
            case var _ when IsCopyAnswer(code):
                break;
            case BackendMessageCode.CommandComplete or BackendMessageCode.ErrorResponse:
                EndCopyIfAny(code);
                break;
            case BackendMessageCode.RowDescription or BackendMessageCode.DataRow or BackendMessageCode.EmptyQueryResponse
                when _mode == ReadMode.Normal:
                break;
            default:
                LoseTrack($"the server sent '{(char)code}' while answering a Query");
                break;
        }
    }

    private void OnExecuteAnswer(byte code)
    {
        switch ((BackendMessageCode)code)
        {
            case var _ when IsCopyAnswer(code):
                break;
            case BackendMessageCode.DataRow when _mode == ReadMode.Normal:
                break;
            case BackendMessageCode.CommandComplete or BackendMessageCode.EmptyQueryResponse or BackendMessageCode.PortalSuspended:
                if (EndCopyIfAny(code))
                {
                    Complete();
                }

                break;
            case BackendMessageCode.ErrorResponse:
                EndCopyIfAny(code);
                _mode = ReadMode.SkipToSync;
                Complete();
                break;
            default:
                LoseTrack($"the server sent '{(char)code}' while answering an Execute");
                break;
        }
    }

    /// <summary>The start of a COPY, or its data and end coming out: the same inside a Query and an Execute.</summary>
    private bool IsCopyAnswer(byte code)
    {
        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.CopyInResponse when _mode == ReadMode.Normal:
                _mode = ReadMode.CopyIn;
                return true;
            case BackendMessageCode.CopyOutResponse when _mode == ReadMode.Normal:
                _mode = ReadMode.CopyOut;
                return true;
            case BackendMessageCode.CopyData or BackendMessageCode.CopyDone:
                return _mode == ReadMode.CopyOut;
            default:
                return false;
        }
    }

    /// <summary>A CommandComplete or ErrorResponse inside a Query or Execute; ends a COPY in progress.</summary>
    /// <returns>False when it contradicts what the server was doing.</returns>
    private bool EndCopyIfAny(byte code)
    {
        switch (_mode)
        {
            case ReadMode.CopyIn when code == (byte)BackendMessageCode.CommandComplete:
                // A successful COPY FROM has read its CopyDone; not having seen one means the queue is off.
                LoseTrack("the server completed a COPY FROM STDIN that was never ended");
                return false;
            case ReadMode.CopyIn or ReadMode.CopyInEnded or ReadMode.CopyOut:
                _mode = ReadMode.Normal;
                return true;
            default:
                return true;
        }
    }

    /// <summary>Before its ReadyForQuery, a FunctionCall or Sync is answered by <paramref name="allowed"/> or an ErrorResponse only.</summary>
    private void Expect(byte code, BackendMessageCode allowed)
    {
        if (code != (byte)allowed && code != (byte)BackendMessageCode.ErrorResponse)
        {
            LoseTrack($"the server sent '{(char)code}' while answering '{(char)_current.Code}'");
        }
    }

    /// <summary>Parse, Bind, Close, Describe: done on their own answer; an error makes the server skip to the next Sync.</summary>
    private void CompleteExtended(byte code, BackendMessageCode success)
    {
        if (code == (byte)BackendMessageCode.ErrorResponse)
        {
            _mode = ReadMode.SkipToSync;
            OutcomeOf(_current)?.NotPrepared();
        }
        else if (code != (byte)success)
        {
            LoseTrack($"the server sent '{(char)code}' while answering '{(char)_current.Code}'");
            return;
        }

        Complete();
    }

    private void Complete()
    {
        lock (Gate)
        {
            if (IsAnswered(_current))
            {
                Resolved();
            }

            _current = default;
        }
    }

    /// <summary>The next queued message becomes the one the server works on.</summary>
    private bool TakeNext()
    {
        lock (Gate)
        {
            if (_count == 0)
            {
                return false;
            }

            _current = Dequeue();
            return true;
        }
    }

    /// <summary>
    /// Consumes the queued messages the server reads without answering, given how it reads now:
    /// Flush and COPY messages in normal reading, everything up to Sync while skipping, the data of
    /// a COPY FROM and the message that ends it.
    /// </summary>
    private void Drain()
    {
        if (Volatile.Read(ref _count) == 0 || (_mode == ReadMode.Normal && !_current.IsNone))
        {
            return; // nothing queued, or the server is still on a message and reads nothing yet
        }

        lock (Gate)
        {
            while (_count > 0)
            {
                var head = (FrontendMessageCode)_queue[_head].Code;
                switch (_mode)
                {
                    case ReadMode.SkipToSync when head != FrontendMessageCode.Sync:
                        OutcomeOf(_queue[_head])?.NotPrepared(); // skipped: a Parse among them prepared nothing
                        DequeueResolved();
                        continue;
                    case ReadMode.Normal when _current.IsNone && IsUnanswered(head):
                    case ReadMode.CopyIn when head is FrontendMessageCode.CopyData or FrontendMessageCode.Flush or FrontendMessageCode.Sync:
                        DequeueResolved();
                        continue;
                    case ReadMode.CopyIn:
                        // CopyDone or CopyFail; anything else the server refuses, and then gives the connection up with a FATAL.
                        DequeueResolved();
                        _mode = ReadMode.CopyInEnded;
                        return;
                    default:
                        return;
                }
            }
        }
    }

    private bool QueuedSync()
    {
        for (var i = 0; i < _count; i++)
        {
            if (_queue[(_head + i) % _queue.Length].Code == (byte)FrontendMessageCode.Sync)
            {
                return true;
            }
        }

        return false;
    }

    private void DequeueResolved()
    {
        if (IsAnswered(Dequeue()))
        {
            Resolved();
        }
    }

    private Entry Dequeue()
    {
        var entry = _queue[_head];
        _queue[_head] = default; // let go of its tag
        _head = (_head + 1) % _queue.Length;
        _count--;
        return entry;
    }

    private void Resolved()
    {
        if (--_awaiting == 0)
        {
            Interlocked.Exchange(ref _busySince, 0);
        }
    }

    private void LoseTrack(string reason)
    {
        if (!_lostTrack)
        {
            LostTrackReason = reason;
            _lostTrack = true;
        }
    }

    /// <summary>Flush and the COPY messages: PostgreSQL never answers them (outside COPY it ignores CopyData, CopyDone and CopyFail).</summary>
    private static bool IsUnanswered(FrontendMessageCode code) =>
        code is FrontendMessageCode.Flush or FrontendMessageCode.CopyData or FrontendMessageCode.CopyDone or FrontendMessageCode.CopyFail;

    /// <summary>
    /// CopyData and Flush: in every way the server reads (normally, skipping, inside COPY) they
    /// are read without an answer and change nothing, so one in the queue stands for many.
    /// </summary>
    private static bool IsRepeatable(Entry entry) =>
        entry.Owner == AnswerOwner.Client && (FrontendMessageCode)entry.Code is FrontendMessageCode.CopyData or FrontendMessageCode.Flush;

    private static bool IsAnswered(Entry entry) => !entry.IsNone && !IsUnanswered((FrontendMessageCode)entry.Code);

    /// <summary>Who hears that the server refused or skipped a message: a Parse's, never a statement a Bind merely names.</summary>
    private static IPrepareOutcome? OutcomeOf(Entry entry) => entry.Owner == AnswerOwner.ClientUsingStatement ? null : entry.Tag as IPrepareOutcome;

    /// <summary>A message sent to the server: its type, whose its answers are, and what to tell about it (a Parse's outcome, or the answer the client sees instead).</summary>
    private readonly record struct Entry(byte Code, AnswerOwner Owner, object? Tag)
    {
        public bool IsNone => Code == 0;
    }

    /// <summary>Who sees the answers to a message sent to the server.</summary>
    private enum AnswerOwner : byte
    {
        /// <summary>The client's own message: the client sees every answer.</summary>
        Client,

        /// <summary>The pooler's own: the client sees none.</summary>
        Pooler,

        /// <summary>The pooler's, standing in for the client: the client sees its error, not its success.</summary>
        PoolerShowingErrors,

        /// <summary>Sent for its answer only: the client sees the pooler's bytes instead of it.</summary>
        Replaced,

        /// <summary>The client's query, rewritten: the pooler's statements in it answer first, unseen (<see cref="QueryRewrite"/>).</summary>
        ClientHidingCompletions,

        /// <summary>The client's Bind or Describe, naming a statement of the pooler's (the tag): the client sees every answer.</summary>
        ClientUsingStatement,
    }
}

/// <summary>What the client sees instead of the answer to a message the pooler sent in its stead; if the server skips that message, so would it have the client's.</summary>
internal sealed class ReplacedAnswer(byte[] answer, IPrepareOutcome? outcome) : IPrepareOutcome
{
    public byte[] Answer { get; } = answer;

    public void NotPrepared() => outcome?.NotPrepared();
}

/// <summary>What the client sees of a message from the server.</summary>
internal enum AnswerFate
{
    Pass,
    Drop,

    /// <summary>Not this message, but <see cref="ProtocolTracker.TakeReplacement"/> in its place.</summary>
    Replace,
}
