namespace PgBouncerActors.Actors;

/// <summary>
/// An actor's two queues and its turn on the thread pool. User messages go through a lock-free
/// multi-producer single-consumer linked queue (one node per message, no array per actor, so an
/// idle actor costs a few dozen bytes); system messages through a short locked list, because they
/// are rare and must be refused atomically once the actor is dead. The mailbox schedules itself
/// only when it has work: an idle actor holds no thread and no task.
/// </summary>
internal sealed class Mailbox : IThreadPoolWorkItem
{
    private const int Idle = 0;
    private const int Scheduled = 1;

    private readonly ActorCell _cell;
    private Node _head;
    private Node _tail;
    private SystemMessage? _systemHead;
    private SystemMessage? _systemTail;
    private int _status;
    private volatile bool _closed;

    public Mailbox(ActorCell cell)
    {
        _cell = cell;
        _head = _tail = new Node(null!, null);
    }

    public bool IsClosed => _closed;

    private bool HasSystemMessages => Volatile.Read(ref _systemHead) is not null;

    private bool HasUserMessages => Volatile.Read(ref _head.Next) is not null;

    public void Post(object message, IActorRef? sender)
    {
        if (_closed)
        {
            _cell.System.DeadLettersRef.Publish(message, sender, _cell.Self);
            return;
        }

        var node = new Node(message, sender);
        var previous = Interlocked.Exchange(ref _tail, node);
        Volatile.Write(ref previous.Next, node);
        // A message that slipped in while the mailbox closed is drained to dead letters by Execute.
        Schedule();
    }

    public void PostSystem(SystemMessage message)
    {
        bool refused;
        lock (this)
        {
            refused = _closed;
            if (!refused)
            {
                if (_systemTail is null)
                {
                    _systemHead = _systemTail = message;
                }
                else
                {
                    _systemTail.Next = message;
                    _systemTail = message;
                }
            }
        }

        if (refused)
        {
            _cell.HandleSystemMessageAfterDeath(message);
        }
        else
        {
            Schedule();
        }
    }

    /// <summary>
    /// Called by the cell as it dies, from inside <see cref="Execute"/>. System messages still queued
    /// (a Watch that raced the death) get their after-death answer; user messages go to dead letters.
    /// </summary>
    public void Close()
    {
        SystemMessage? pending;
        lock (this)
        {
            _closed = true;
            pending = _systemHead;
            _systemHead = _systemTail = null;
        }

        for (var message = pending; message is not null; message = message.Next)
        {
            _cell.HandleSystemMessageAfterDeath(message);
        }

        DrainUserMessagesToDeadLetters();
    }

    /// <summary>Asks for a turn on the thread pool unless one is already pending or running.</summary>
    public void Schedule()
    {
        if (Interlocked.CompareExchange(ref _status, Scheduled, Idle) == Idle)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    public void Execute()
    {
        try
        {
            if (_closed)
            {
                DrainUserMessagesToDeadLetters();
                return;
            }

            ProcessSystemMessages();
            var budget = _cell.System.Settings.Throughput;
            while (budget-- > 0 && !_closed && _cell.CanProcessUserMessages && TryDequeue(out var message, out var sender))
            {
                _cell.Invoke(message, sender);
                if (HasSystemMessages)
                {
                    ProcessSystemMessages();
                }
            }
        }
        finally
        {
            // The exchange is a full fence: a producer that saw Scheduled and skipped scheduling
            // enqueued before it, so the checks below see its message.
            Interlocked.Exchange(ref _status, Idle);
            if (HasSystemMessages || (HasUserMessages && (_closed || _cell.CanProcessUserMessages)))
            {
                Schedule();
            }
        }
    }

    private void ProcessSystemMessages()
    {
        while (!_closed)
        {
            SystemMessage? batch;
            lock (this)
            {
                batch = _systemHead;
                _systemHead = _systemTail = null;
            }

            if (batch is null)
            {
                return;
            }

            for (var message = batch; message is not null;)
            {
                var next = message.Next;
                message.Next = null;
                if (_closed)
                {
                    _cell.HandleSystemMessageAfterDeath(message);
                }
                else
                {
                    _cell.SystemInvoke(message);
                }

                message = next;
            }
        }
    }

    private bool TryDequeue(out object message, out IActorRef? sender)
    {
        var next = Volatile.Read(ref _head.Next);
        if (next is null)
        {
            message = null!;
            sender = null;
            return false;
        }

        message = next.Message;
        sender = next.Sender;
        // The dequeued node becomes the new stub; clear it so it does not keep the message alive.
        next.Message = null!;
        next.Sender = null;
        _head = next;
        return true;
    }

    private void DrainUserMessagesToDeadLetters()
    {
        while (TryDequeue(out var message, out var sender))
        {
            _cell.System.DeadLettersRef.Publish(message, sender, _cell.Self);
        }
    }

    private sealed class Node(object message, IActorRef? sender)
    {
        public object Message = message;
        public IActorRef? Sender = sender;
        public Node? Next;
    }
}
