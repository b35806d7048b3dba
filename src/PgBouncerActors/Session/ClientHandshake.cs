using PgBouncerActors.Framing;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

/// <summary>What the first packets of a connection turned out to be.</summary>
internal abstract record HandshakeResult
{
    /// <param name="Frames">The conversation authentication goes on in (a new one over TLS when the client asked for it).</param>
    public sealed record Startup(IReadOnlyList<KeyValuePair<string, string>> Parameters, FrameConversation Frames) : HandshakeResult;

    public sealed record Cancel(int ProcessId, int SecretKey) : HandshakeResult;

    /// <summary>The client closed before sending a startup packet (port scanners, health checks).</summary>
    public sealed record Closed : HandshakeResult;

    /// <summary>The client broke the protocol; it gets this error and the connection closes.</summary>
    public sealed record Refused(PgError Error) : HandshakeResult
    {
        /// <summary>The connection is in no state to carry the error (a failed TLS handshake): it is only logged.</summary>
        public bool Unsendable { get; init; }
    }
}

/// <summary>
/// Reads the untyped first packets: answers SSLRequest with 'S' and runs the TLS handshake when
/// client_tls_sslmode offers TLS (then reads on over TLS), else 'N'; takes a TLS ClientHello sent
/// straight away (direct TLS, ALPN "postgresql") when TLS is on; answers GSSENCRequest with 'N';
/// refuses protocol 2, negotiates newer 3.x minors and unknown _pq_ options down to 3.0. As
/// PostgreSQL: each encryption request is answered once per connection, and a Terminate before
/// the startup packet (node-postgres' <c>connect(); end()</c>) is a quiet goodbye.
/// </summary>
internal static class ClientHandshake
{
    private const string ProtocolOptionPrefix = "_pq_.";
    private static readonly byte[] NoEncryption = [(byte)'N'];
    private static readonly byte[] TlsAccepted = [(byte)'S'];

    /// <summary>The first four bytes of a Terminate ('X', then a length of 4), read as a startup packet's length.</summary>
    private const long TerminateAsStartupLength = 0x58000000;

    /// <param name="frames">The client's conversation; left open, because authentication goes on in it.</param>
    /// <param name="tls">TLS towards clients, or null (client_tls_sslmode = disable).</param>
    /// <param name="reopen">A new conversation on the client's pipes, after they moved onto TLS.</param>
    /// <returns>What the packets were, and the conversation in use at the end (to dispose unless authentication goes on in it).</returns>
    public static async Task<(HandshakeResult Result, FrameConversation Frames)> RunAsync(PgSocket client, FrameConversation frames, ClientTls? tls,
        Func<FrameConversation> reopen, CancellationToken cancellationToken)
    {
        if (client.IsUnixSocket)
        {
            // As PgBouncer: TLS is neither offered nor required over the Unix socket (the kernel
            // carries it, and the admin console stays reachable with client_tls_sslmode = require).
            tls = null;
        }

        bool sslAnswered = false, gssAnswered = false, encrypted = false;
        if (tls is not null && await StartsWithTlsAsync(client, cancellationToken).ConfigureAwait(false))
        {
            // Direct TLS (PostgreSQL 17's sslnegotiation=direct): the ClientHello comes first, no SSLRequest.
            if (await StartTlsAsync(client, frames, tls, cancellationToken).ConfigureAwait(false) is { } failed)
            {
                return (failed, frames);
            }

            frames = reopen();
            if (client.ApplicationProtocol != ClientTls.Alpn.ToString())
            {
                // As PostgreSQL 17: without ALPN a direct connection could be a confused HTTPS client.
                return (new HandshakeResult.Refused(PgError.FatalError(SqlStates.ProtocolViolation,
                    "received direct SSL connection request without ALPN protocol negotiation extension")), frames);
            }

            encrypted = sslAnswered = true;
        }

        while (true)
        {
            PgMessage? packet;
            try
            {
                packet = await frames.ReadStartupPacketAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (FrameTooLargeException e) when (e.Length == TerminateAsStartupLength)
            {
                return (new HandshakeResult.Closed(), frames); // a Terminate where the startup packet should be
            }
            catch (FramingException e)
            {
                return (new HandshakeResult.Refused(PgError.FatalError(SqlStates.ProtocolViolation, $"invalid startup packet: {e.Message}")), frames);
            }

            if (packet is null)
            {
                return (new HandshakeResult.Closed(), frames);
            }

            StartupPacket startup;
            try
            {
                startup = StartupPacket.Parse(packet.Payload);
            }
            catch (FormatException e)
            {
                return (new HandshakeResult.Refused(PgError.FatalError(SqlStates.ProtocolViolation, $"invalid startup packet: {e.Message}")), frames);
            }

            var again = startup.Kind switch
            {
                StartupPacketKind.SslRequest => sslAnswered,
                StartupPacketKind.GssEncRequest => gssAnswered,
                _ => false,
            };
            if (again)
            {
                // PostgreSQL reads a second request as a startup packet of protocol 1234.5679 (or .5680).
                return (new HandshakeResult.Refused(Unsupported(startup)), frames);
            }

            sslAnswered |= startup.Kind == StartupPacketKind.SslRequest;
            gssAnswered |= startup.Kind == StartupPacketKind.GssEncRequest;
            switch (startup.Kind)
            {
                case StartupPacketKind.SslRequest or StartupPacketKind.GssEncRequest:
                    // Between two reads the conversation holds no read on the pipe: look at what is already there.
                    if (client.Input.TryRead(out var early))
                    {
                        var injected = !early.Buffer.IsEmpty;
                        client.Input.AdvanceTo(early.Buffer.Start);
                        if (injected)
                        {
                            // Bytes sent before the answer would be read as if they had come over
                            // the negotiated channel: a known injection attack (CVE-2021-23222).
                            return (new HandshakeResult.Refused(PgError.FatalError(SqlStates.ProtocolViolation,
                                "received unencrypted data after an SSL or GSS encryption request")), frames);
                        }
                    }

                    if (startup.Kind == StartupPacketKind.SslRequest && tls is not null)
                    {
                        await frames.SendAsync(TlsAccepted, cancellationToken).ConfigureAwait(false);
                        if (await StartTlsAsync(client, frames, tls, cancellationToken).ConfigureAwait(false) is { } failed)
                        {
                            return (failed, frames);
                        }

                        encrypted = true;
                        frames = reopen();
                        continue;
                    }

                    await frames.SendAsync(NoEncryption, cancellationToken).ConfigureAwait(false);
                    continue;
                case StartupPacketKind.CancelRequest:
                    return (new HandshakeResult.Cancel(startup.CancelProcessId, startup.CancelSecretKey), frames);
            }

            if (startup.MajorVersion != 3)
            {
                return (new HandshakeResult.Refused(Unsupported(startup)), frames);
            }

            if (tls is { Required: true } && !encrypted)
            {
                // client_tls_sslmode = require: as PgBouncer, before any authentication.
                return (new HandshakeResult.Refused(PgError.FatalError(SqlStates.InvalidAuthorization, "SSL required")), frames);
            }

            var unknownOptions = startup.Parameters.Where(p => p.Key.StartsWith(ProtocolOptionPrefix, StringComparison.Ordinal))
                .Select(p => p.Key).ToArray();
            if (startup.MinorVersion > 0 || unknownOptions.Length > 0)
            {
                await frames.SendAsync(new MessageBuilder().NegotiateProtocolVersion(StartupCodes.ProtocolVersion3, unknownOptions), cancellationToken)
                    .ConfigureAwait(false);
            }

            return (new HandshakeResult.Startup(startup.Parameters
                .Where(p => !p.Key.StartsWith(ProtocolOptionPrefix, StringComparison.Ordinal)).ToArray(), frames), frames);
        }
    }

    /// <summary>The first byte is a TLS handshake record (22), not the start of a startup packet's length (whose first byte is 0).</summary>
    private static async Task<bool> StartsWithTlsAsync(PgSocket client, CancellationToken cancellationToken) =>
        await client.PeekFirstByteAsync(cancellationToken).ConfigureAwait(false) == TlsHandshakeRecord; // peeked: the handshake or the startup read gets it

    private const byte TlsHandshakeRecord = 0x16;

    /// <summary>The server side of the TLS handshake; the refusal to log when it fails (the client sees the close).</summary>
    private static async Task<HandshakeResult.Refused?> StartTlsAsync(PgSocket client, FrameConversation frames, ClientTls tls,
        CancellationToken cancellationToken)
    {
        await frames.DisposeAsync().ConfigureAwait(false); // the pipes move onto TLS; a new conversation reads from there
        try
        {
            await client.StartTlsAsync(tls.Options(), cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            // No plaintext error can reach a client that is mid-handshake: it sees the close.
            return new HandshakeResult.Refused(PgError.FatalError(SqlStates.ProtocolViolation, $"TLS handshake failed: {e.Message}")) { Unsendable = true };
        }
    }

    private static PgError Unsupported(StartupPacket startup) => PgError.FatalError(SqlStates.FeatureNotSupported,
        $"unsupported frontend protocol {startup.MajorVersion}.{startup.MinorVersion}: server supports 3.0 to 3.0") with
    {
        InProtocol2Layout = startup.MajorVersion < 3,
    };
}
