using Akka.Streams;
using PgBouncerActors.Framing;
using PgBouncerActors.Net;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Auth;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;
using System.Buffers.Binary;
using System.Text;

namespace PgBouncerActors.Backend;

/// <summary>The server refused the login, or could not be reached; carries the error the client should see.</summary>
internal sealed class ServerLoginException(PgError error, Exception? inner = null, string closing = "login failed") : Exception(error.Message, inner)
{
    public PgError Error { get; } = error;

    /// <summary>PgBouncer's words for why the server connection closed ("connect failed", "connect timeout", "login failed"), which operators grep.</summary>
    public string Closing { get; } = closing;
}

/// <summary>The pooler in the client's role: connect, StartupMessage, answer authentication, collect the parameters.</summary>
internal static class ServerLogin
{
    /// <param name="tls">TLS towards the server (server_tls_sslmode), or null: plaintext.</param>
    /// <param name="connectQuery">The database's connect_query, run once the login is done; null: none.</param>
    /// <param name="replication">A replication connection for one client: its startup parameters go in the startup packet.</param>
    public static async Task<ServerConnection> ConnectAsync(ServerEndpoint endpoint, ServerCredentials credentials,
        long maxFrameLength, TimeSpan timeout, ConversationGraphs conversations, Net.ServerTls? tls = null, string? connectQuery = null,
        Pool.ReplicationStartup? replication = null, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        PgSocket socket;
        try
        {
            socket = await PgSocket.ConnectAsync(endpoint.Host, endpoint.Port, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ServerLoginException(PgError.FatalError(SqlStates.UnableToConnect,
                $"could not connect to server {endpoint}: timed out after {timeout.TotalSeconds:0.#}s (server_connect_timeout)"), closing: "connect timeout");
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // PgBouncer's words for a host name that does not resolve, which operators grep.
            var dns = e.SocketErrorCode is System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.TryAgain
                or System.Net.Sockets.SocketError.NoData;
            throw new ServerLoginException(PgError.FatalError(SqlStates.UnableToConnect,
                $"could not connect to server {endpoint}: {e.Message}"), e, closing: dns ? "server DNS lookup failed" : "connect failed");
        }

        try
        {
            if (tls is not null)
            {
                await NegotiateTlsAsync(socket, endpoint, tls, deadline.Token).ConfigureAwait(false);
            }

            var connection = new ServerConnection(socket, endpoint, credentials.User, maxFrameLength) { Replication = replication?.Mode };
            await using (var frames = FrameConversation.Open(socket, conversations))
            {
                await LoginAsync(frames, connection, credentials, replication, deadline.Token).ConfigureAwait(false);
                if (connectQuery is not null)
                {
                    connection.ConnectQueryError = await RunConnectQueryAsync(frames, connection, connectQuery, deadline.Token).ConfigureAwait(false);
                }
            }

            return connection;
        }
        catch (Exception e)
        {
            socket.Abort();
            throw e switch
            {
                ServerLoginException => e,
                OperationCanceledException when !cancellationToken.IsCancellationRequested => new ServerLoginException(PgError.FatalError(
                    SqlStates.UnableToConnect, $"login to server {endpoint} timed out after {timeout.TotalSeconds:0.#}s (server_connect_timeout)"),
                    closing: "connect timeout"),
                OperationCanceledException => e,
                _ => new ServerLoginException(PgError.FatalError(SqlStates.ConnectionFailure, $"login to server {endpoint} failed: {e.Message}"), e),
            };
        }
    }

    /// <summary>
    /// SSLRequest before the startup packet. 'S': the TLS handshake, checked as the mode says. 'N':
    /// plaintext when the mode allows it, else the login fails. The answer must be one byte alone:
    /// anything after it would be read as if it had come over TLS (CVE-2021-23222, the server side).
    /// </summary>
    private static async Task NegotiateTlsAsync(PgSocket socket, ServerEndpoint endpoint, Net.ServerTls tls, CancellationToken cancellationToken)
    {
        await socket.SendAsync(new MessageBuilder().SslRequest(), cancellationToken).ConfigureAwait(false);
        var read = await socket.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
        var buffer = read.Buffer;
        if (buffer.IsEmpty)
        {
            throw new ServerLoginException(PgError.FatalError(SqlStates.ConnectionFailure, $"server {endpoint} closed the connection at the SSLRequest"));
        }

        var answer = buffer.FirstSpan[0];
        var more = buffer.Length > 1;
        socket.Input.AdvanceTo(buffer.GetPosition(1));
        if (answer == (byte)'S' && !more)
        {
            string? rejection = null;
            try
            {
                await socket.StartTlsClientAsync(tls.Options(endpoint.Host, why => rejection = why), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
            {
                throw new ServerLoginException(PgError.FatalError(SqlStates.ConnectionFailure,
                    $"TLS towards server {endpoint} failed (server_tls_sslmode = {tls.Mode}): {rejection ?? e.Message}"), e,
                    closing: rejection is null ? "login failed" : "certificate verify failed");
            }

            return;
        }

        if (answer == (byte)'N' && !more && !tls.Required)
        {
            return; // allow, prefer: plaintext, as the server offers nothing else
        }

        throw new ServerLoginException(PgError.FatalError(SqlStates.ConnectionFailure, answer == (byte)'N'
            ? $"server {endpoint} does not offer TLS, and server_tls_sslmode is {tls.Mode}"
            : $"server {endpoint} answered the SSLRequest with '{(char)answer}'{(more ? " and more bytes" : "")}"));
    }

    private static async Task LoginAsync(FrameConversation socket, ServerConnection connection, ServerCredentials credentials,
        Pool.ReplicationStartup? replication, CancellationToken cancellationToken)
    {
        var builder = new MessageBuilder();
        List<KeyValuePair<string, string>> startup = [new("user", credentials.User), new("database", connection.Endpoint.Database)];
        if (replication is not null)
        {
            // As PgBouncer: a replication connection is its client's alone, and a physical one takes no SET,
            // so the client's own startup parameters (options included, as written) go in the startup packet.
            startup.Add(new("replication", replication.Mode));
            startup.AddRange(replication.Parameters);
        }

        await socket.SendAsync(builder.StartupMessage(startup), cancellationToken).ConfigureAwait(false);
        ScramClientExchange? scram = null;
        while (true)
        {
            var message = await socket.ReadMessageAsync(connection.MaxFrameLength, cancellationToken).ConfigureAwait(false)
                ?? throw new IOException("the server closed the connection during login");
            builder.Clear();
            switch ((BackendMessageCode)message.Code)
            {
                case BackendMessageCode.Authentication:
                    var reply = Answer(message.Payload, credentials, connection.Endpoint, builder, ref scram);
                    if (reply)
                    {
                        await socket.SendAsync(builder, cancellationToken).ConfigureAwait(false);
                    }

                    break;
                case BackendMessageCode.ParameterStatus:
                    Proxy.ParameterStatusReader.Apply(new(message.Payload), connection.Parameters);
                    break;
                case BackendMessageCode.BackendKeyData:
                    connection.ProcessId = BinaryPrimitives.ReadInt32BigEndian(message.Payload);
                    connection.SecretKey = BinaryPrimitives.ReadInt32BigEndian(message.Payload.AsSpan(4));
                    break;
                case BackendMessageCode.ErrorResponse when PgError.Parse(message.Payload).AsFatal() is var refused:
                    // "closing because: <the server's words>", as PgBouncer logs a login the server refused.
                    throw new ServerLoginException(refused, closing: refused.Message);
                case BackendMessageCode.ReadyForQuery:
                    connection.LoggedIn();
                    return;
                default:
                    break; // NoticeResponse, NegotiateProtocolVersion: nothing to act on
            }
        }
    }

    /// <summary>
    /// connect_query, as PgBouncer runs it: part of the login, its rows and its errors ignored (the
    /// error is returned for the log), the settings it changes taken as the connection's own from
    /// then on (what a client starts from), whatever transaction state it leaves.
    /// </summary>
    private static async Task<PgError?> RunConnectQueryAsync(FrameConversation socket, ServerConnection connection, string query,
        CancellationToken cancellationToken)
    {
        await socket.SendAsync(new MessageBuilder().Query(query), cancellationToken).ConfigureAwait(false);
        PgError? error = null;
        while (true)
        {
            var message = await socket.ReadMessageAsync(connection.MaxFrameLength, cancellationToken).ConfigureAwait(false)
                ?? throw new IOException("the server closed the connection during connect_query");
            switch ((BackendMessageCode)message.Code)
            {
                case BackendMessageCode.ParameterStatus:
                    Proxy.ParameterStatusReader.Apply(new(message.Payload), connection.Parameters);
                    break;
                case BackendMessageCode.ErrorResponse when PgError.Parse(message.Payload) is var failed:
                    if (failed.IsFatal)
                    {
                        throw new ServerLoginException(failed);
                    }

                    error ??= failed;
                    break;
                case BackendMessageCode.CopyInResponse or BackendMessageCode.CopyOutResponse or BackendMessageCode.CopyBothResponse:
                    throw new ServerLoginException(PgError.FatalError(SqlStates.ProtocolViolation, "connect_query started COPY"));
                case BackendMessageCode.ReadyForQuery:
                    connection.LoggedIn(); // the server's settings as connect_query left them
                    return error;
            }
        }
    }

    /// <summary>Composes the answer to one Authentication message; false when none is due.</summary>
    private static bool Answer(byte[] payload, ServerCredentials credentials, ServerEndpoint endpoint, MessageBuilder builder, ref ScramClientExchange? scram)
    {
        var kind = (AuthenticationKind)BinaryPrimitives.ReadInt32BigEndian(payload);
        var data = payload.AsSpan(4);
        switch (kind)
        {
            case AuthenticationKind.Ok:
                return false;
            case AuthenticationKind.CleartextPassword:
                builder.PasswordMessage(credentials.Password ?? throw Unanswerable(credentials, endpoint, "a cleartext password"));
                return true;
            case AuthenticationKind.Md5Password:
                var secret = credentials.Md5Secret ??
                    (credentials.Password is { } password ? Md5Password.Secret(credentials.User, password) : throw Unanswerable(credentials, endpoint, "an md5 password"));
                builder.PasswordMessage(Md5Password.Response(secret, data[..4]));
                return true;
            case AuthenticationKind.Sasl:
                if (!Encoding.UTF8.GetString(data).Split('\0').Contains(ScramPrimitives.Mechanism))
                {
                    throw new ServerLoginException(PgError.FatalError(SqlStates.FeatureNotSupported,
                        $"server {endpoint} offers no SASL mechanism the pooler supports (SCRAM-SHA-256 without channel binding)"));
                }

                scram = credentials.Password is { } plain ? ScramClientExchange.WithPassword(plain)
                    : credentials is { ScramSecret: { } verifier, ScramClientKey: { } clientKey } ? ScramClientExchange.WithKeys(verifier, clientKey)
                    : throw Unanswerable(credentials, endpoint, "SCRAM-SHA-256 (a plaintext password, or a SCRAM verifier after this user's first SCRAM login)");
                builder.SaslInitialResponse(ScramPrimitives.Mechanism, Encoding.UTF8.GetBytes(scram.ClientFirst));
                return true;
            case AuthenticationKind.SaslContinue when scram is not null:
                builder.SaslResponse(Encoding.UTF8.GetBytes(scram.HandleServerFirst(Encoding.UTF8.GetString(data))));
                return true;
            case AuthenticationKind.SaslFinal when scram is not null:
                scram.VerifyServerFinal(Encoding.UTF8.GetString(data));
                return false;
            default:
                throw new ServerLoginException(PgError.FatalError(SqlStates.FeatureNotSupported,
                    $"server {endpoint} asks for an authentication method the pooler does not support ({(int)kind})"));
        }
    }

    private static ServerLoginException Unanswerable(ServerCredentials credentials, ServerEndpoint endpoint, string what) =>
        new(PgError.FatalError(SqlStates.InvalidPassword,
            $"server login failed: wrong password type: server {endpoint} asks for {what} for user \"{credentials.User}\", which the pooler's configuration does not hold",
            hint: "put a plaintext password for this user in auth_file, or a password in the database entry"));
}

internal sealed record ServerEndpoint(string Host, int Port, string Database)
{
    public override string ToString() => $"{Host}:{Port}/{Database}";
}
