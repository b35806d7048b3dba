using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace PgBouncerActors.Session;

/// <summary>
/// The mailbox of a client session: unbounded like Akka's default, but a linked list of one node
/// per message waiting instead of a ConcurrentQueue, whose first segment (32 slots, about 1 KB)
/// every one of ten thousand idle clients would hold for nothing. A session's mailbox is empty
/// almost always; measured with dotnet-gcdump of 10,000 idle clients, it was the largest single
/// cost per client. Chosen in the session's Props (<see cref="ConfigPath"/>).
/// </summary>
internal sealed class SessionMailbox(Settings settings, Config config) : MailboxType(settings, config), IProducesMessageQueue<NodeMessageQueue>
{
    /// <summary>Where the actor system's configuration names this mailbox type.</summary>
    public const string ConfigPath = "pgbouncer-actors-session-mailbox";

    /// <summary>The configuration the actor system needs for <see cref="ConfigPath"/>.</summary>
    public static string Hocon => $"{ConfigPath} {{ mailbox-type = \"{typeof(SessionMailbox).AssemblyQualifiedName}\" }}";

    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new NodeMessageQueue();
}

/// <summary>
/// A multi-producer, single-consumer queue of linked nodes (Vyukov's): producers swap the tail
/// with one atomic exchange and then link the old tail to their node; the one consumer (the
/// mailbox's run) follows the links from a stub head. Empty, it is the stub node alone. A message
/// whose producer has swapped the tail but not linked it yet is not seen until it links, which
/// happens before that producer schedules the mailbox, so no message waits for a later one.
/// </summary>
internal sealed class NodeMessageQueue : IMessageQueue, IUnboundedMessageQueueSemantics
{
    private Node _head; // the consumer's: the last node taken (its Value is spent)
    private Node _tail; // the producers': the last node added
    private int _count;

    public NodeMessageQueue()
    {
        _head = _tail = new Node(default);
    }

    public bool HasMessages => Volatile.Read(ref _head.Next) is not null;

    public int Count => Volatile.Read(ref _count);

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        var node = new Node(envelope);
        Interlocked.Increment(ref _count);
        var previous = Interlocked.Exchange(ref _tail, node);
        Volatile.Write(ref previous.Next, node);
    }

    public bool TryDequeue(out Envelope envelope)
    {
        var next = Volatile.Read(ref _head.Next);
        if (next is null)
        {
            envelope = default;
            return false;
        }

        envelope = next.Value;
        next.Value = default; // the node becomes the stub: it must not keep the message alive
        _head = next;
        Interlocked.Decrement(ref _count);
        return true;
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeue(out var envelope))
        {
            deadletters.Enqueue(owner, envelope);
        }
    }

    private sealed class Node(Envelope value)
    {
        public Envelope Value = value;
        public Node? Next;
    }
}
