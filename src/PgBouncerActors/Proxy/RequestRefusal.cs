using System.IO.Pipelines;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Answers a request that never reached a server (its client cancelled it while it waited for a
/// connection) as PostgreSQL answers a request that fails before it runs: a simple Query or a
/// FunctionCall gets the error and ReadyForQuery; an extended-protocol batch gets the error at
/// once (a client may be waiting for it after a Flush), then everything up to its Sync is
/// skipped and the Sync answered with ReadyForQuery. Outside a transaction, as a waiting client is.
/// </summary>
internal static class RequestRefusal
{
    public static async Task AnswerAsync(PipeReader source, PipeWriter client, PgError error, long maxFrameLength, CancellationToken cancellationToken)
    {
        PgError? unsaid = error;
        var first = true;
        var ending = false; // the message that ends the request has been seen (perhaps not all of it yet)
        var skipped = 0L; // bytes still to skip of a frame larger than what was read
        while (true)
        {
            var result = await source.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var take = Math.Min(skipped, buffer.Length);
            skipped -= take;
            buffer = buffer.Slice(take);
            while (skipped == 0 && !ending && FrameReader.TryReadHeader(buffer, maxFrameLength, out var code, out var length))
            {
                if (code == (byte)FrontendMessageCode.Terminate)
                {
                    source.AdvanceTo(buffer.Start); // left for the client loop: the goodbye
                    return;
                }

                var whole = 1 + (long)length;
                take = Math.Min(whole, buffer.Length);
                skipped = whole - take;
                buffer = buffer.Slice(take);
                ending = code is (byte)FrontendMessageCode.Query or (byte)FrontendMessageCode.FunctionCall or (byte)FrontendMessageCode.Sync;
                if (first && !ending)
                {
                    await SendAsync(client, new MessageBuilder().Error(error), cancellationToken).ConfigureAwait(false);
                    unsaid = null; // said at once; the Sync only ends the batch
                }

                first = false;
            }

            if (ending && skipped == 0)
            {
                source.AdvanceTo(buffer.Start);
                var answer = new MessageBuilder();
                if (unsaid is not null)
                {
                    answer.Error(unsaid);
                }

                await SendAsync(client, answer.ReadyForQuery(), cancellationToken).ConfigureAwait(false);
                return;
            }

            source.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return; // the client left: the loop sees it next
            }
        }
    }

    private static async ValueTask SendAsync(PipeWriter client, MessageBuilder messages, CancellationToken cancellationToken)
    {
        await client.WriteAsync(messages.WrittenMemory, cancellationToken).ConfigureAwait(false);
    }
}
