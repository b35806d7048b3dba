using System.IO.Pipelines;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Backend;

/// <summary>What the reader does after handing a read to the link it serves.</summary>
internal enum ReaderStep : byte
{
    /// <summary>Read on.</summary>
    Continue,

    /// <summary>The link stopped (or can take no more): wait for the connection's next owner before reading on.</summary>
    Hold,

    /// <summary>The connection is gone (the server closed it or broke the protocol): the reader ends.</summary>
    End,
}

/// <summary>
/// The one reader of a server connection's socket, from the end of its login to its close. The
/// socket never changes readers, so nothing has to be handed over between transactions; what a
/// read means depends on who owns the connection at that moment:
/// <list type="bullet">
/// <item>a request of the pooler's own is out: its answers go to <see cref="PoolerQuery"/>;</item>
/// <item>lent to a client whose request went out: the link forwards the answers to its client and
/// gives the connection back at the end of the transaction (<see cref="Proxy.ClientLink"/>);</item>
/// <item>otherwise nobody asked the server anything: a notice or a parameter change is kept, anything
/// else (a FATAL from pg_terminate_backend, a restart, a close) means the connection is lost, and its
/// pool hears of it at once and replaces it.</item>
/// </list>
/// </summary>
internal static class ServerReader
{
    /// <param name="lost">Told when the reader ends: the connection is dead (a link that holds it hears it through <see cref="ServerConnection.ReaderStopped"/>).</param>
    public static async Task RunAsync(ServerConnection server, Action<string> lost)
    {
        var input = server.Socket.Input;
        var ended = "the server closed the connection";
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (server.Query.Active)
                {
                    var end = server.Query.Consume(result.Buffer, result.IsCompleted, server.MaxFrameLength, server.Parameters);
                    input.AdvanceTo(end, server.Query.Active ? result.Buffer.End : end);
                    server.Query.DeliverAnswer();
                    continue; // a failed request leaves the rest (a close, mostly) to the next read
                }

                if (server.Lessee is { } link && link.Forwarding(server))
                {
                    switch (await link.ForwardFromServerAsync(server, input, result).ConfigureAwait(false))
                    {
                        case ReaderStep.Hold:
                            // Held before the link hears of it: the session may hand the connection on (and resume
                            // this reader) the moment it does, and a resume before the hold would be lost.
                            var held = server.HoldAsync();
                            link.ReaderHolds();
                            await held.ConfigureAwait(false);
                            continue;
                        case ReaderStep.End:
                            return;
                        default:
                            continue;
                    }
                }

                if (Unsolicited(server, input, result) is { } why)
                {
                    ended = why;
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException
                                      or FramingException or OperationCanceledException)
        {
            (ended, failure) = (e.Message, e);
        }
        finally
        {
            server.ReaderStopped(ended, failure);
            lost(ended);
        }
    }

    /// <summary>
    /// Bytes nobody asked for. Idle or in its pool's hands: kept when they are only notices and
    /// parameter changes (the server may say those any time), else the connection is lost. Lent but
    /// not yet forwarding (its lessee is bringing it in line): left for the lessee's next read to see.
    /// </summary>
    /// <returns>Why the connection is lost, or null to read on.</returns>
    private static string? Unsolicited(ServerConnection server, PipeReader input, ReadResult result)
    {
        var buffer = result.Buffer;
        if (result.IsCanceled)
        {
            input.AdvanceTo(buffer.Start); // a wake meant for a link that gave the connection back meanwhile
            return null;
        }

        var owner = server.Owner;
        var examined = owner == ConnectionOwner.Pool || (owner == ConnectionOwner.Desk && server.Desk?.TryTakeIdleForExamination(server) == true);
        if (!examined)
        {
            input.AdvanceTo(buffer.Start, buffer.End);
            return result.IsCompleted ? "the server closed the connection" : null;
        }

        string? lost = null;
        while (lost is null && FrameReader.TryReadMessage(ref buffer, server.MaxFrameLength, out var frame))
        {
            switch ((BackendMessageCode)frame.Code)
            {
                case BackendMessageCode.ParameterStatus:
                    Proxy.ParameterStatusReader.Apply(frame.Payload, server.Parameters);
                    break;
                case BackendMessageCode.NoticeResponse or BackendMessageCode.NotificationResponse:
                    break;
                case BackendMessageCode.ErrorResponse:
                    lost = PgError.Parse(frame.Payload).ToString();
                    break;
                default:
                    lost = $"the idle server sent an unexpected '{(char)frame.Code}' message";
                    break;
            }
        }

        input.AdvanceTo(buffer.Start, result.Buffer.End);
        lost ??= result.IsCompleted ? "the server closed the idle connection" : null;
        if (lost is null && owner == ConnectionOwner.Desk)
        {
            server.Desk!.ExaminedHarmless(server);
        }

        return lost;
    }
}
