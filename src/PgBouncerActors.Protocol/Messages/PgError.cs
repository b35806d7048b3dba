using System.Buffers;
using System.Text;

namespace PgBouncerActors.Protocol.Messages;

/// <summary>
/// The fields of an ErrorResponse or NoticeResponse. The pooler builds its own with the factory
/// methods below, and parses a server's to pass on or log it.
/// </summary>
public sealed record PgError(string Severity, string SqlState, string Message, string? Detail = null, string? Hint = null)
{
    public const string Fatal = "FATAL";
    public const string ErrorSeverity = "ERROR";

    /// <summary>Every field the server sent, by its one-letter code, when parsed from the wire.</summary>
    public IReadOnlyDictionary<char, string>? Fields { get; init; }

    public bool IsFatal => Severity is Fatal or "PANIC";

    public static PgError FatalError(string sqlState, string message, string? detail = null, string? hint = null) =>
        new(Fatal, sqlState, message, detail, hint);

    public static PgError Error(string sqlState, string message, string? detail = null, string? hint = null) =>
        new(ErrorSeverity, sqlState, message, detail, hint);

    public PgError AsFatal() => this with { Severity = Fatal, Fields = Fields is null ? null : WithSeverity(Fields, Fatal) };

    /// <summary>Parses the payload of an 'E' or 'N' message: (code byte, C string)* then a NUL.</summary>
    public static PgError Parse(ReadOnlySpan<byte> payload)
    {
        var fields = new Dictionary<char, string>();
        while (!payload.IsEmpty && payload[0] != 0)
        {
            var code = (char)payload[0];
            payload = payload[1..];
            var end = payload.IndexOf((byte)0);
            if (end < 0)
            {
                break;
            }

            fields[code] = Encoding.UTF8.GetString(payload[..end]);
            payload = payload[(end + 1)..];
        }

        return new PgError(
            fields.GetValueOrDefault('V') ?? fields.GetValueOrDefault('S') ?? ErrorSeverity,
            fields.GetValueOrDefault('C') ?? SqlStates.InternalError,
            fields.GetValueOrDefault('M') ?? "(no message)",
            fields.GetValueOrDefault('D'),
            fields.GetValueOrDefault('H'))
        {
            Fields = fields,
        };
    }

    internal MessageBuilder WriteTo(MessageBuilder builder, byte code)
    {
        builder.Begin(code);
        if (Fields is not null)
        {
            // A server's error is passed on with every field it had (position, where, schema...).
            foreach (var (field, value) in Fields)
            {
                builder.WriteByte((byte)field).WriteCString(value);
            }
        }
        else
        {
            builder.WriteByte((byte)'S').WriteCString(Severity)
                .WriteByte((byte)'V').WriteCString(Severity)
                .WriteByte((byte)'C').WriteCString(SqlState)
                .WriteByte((byte)'M').WriteCString(Message);
            if (Detail is not null)
            {
                builder.WriteByte((byte)'D').WriteCString(Detail);
            }

            if (Hint is not null)
            {
                builder.WriteByte((byte)'H').WriteCString(Hint);
            }
        }

        return builder.WriteByte(0).End();
    }

    /// <summary>Sent to a client that asked for protocol 2 or older: PostgreSQL refuses it in that protocol's own layout.</summary>
    public bool InProtocol2Layout { get; init; }

    public byte[] ToErrorResponse() => InProtocol2Layout
        ? [(byte)'E', .. Encoding.UTF8.GetBytes($"{Severity}:  {Message}\n"), 0] // type byte, then one string: no length, no fields
        : new MessageBuilder().Error(this).ToArray();

    public override string ToString() => $"{Severity} {SqlState}: {Message}" + (Detail is null ? "" : $" ({Detail})");

    private static Dictionary<char, string> WithSeverity(IReadOnlyDictionary<char, string> fields, string severity)
    {
        var copy = new Dictionary<char, string>(fields) { ['S'] = severity };
        if (copy.ContainsKey('V'))
        {
            copy['V'] = severity;
        }

        return copy;
    }

    public static PgError Parse(ReadOnlySequence<byte> payload) => Parse(payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray());
}

/// <summary>The SQLSTATEs the pooler sends itself.</summary>
public static class SqlStates
{
    public const string ProtocolViolation = "08P01";
    public const string ConnectionFailure = "08006";
    public const string UnableToConnect = "08001";
    public const string InvalidPassword = "28P01";
    public const string InvalidAuthorization = "28000";
    public const string UnknownDatabase = "3D000";
    public const string TooManyConnections = "53300";
    public const string AdminShutdown = "57P01";
    public const string QueryCanceled = "57014";
    public const string FeatureNotSupported = "0A000";
    public const string IdleInTransactionSessionTimeout = "25P03";

    /// <summary>PostgreSQL 17's transaction_timeout.</summary>
    public const string TransactionTimeout = "25P04";
    public const string IdleSessionTimeout = "57P05";
    public const string CannotConnectNow = "57P03";
    public const string InternalError = "XX000";
    public const string DatatypeMismatch = "42804";
    public const string DuplicatePreparedStatement = "42P05";
    public const string InvalidSqlStatementName = "26000";
    public const string InFailedSqlTransaction = "25P02";
    public const string ProgramLimitExceeded = "54000";
    public const string InsufficientPrivilege = "42501";
    public const string ConfigFileError = "F0000";
    public const string CantChangeRuntimeParam = "55P02";
}
