using System.Buffers;
using System.IO.Pipelines;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Client to server, in every mode: each read's frames go to the server connection the link
/// holds, as slices of the receive buffer with one flush per read. In transaction and statement
/// modes a request that finds the link without a connection stays unread in the pipe (nothing is
/// lost or sent twice) while the link checks one out of the pool's desk; then the same bytes go
/// out. The answers come back on the connection's own reader, never through this loop.
/// <para>
/// A read is written under the link's <see cref="LinkState.Writing"/> state: the connection cannot
/// go back to the pool while bytes of this client are on their way to it.
/// </para>
/// </summary>
internal static class ClientLoop
{
    public static async Task<ForwardEnd> RunAsync(PipeReader source, ClientLink link, IFrameInspector inspector, long maxFrameLength,
        PipeWriter clientOutput, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await source.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                source.AdvanceTo(buffer.Start);
                return ForwardEnd.Cancelled;
            }

            if (link.State == LinkState.Free && link.ToServer.AtFrameBoundary)
            {
                // Between transactions: look at what arrived, consuming nothing.
                if (!FrameReader.TryReadHeader(buffer, maxFrameLength, out var code, out var length))
                {
                    source.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        return buffer.IsEmpty ? ForwardEnd.SourceClosed : throw new TruncatedFrameException(buffer.Length);
                    }

                    continue; // half a header: wait for the rest
                }

                source.AdvanceTo(buffer.Start);
                if (code == (byte)FrontendMessageCode.Terminate)
                {
                    ConsumeTerminate(source);
                    return ForwardEnd.Stopped; // goodbye without a connection
                }

                if (link.Refusal(code, length) is { } refusal)
                {
                    link.ClientViolation = PgError.FatalError(SqlStates.ProtocolViolation, refusal);
                    return ForwardEnd.Stopped; // refused without taking a server connection for it
                }

                try
                {
                    await link.AcquireAsync().ConfigureAwait(false);
                }
                catch (WaitCanceledByClientException canceled)
                {
                    await RequestRefusal.AnswerAsync(source, clientOutput, PgError.Error(SqlStates.QueryCanceled, canceled.Message), maxFrameLength,
                        cancellationToken).ConfigureAwait(false);
                }
                catch (ClientLeftWhileQueuedException)
                {
                    return ForwardEnd.SourceClosed; // its request goes unread with it
                }

                continue; // read again: the same bytes, now with a server to send them to
            }

            if (link.BeginWrite() is not { } server)
            {
                source.AdvanceTo(buffer.Start);
                if (link.State == LinkState.Stopped)
                {
                    return ForwardEnd.Cancelled;
                }

                continue; // given back meanwhile, or still being handed over: look again
            }

            ForwardedRead forwarded;
            try
            {
                forwarded = FrameForwarder.Copy(source, result, server.Socket.Output, inspector, maxFrameLength, link.ToServer);
            }
            catch
            {
                link.EndWrite(server);
                throw;
            }

            if (forwarded.Written > 0 && await FlushAsync(link, server, cancellationToken).ConfigureAwait(false) is { } closed)
            {
                return closed;
            }

            link.EndWrite(server);
            if (FrameForwarder.EndOf(result, forwarded, link.ToServer) is { } end)
            {
                if (end == ForwardEnd.Stopped)
                {
                    ConsumeTerminate(source);
                }

                return end;
            }
        }
    }

    /// <summary>
    /// The client said goodbye: its Terminate, left at the front of the pipe, is consumed, so the
    /// pipe gives its buffer back to the pooler's receive buffers now instead of leaving it to the GC
    /// with the closed socket. Anything else there is left as it is.
    /// </summary>
    private static void ConsumeTerminate(PipeReader source)
    {
        if (!source.TryRead(out var result))
        {
            return;
        }

        var buffer = result.Buffer;
        ReadOnlySpan<byte> terminate = [(byte)FrontendMessageCode.Terminate, 0, 0, 0, 4];
        Span<byte> front = stackalloc byte[terminate.Length];
        if (buffer.Length >= front.Length)
        {
            buffer.Slice(0, front.Length).CopyTo(front);
            if (front.SequenceEqual(terminate))
            {
                source.AdvanceTo(buffer.GetPosition(front.Length));
                return;
            }
        }

        source.AdvanceTo(buffer.Start);
    }

    /// <summary>
    /// Flushes one read's bytes to the server; a flush cut short leaves part of a message out, and
    /// the connection is never reused. A server connection closed under the write (the server went
    /// away, KILL) ends the loop as the server's side, so the client is told the server was lost.
    /// </summary>
    private static async ValueTask<ForwardEnd?> FlushAsync(ClientLink link, Backend.ServerConnection server, CancellationToken cancellationToken)
    {
        var done = false;
        try
        {
            var flushed = await server.Socket.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
            done = !flushed.IsCompleted;
            return flushed.IsCompleted ? ForwardEnd.DestinationClosed : null;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException && !cancellationToken.IsCancellationRequested)
        {
            return ForwardEnd.DestinationClosed;
        }
        finally
        {
            if (!done)
            {
                link.WriteBroken = true;
                link.EndWrite(server);
            }
        }
    }
}
