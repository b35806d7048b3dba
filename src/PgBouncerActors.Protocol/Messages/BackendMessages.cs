namespace PgBouncerActors.Protocol.Messages;

/// <summary>The messages the pooler sends to a client in the server's role.</summary>
public static class BackendMessages
{
    public static MessageBuilder AuthenticationOk(this MessageBuilder builder) =>
        builder.Begin((byte)BackendMessageCode.Authentication).WriteInt32((int)AuthenticationKind.Ok).End();

    public static MessageBuilder AuthenticationCleartextPassword(this MessageBuilder builder) =>
        builder.Begin((byte)BackendMessageCode.Authentication).WriteInt32((int)AuthenticationKind.CleartextPassword).End();

    public static MessageBuilder AuthenticationMd5Password(this MessageBuilder builder, ReadOnlySpan<byte> salt) =>
        builder.Begin((byte)BackendMessageCode.Authentication).WriteInt32((int)AuthenticationKind.Md5Password).WriteBytes(salt).End();

    /// <summary>AuthenticationSASL with its list of mechanisms, ended by an empty string.</summary>
    public static MessageBuilder AuthenticationSasl(this MessageBuilder builder, params string[] mechanisms)
    {
        builder.Begin((byte)BackendMessageCode.Authentication).WriteInt32((int)AuthenticationKind.Sasl);
        foreach (var mechanism in mechanisms)
        {
            builder.WriteCString(mechanism);
        }

        return builder.WriteByte(0).End();
    }

    public static MessageBuilder AuthenticationSaslContinue(this MessageBuilder builder, ReadOnlySpan<byte> data) =>
        builder.Begin((byte)BackendMessageCode.Authentication).WriteInt32((int)AuthenticationKind.SaslContinue).WriteBytes(data).End();

    public static MessageBuilder AuthenticationSaslFinal(this MessageBuilder builder, ReadOnlySpan<byte> data) =>
        builder.Begin((byte)BackendMessageCode.Authentication).WriteInt32((int)AuthenticationKind.SaslFinal).WriteBytes(data).End();

    public static MessageBuilder ParameterStatus(this MessageBuilder builder, string name, string value) =>
        builder.Begin((byte)BackendMessageCode.ParameterStatus).WriteCString(name).WriteCString(value).End();

    public static MessageBuilder BackendKeyData(this MessageBuilder builder, int processId, int secretKey) =>
        builder.Begin((byte)BackendMessageCode.BackendKeyData).WriteInt32(processId).WriteInt32(secretKey).End();

    public static MessageBuilder ParseComplete(this MessageBuilder builder) =>
        builder.Begin((byte)BackendMessageCode.ParseComplete).End();

    public static MessageBuilder ReadyForQuery(this MessageBuilder builder, byte transactionStatus = TransactionStatus.Idle) =>
        builder.Begin((byte)BackendMessageCode.ReadyForQuery).WriteByte(transactionStatus).End();

    /// <summary>The newest minor version the pooler speaks (3.0) and the options it does not know.</summary>
    public static MessageBuilder NegotiateProtocolVersion(this MessageBuilder builder, int newestMinorVersion, IReadOnlyCollection<string> unsupportedOptions)
    {
        builder.Begin((byte)BackendMessageCode.NegotiateProtocolVersion)
            .WriteInt32(newestMinorVersion)
            .WriteInt32(unsupportedOptions.Count);
        foreach (var option in unsupportedOptions)
        {
            builder.WriteCString(option);
        }

        return builder.End();
    }

    /// <summary>A RowDescription of text-format columns: (name, type OID, type size: -1 for variable length).</summary>
    public static MessageBuilder RowDescription(this MessageBuilder builder, IReadOnlyList<(string Name, int TypeOid, short TypeSize)> columns)
    {
        builder.Begin((byte)BackendMessageCode.RowDescription).WriteInt16((short)columns.Count);
        foreach (var (name, typeOid, typeSize) in columns)
        {
            builder.WriteCString(name).WriteInt32(0).WriteInt16(0).WriteInt32(typeOid).WriteInt16(typeSize).WriteInt32(-1).WriteInt16(0);
        }

        return builder.End();
    }

    /// <summary>A DataRow of text values; null is SQL NULL.</summary>
    public static MessageBuilder DataRow(this MessageBuilder builder, IReadOnlyList<string?> values) =>
        builder.Begin((byte)BackendMessageCode.DataRow).WriteTextValues(values).End();

    public static MessageBuilder CommandComplete(this MessageBuilder builder, string tag) =>
        builder.Begin((byte)BackendMessageCode.CommandComplete).WriteCString(tag).End();

    public static MessageBuilder EmptyQueryResponse(this MessageBuilder builder) =>
        builder.Begin((byte)BackendMessageCode.EmptyQueryResponse).End();

    public static MessageBuilder Error(this MessageBuilder builder, PgError error) =>
        error.WriteTo(builder, (byte)BackendMessageCode.ErrorResponse);

    public static MessageBuilder Notice(this MessageBuilder builder, PgError notice) =>
        notice.WriteTo(builder, (byte)BackendMessageCode.NoticeResponse);
}
