using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net;
using System.Net.Sockets;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Net;

/// <summary>
/// One TCP connection seen as two pipes: <see cref="Input"/> fills from the socket as the reader
/// asks (its buffer is the backpressure), <see cref="Output"/> drains to it. Every socket in the
/// pooler, client or server, is one of these and frames through <c>FrameReader</c>.
/// </summary>
internal sealed class PgSocket : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly bool _zeroByteReads;
    private readonly MemoryPool<byte>? _receiveBuffers;
    private SslStream? _tls;
    private int _closed;
    private int _lingering;

    /// <param name="zeroByteReads">
    /// A connection waiting for its peer holds no buffer, only the socket: a receive buffer is
    /// rented when bytes are there and returned once they are consumed, so ten thousand idle
    /// clients cost kilobytes each, not 16 KB each; the buffers come from
    /// a <see cref="ReceiveBufferPool"/>, which keeps them between requests. It costs a
    /// receive call per read, so server connections, a pool's worth, read straight into their buffer.
    /// </param>
    /// <param name="receiveBuffers">Where the input pipe's buffers come from; null: the shared array pool.</param>
    private PgSocket(Socket socket, bool zeroByteReads, MemoryPool<byte>? receiveBuffers)
    {
        _socket = socket;
        if (socket.AddressFamily != AddressFamily.Unix)
        {
            socket.NoDelay = true; // small request/response messages: never wait for Nagle
        }

        _stream = new NetworkStream(socket, ownsSocket: true);
        _zeroByteReads = zeroByteReads;
        _receiveBuffers = receiveBuffers;
        (Input, Output) = Pipes(_stream, zeroByteReads, receiveBuffers);
        // A Unix socket's peer has no address: PgBouncer shows "unix" and the port of the socket's name.
        RemoteAddress = Describe(socket.AddressFamily == AddressFamily.Unix ? socket.LocalEndPoint : socket.RemoteEndPoint);
    }

    /// <summary>Reads from the peer: from the socket, or from the TLS stream once <see cref="StartTlsAsync"/> ran.</summary>
    public PipeReader Input { get; private set; }

    public PipeWriter Output { get; private set; }

    /// <summary>The TLS protocol and cipher once the handshake is done ("TLSv1.3/TLS_AES_256_GCM_SHA384"); empty without TLS.</summary>
    public string TlsDescription => _tls is { } tls ? $"{TlsName(tls.SslProtocol)}/{tls.NegotiatedCipherSuite}" : "";

    private static (PipeReader, PipeWriter) Pipes(Stream stream, bool zeroByteReads, MemoryPool<byte>? receiveBuffers) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(pool: receiveBuffers, bufferSize: ReceiveBufferPool.BlockSize, minimumReadSize: 4 * 1024,
            leaveOpen: true, useZeroByteReads: zeroByteReads)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024, leaveOpen: true)));

    /// <summary>
    /// The TLS handshake as the server (after the 'S' answer to an SSLRequest); then the pipes
    /// carry the decrypted bytes and everything above them works as over plaintext. Nothing may
    /// be buffered in the plaintext pipe (the handshake checks that first: CVE-2021-23222).
    /// </summary>
    public Task StartTlsAsync(SslServerAuthenticationOptions options, CancellationToken cancellationToken) =>
        StartTlsAsync((tls, token) => tls.AuthenticateAsServerAsync(options, token), cancellationToken);

    /// <summary>The TLS handshake as the client (towards a server that answered 'S' to the pooler's SSLRequest).</summary>
    public Task StartTlsClientAsync(SslClientAuthenticationOptions options, CancellationToken cancellationToken) =>
        StartTlsAsync((tls, token) => tls.AuthenticateAsClientAsync(options, token), cancellationToken);

    private async Task StartTlsAsync(Func<SslStream, CancellationToken, Task> authenticate, CancellationToken cancellationToken)
    {
        await Input.CompleteAsync().ConfigureAwait(false);
        await Output.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(_stream, leaveInnerStreamOpen: true);
        try
        {
            await authenticate(tls, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _tls = tls;
        (Input, Output) = Pipes(tls, _zeroByteReads, _receiveBuffers);
    }

    private static string TlsName(System.Security.Authentication.SslProtocols protocol) => protocol switch
    {
        System.Security.Authentication.SslProtocols.Tls13 => "TLSv1.3",
        System.Security.Authentication.SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };

    public string RemoteAddress { get; }

    /// <summary>Address and port of this end, as host:port (read when asked: an idle client does not keep the string).</summary>
    public string LocalAddress
    {
        get
        {
            try
            {
                return Describe(_socket.LocalEndPoint);
            }
            catch (ObjectDisposedException)
            {
                return "(closed)";
            }
        }
    }

    /// <summary>host:port; for a Unix socket "unix:port", the port taken from its name (.s.PGSQL.6432).</summary>
    private static string Describe(EndPoint? endpoint) => endpoint switch
    {
        IPEndPoint ip => $"{(ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address)}:{ip.Port}", // 127.0.0.1, as PgBouncer shows it
        UnixDomainSocketEndPoint unix => unix.ToString() is var path && int.TryParse(Path.GetExtension(path).TrimStart('.'), out var port)
            ? $"unix:{port}" : "unix",
        _ => "(unknown)",
    };

    /// <summary>A Unix socket client running as the pooler's own OS user (see <see cref="UnixSocketListener.PeerIsThisUser"/>).</summary>
    public bool PeerIsThisUser => UnixSocketListener.PeerIsThisUser(_socket);

    /// <summary>The OS user of a Unix socket client (hba's peer), or null.</summary>
    public string? PeerUserName => UnixSocketListener.PeerUserName(_socket);

    /// <summary>Came over the Unix socket (hba's local lines), not TCP.</summary>
    public bool IsUnixSocket => _socket.AddressFamily == AddressFamily.Unix;

    /// <summary>The client's IP address over TCP (hba's address column); null over the Unix socket.</summary>
    public IPAddress? RemoteIp => _socket.RemoteEndPoint is IPEndPoint ip
        ? (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address) : null;

    /// <summary>
    /// The first byte the peer sent, left in the socket (MSG_PEEK) for whoever reads next, a TLS
    /// handshake included; -1 when the peer closed first. Only before anything read from the pipes.
    /// </summary>
    public Task<int> PeekFirstByteAsync(CancellationToken cancellationToken)
    {
        var peek = PeekAsync(cancellationToken);
        if (peek.IsCompleted)
        {
            return peek;
        }

        // Continued on the socket thread that saw the byte, as a turn of the sessions' dispatcher: the startup read
        // the handshake asks for next goes to its graph there, without waking a pool thread (HandOffExecutor).
        var peeked = new TaskCompletionSource<int>();
        HandOffExecutor.ContinueAsTurn(peek, static (done, peeked) => peeked.TrySetFromTask(done), peeked);
        return peeked.Task;
    }

    private async Task<int> PeekAsync(CancellationToken cancellationToken)
    {
        var first = new byte[1];
        try
        {
            return await _socket.ReceiveAsync(first, SocketFlags.Peek, cancellationToken).ConfigureAwait(false) == 1 ? first[0] : -1;
        }
        catch (SocketException)
        {
            return -1; // reset before a byte (a port scanner): the startup read sees the close, a quiet goodbye
        }
    }

    /// <summary>TLS is in use on this connection.</summary>
    public bool IsTls => _tls is not null;

    /// <summary>The certificate the peer showed in the TLS handshake, or null.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate? PeerCertificate => _tls?.RemoteCertificate;

    /// <summary>The ALPN protocol the TLS handshake agreed on ("postgresql" for direct TLS), or empty.</summary>
    public string ApplicationProtocol => _tls?.NegotiatedApplicationProtocol.ToString() ?? "";

    /// <summary>An accepted client connection.</summary>
    /// <param name="receiveBuffers">The pooler's <see cref="Hosting.PoolerServices.ClientReceiveBuffers"/>; null: the shared array pool.</param>
    public static PgSocket Wrap(Socket socket, ReceiveBufferPool? receiveBuffers = null) => new(socket, zeroByteReads: true, receiveBuffers);

    /// <summary>
    /// Whether <paramref name="host"/> names a Unix socket's directory, as PgBouncer and libpq read
    /// a host: a path (<c>/var/run/postgresql</c>), or <c>@name</c> for Linux's abstract namespace.
    /// </summary>
    public static bool IsUnixSocketDirectory(string host) => host.StartsWith('/') || host.StartsWith('@');

    /// <summary>The socket PostgreSQL listens on for <paramref name="port"/> in <paramref name="directory"/> (<c>.s.PGSQL.5432</c>).</summary>
    public static UnixDomainSocketEndPoint UnixSocketOf(string directory, int port) => directory.StartsWith('@')
        ? new UnixDomainSocketEndPoint($"\0{directory[1..]}/.s.PGSQL.{port}")
        : new UnixDomainSocketEndPoint(Path.Combine(directory, $".s.PGSQL.{port}"));

    /// <summary>A connection to a server: over TCP, or over its Unix socket when <paramref name="host"/> is a directory.</summary>
    public static async Task<PgSocket> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var unix = IsUnixSocketDirectory(host);
        var socket = unix ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) : new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (unix)
            {
                await socket.ConnectAsync(UnixSocketOf(host, port), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            }

            return new PgSocket(socket, zeroByteReads: false, receiveBuffers: null);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Whether the peer has left while nobody reads <see cref="Input"/>: it shut down or reset its
    /// side (on Linux seen even with bytes of it unread; elsewhere only with nothing unread), or all
    /// it sent since is a Terminate (over plaintext, where the bytes can be looked at without reading
    /// them). Nothing is consumed. Something else unread from a peer still there: it is still talking.
    /// </summary>
    /// <returns>How it left, in words for the log; null while it is still there.</returns>
    public string? HowPeerLeft()
    {
        try
        {
            if (PeerHangup.Seen(_socket) is { } hangup)
            {
                return hangup;
            }

            // Readable first, then nothing to read: end of stream, or reset. (The other order would take bytes
            // arriving between the two looks for an end; bytes once there stay, as nobody reads meanwhile.)
            var readable = _socket.Poll(0, SelectMode.SelectRead);
            var unread = _socket.Available;
            if (unread == 0)
            {
                return readable ? "end of stream" : null;
            }

            if (_tls is not null || unread != TerminateBytes.Length)
            {
                return null;
            }

            Span<byte> next = stackalloc byte[TerminateBytes.Length];
            return _socket.Receive(next, SocketFlags.Peek) == next.Length && next.SequenceEqual(TerminateBytes) ? "it sent Terminate" : null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return "the socket is closed";
        }
    }

    private static ReadOnlySpan<byte> TerminateBytes => [(byte)'X', 0, 0, 0, 4];

    /// <summary>Writes one or more composed messages and flushes them.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> messages, CancellationToken cancellationToken = default)
    {
        var result = await Output.WriteAsync(messages, cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted)
        {
            throw new IOException("the connection is closed");
        }
    }

    public ValueTask SendAsync(MessageBuilder builder, CancellationToken cancellationToken = default) =>
        SendAsync(builder.WrittenMemory, cancellationToken);

    /// <summary>Sends a last message if the peer is still there, then closes. Never throws.</summary>
    /// <param name="lingerForPeer">
    /// Nobody else reads <see cref="Input"/>: after the message, half-close and read what the peer
    /// still sends, so that a peer in the middle of writing a large message gets to read the
    /// message instead of a reset that destroys it. This goes on in the background, after this
    /// returns, until the peer closes or pauses (a quarter second), two seconds at most;
    /// <see cref="Abort"/> leaves it alone meanwhile.
    /// </param>
    public async Task CloseWithAsync(ReadOnlyMemory<byte> lastMessage, bool lingerForPeer = false)
    {
        try
        {
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
            {
                await SendAsync(lastMessage, timeout.Token).ConfigureAwait(false);
            }

            if (lingerForPeer && Interlocked.Exchange(ref _lingering, 1) == 0)
            {
                _ = LingerThenCloseAsync();
                return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // the peer is already gone: nothing left to tell it
        }

        Abort();
    }

    private async Task LingerThenCloseAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
            await DiscardInputAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // the peer closed or reset first: done either way
        }
        finally
        {
            Volatile.Write(ref _lingering, 0);
            Abort();
        }
    }

    /// <summary>Reads and drops input while the peer keeps sending (see <see cref="CloseWithAsync"/>).</summary>
    private async Task DiscardInputAsync()
    {
        var deadline = Environment.TickCount64 + 2000;
        using var pause = new CancellationTokenSource();
        while (Environment.TickCount64 < deadline)
        {
            pause.CancelAfter(TimeSpan.FromMilliseconds(250));
            var result = await Input.ReadAsync(pause.Token).ConfigureAwait(false);
            Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    /// <summary>Closes the socket now (unless it lingers for its peer, see <see cref="CloseWithAsync"/>); pending reads and writes on it fail. Idempotent.</summary>
    public void Abort()
    {
        if (Volatile.Read(ref _lingering) == 0 && Interlocked.Exchange(ref _closed, 1) == 0)
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
                // already reset by the peer
            }
            catch (ObjectDisposedException)
            {
                // already closed
            }

            _tls?.Dispose();
            _stream.Dispose();
        }
    }

    public bool IsClosed => Volatile.Read(ref _closed) == 1;

    public ValueTask DisposeAsync()
    {
        Abort();
        return ValueTask.CompletedTask;
    }
}
