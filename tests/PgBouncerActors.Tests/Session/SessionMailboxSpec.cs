using Akka.Actor;
using Akka.Dispatch.MessageQueues;
using PgBouncerActors.Session;
using Xunit;

namespace PgBouncerActors.Tests.Session;

/// <summary>The sessions' linked-node mailbox queue: nothing lost, each sender's messages in order, under concurrent senders.</summary>
public sealed class SessionMailboxSpec
{
    [Fact]
    public async Task Concurrent_senders_lose_nothing_and_each_senders_messages_come_out_in_order()
    {
        var queue = new NodeMessageQueue();
        const int senders = 4, each = 50_000;
        var consumed = new List<(int Sender, int Sequence)>(senders * each);
        var producing = Enumerable.Range(0, senders).Select(sender => Task.Run(() =>
        {
            for (var sequence = 0; sequence < each; sequence++)
            {
                queue.Enqueue(ActorRefs.Nobody, new Envelope((sender, sequence), ActorRefs.NoSender));
            }
        })).ToArray();

        var done = Task.WhenAll(producing);
        while (!done.IsCompleted || queue.HasMessages)
        {
            while (queue.TryDequeue(out var envelope))
            {
                consumed.Add(((int, int))envelope.Message);
            }
        }

        await done;
        Assert.Equal(senders * each, consumed.Count);
        Assert.Equal(0, queue.Count);
        Assert.False(queue.HasMessages);
        foreach (var group in consumed.GroupBy(item => item.Sender))
        {
            Assert.Equal(Enumerable.Range(0, each), group.Select(item => item.Sequence));
        }
    }

    [Fact]
    public void Clean_up_hands_what_is_left_to_the_dead_letters_queue_in_order()
    {
        var queue = new NodeMessageQueue();
        var deadLetters = new UnboundedMessageQueue();
        foreach (var message in new[] { "a", "b", "c" })
        {
            queue.Enqueue(ActorRefs.Nobody, new Envelope(message, ActorRefs.NoSender));
        }

        Assert.Equal(3, queue.Count);
        queue.CleanUp(ActorRefs.Nobody, deadLetters);
        Assert.False(queue.HasMessages);
        var drained = new List<object>();
        while (deadLetters.TryDequeue(out var envelope))
        {
            drained.Add(envelope.Message);
        }

        Assert.Equal(["a", "b", "c"], drained);
    }
}
