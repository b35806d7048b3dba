using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using PgBouncerActors.Configuration;
using PgBouncerActors.Framing;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Auth;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Auth;

/// <summary>How a client login ended: success (with the client key a SCRAM proof revealed), or an error and the reason to log.</summary>
internal sealed record AuthOutcome(PgError? Error, string LogReason, byte[]? ScramClientKey = null)
{
    public bool Succeeded => Error is null;

    public static AuthOutcome Success(string method, byte[]? clientKey = null) => new(null, method, clientKey);
}

/// <summary>
/// The pooler in the server's role, checking a client's proof against the user's secret (from the
/// user list or auth_query) with PgBouncer's auth_type semantics. An unknown user goes through the
/// same exchange as a known one and gets the same 28P01, so the pooler does not reveal which users
/// exist. Secrets are compared in constant time.
/// </summary>
/// <param name="secret">The user's secret; null for a user nobody knows.</param>
/// <param name="knownUsersOnly">An auth_file is configured: trust admits only the users it (or auth_query) knows.</param>
/// <param name="certificateName">auth_type cert: the common name of the client's TLS certificate, null when it showed none.</param>
internal sealed class ClientAuthenticator(FrameConversation client, string user, AuthType authType, string? secret, bool knownUsersOnly,
    ScramVerifierCache verifiers, string? certificateName = null)
{
    private readonly MessageBuilder _builder = new();

    public async Task<AuthOutcome> AuthenticateAsync(CancellationToken cancellationToken)
    {
        switch (authType)
        {
            case AuthType.Any:
                return AuthOutcome.Success("any");
            case AuthType.Cert when certificateName is null:
                return new AuthOutcome(PgError.FatalError(SqlStates.InvalidAuthorization, "connection requires a valid client certificate"), "no client certificate");
            case AuthType.Cert:
                // As PostgreSQL's cert method: the certificate's common name must be the user asked for.
                return FixedTimeEquals(certificateName, user)
                    ? AuthOutcome.Success("cert")
                    : new AuthOutcome(PgError.FatalError(SqlStates.InvalidAuthorization, $"certificate authentication failed for user \"{user}\""),
                        $"certificate common name \"{certificateName}\" is not the user name");
            case AuthType.Trust:
                return !knownUsersOnly || secret is not null
                    ? AuthOutcome.Success("trust")
                    : new AuthOutcome(PgError.FatalError(SqlStates.InvalidAuthorization, "\"trust\" authentication failed",
                        detail: $"no such user: \"{user}\" is not in auth_file"), "unknown user");
            case AuthType.Plain:
                return await CleartextAsync(secret, cancellationToken).ConfigureAwait(false);
            case AuthType.Md5 when secret is not null && secret.StartsWith(ScramSecret.Prefix, StringComparison.Ordinal):
                return await ScramAsync(secret, cancellationToken).ConfigureAwait(false); // PgBouncer: md5 falls back to SCRAM for SCRAM secrets
            case AuthType.Md5:
                return await Md5Async(secret, cancellationToken).ConfigureAwait(false);
            default:
                return await ScramAsync(secret, cancellationToken).ConfigureAwait(false);
        }
    }

    private AuthOutcome Failed(string reason) =>
        new(PgError.FatalError(SqlStates.InvalidPassword, $"password authentication failed for user \"{user}\""), reason);

    private async Task<AuthOutcome> CleartextAsync(string? secret, CancellationToken cancellationToken)
    {
        await SendAsync(_builder.AuthenticationCleartextPassword(), cancellationToken).ConfigureAwait(false);
        var password = ReadCString((await ReadPasswordMessageAsync(cancellationToken).ConfigureAwait(false)).Payload);
        if (secret is null)
        {
            // The key derivation a SCRAM secret would have cost: an unknown user fails after the same delay.
            var mock = verifiers.Mock(user);
            ScramSecret.FromPassword(password, mock.Salt, mock.Iterations);
            return Failed("unknown user");
        }

        bool matches;
        if (Md5Password.IsSecret(secret))
        {
            matches = FixedTimeEquals(Md5Password.Secret(user, password), secret);
        }
        else if (ScramSecret.TryParse(secret, out var scram))
        {
            var derived = ScramSecret.FromPassword(password, scram.Salt, scram.Iterations);
            matches = CryptographicOperations.FixedTimeEquals(derived.StoredKey, scram.StoredKey);
        }
        else
        {
            matches = FixedTimeEquals(password, secret);
        }

        return matches ? AuthOutcome.Success("plain") : Failed("wrong password");
    }

    private async Task<AuthOutcome> Md5Async(string? secret, CancellationToken cancellationToken)
    {
        var salt = RandomNumberGenerator.GetBytes(4);
        await SendAsync(_builder.AuthenticationMd5Password(salt), cancellationToken).ConfigureAwait(false);
        var response = ReadCString((await ReadPasswordMessageAsync(cancellationToken).ConfigureAwait(false)).Payload);
        if (secret is null)
        {
            return Failed("unknown user");
        }

        var stored = Md5Password.IsSecret(secret) ? secret : Md5Password.Secret(user, secret);
        return FixedTimeEquals(Md5Password.Response(stored, salt), response) ? AuthOutcome.Success("md5") : Failed("wrong password");
    }

    private async Task<AuthOutcome> ScramAsync(string? secret, CancellationToken cancellationToken)
    {
        string? unusable = null;
        ScramSecret verifier;
        if (secret is null)
        {
            verifier = verifiers.Mock(user);
            unusable = "unknown user";
        }
        else if (ScramSecret.TryParse(secret, out var stored))
        {
            verifier = stored;
        }
        else if (Md5Password.IsSecret(secret))
        {
            verifier = verifiers.Mock(user);
            unusable = "auth_file holds an md5 secret for this user, which cannot verify SCRAM-SHA-256 (use auth_type md5 or a plaintext/SCRAM secret)";
        }
        else
        {
            verifier = verifiers.For(user, secret);
        }

        await SendAsync(_builder.AuthenticationSasl(ScramPrimitives.Mechanism), cancellationToken).ConfigureAwait(false);
        var initial = (await ReadPasswordMessageAsync(cancellationToken).ConfigureAwait(false)).Payload;
        var mechanism = ReadCString(initial);
        if (mechanism != ScramPrimitives.Mechanism)
        {
            return new AuthOutcome(PgError.FatalError(SqlStates.InvalidAuthorization,
                $"client selected an invalid SASL authentication mechanism \"{mechanism}\""), "bad SASL mechanism");
        }

        var afterName = initial.AsSpan(Encoding.UTF8.GetByteCount(mechanism) + 1);
        var length = afterName.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(afterName) : -1;
        if (length < 0 || length > afterName.Length - 4)
        {
            throw new ProtocolViolationException("malformed SASLInitialResponse");
        }

        var exchange = new ScramServerExchange(verifier);
        string? serverFinal;
        try
        {
            var serverFirst = exchange.HandleClientFirst(Encoding.UTF8.GetString(afterName.Slice(4, length)));
            await SendAsync(_builder.AuthenticationSaslContinue(Encoding.UTF8.GetBytes(serverFirst)), cancellationToken).ConfigureAwait(false);
            var final = await ReadPasswordMessageAsync(cancellationToken).ConfigureAwait(false);
            serverFinal = exchange.HandleClientFinal(Encoding.UTF8.GetString(final.Payload));
        }
        catch (ScramException e)
        {
            return new AuthOutcome(PgError.FatalError(SqlStates.ProtocolViolation, e.Message), e.Message);
        }

        if (unusable is not null || serverFinal is null)
        {
            // PgBouncer's words for a failed SCRAM exchange (a wrong password or an unknown user alike).
            return new AuthOutcome(PgError.FatalError(SqlStates.InvalidPassword, "SASL authentication failed",
                detail: $"password authentication failed for user \"{user}\""), unusable ?? "wrong password");
        }

        await SendAsync(_builder.AuthenticationSaslFinal(Encoding.UTF8.GetBytes(serverFinal)), cancellationToken).ConfigureAwait(false);
        return AuthOutcome.Success("scram-sha-256", exchange.ClientKey);
    }

    private async Task SendAsync(MessageBuilder message, CancellationToken cancellationToken)
    {
        await client.SendAsync(message, cancellationToken).ConfigureAwait(false);
        _builder.Clear();
    }

    private async Task<PgMessage> ReadPasswordMessageAsync(CancellationToken cancellationToken)
    {
        // Authentication messages are small; a client that claims more is not authenticating.
        var message = await client.ReadMessageAsync(StartupCodes.MaxStartupPacketLength, cancellationToken).ConfigureAwait(false)
            ?? throw new ClientGoneException("the client closed the connection during authentication");
        return message.Code == (byte)FrontendMessageCode.Password
            ? message
            : throw new ProtocolViolationException($"expected a password message, got '{message.Type}'");
    }

    private static string ReadCString(byte[] payload)
    {
        var end = Array.IndexOf(payload, (byte)0);
        return Encoding.UTF8.GetString(payload, 0, end < 0 ? payload.Length : end);
    }

    private static bool FixedTimeEquals(string left, string right) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(left), Encoding.UTF8.GetBytes(right));
}

/// <summary>The client sent something the protocol does not allow at this point (SQLSTATE 08P01).</summary>
internal sealed class ProtocolViolationException(string message) : Exception(message);

/// <summary>The client closed its connection; nothing can be told to it.</summary>
internal sealed class ClientGoneException(string message) : Exception(message);
