namespace PgBouncerActors.Protocol.Messages;

/// <summary>The messages the pooler sends to a server in the client's role.</summary>
public static class FrontendMessages
{
    public static MessageBuilder StartupMessage(this MessageBuilder builder, IEnumerable<KeyValuePair<string, string>> parameters)
    {
        builder.BeginUntyped().WriteInt32(StartupCodes.ProtocolVersion3);
        foreach (var (name, value) in parameters)
        {
            builder.WriteCString(name).WriteCString(value);
        }

        return builder.WriteByte(0).End();
    }

    public static MessageBuilder CancelRequest(this MessageBuilder builder, int processId, int secretKey) =>
        builder.BeginUntyped().WriteInt32(StartupCodes.CancelRequest).WriteInt32(processId).WriteInt32(secretKey).End();

    public static MessageBuilder SslRequest(this MessageBuilder builder) =>
        builder.BeginUntyped().WriteInt32(StartupCodes.SslRequest).End();

    /// <summary>A PasswordMessage: a cleartext or md5 password, NUL-terminated.</summary>
    public static MessageBuilder PasswordMessage(this MessageBuilder builder, string password) =>
        builder.Begin((byte)FrontendMessageCode.Password).WriteCString(password).End();

    public static MessageBuilder SaslInitialResponse(this MessageBuilder builder, string mechanism, ReadOnlySpan<byte> data) =>
        builder.Begin((byte)FrontendMessageCode.Password)
            .WriteCString(mechanism)
            .WriteInt32(data.Length)
            .WriteBytes(data)
            .End();

    public static MessageBuilder SaslResponse(this MessageBuilder builder, ReadOnlySpan<byte> data) =>
        builder.Begin((byte)FrontendMessageCode.Password).WriteBytes(data).End();

    public static MessageBuilder Query(this MessageBuilder builder, string sql) =>
        builder.Begin((byte)FrontendMessageCode.Query).WriteCString(sql).End();

    /// <summary>Parse of a statement without declared parameter types (the server infers them).</summary>
    public static MessageBuilder Parse(this MessageBuilder builder, string statement, string sql) =>
        builder.Begin((byte)FrontendMessageCode.Parse).WriteCString(statement).WriteCString(sql).WriteInt16(0).End();

    /// <summary>Parse of a statement from the bytes that follow the name in a client's Parse (query text, parameter types).</summary>
    public static MessageBuilder Parse(this MessageBuilder builder, ReadOnlySpan<byte> statement, ReadOnlySpan<byte> body) =>
        builder.Begin((byte)FrontendMessageCode.Parse).WriteBytes(statement).WriteByte(0).WriteBytes(body).End();

    /// <summary>Close of a statement ('S') or a portal ('P').</summary>
    public static MessageBuilder Close(this MessageBuilder builder, char kind, ReadOnlySpan<byte> name) =>
        builder.Begin((byte)FrontendMessageCode.Close).WriteByte((byte)kind).WriteBytes(name).WriteByte(0).End();

    /// <summary>Describe of a statement ('S') or a portal ('P').</summary>
    public static MessageBuilder Describe(this MessageBuilder builder, char kind, ReadOnlySpan<byte> name) =>
        builder.Begin((byte)FrontendMessageCode.Describe).WriteByte((byte)kind).WriteBytes(name).WriteByte(0).End();

    /// <summary>Bind without parameters, all results in text.</summary>
    public static MessageBuilder Bind(this MessageBuilder builder, string portal, string statement) =>
        builder.Begin((byte)FrontendMessageCode.Bind).WriteCString(portal).WriteCString(statement)
            .WriteInt16(0).WriteInt16(0).WriteInt16(0).End();

    /// <summary>Bind with text parameters (null is SQL NULL), all results in text.</summary>
    public static MessageBuilder Bind(this MessageBuilder builder, string portal, string statement, IReadOnlyList<string?> parameters) =>
        builder.Begin((byte)FrontendMessageCode.Bind).WriteCString(portal).WriteCString(statement).WriteInt16(0)
            .WriteTextValues(parameters).WriteInt16(0).End();

    public static MessageBuilder Execute(this MessageBuilder builder, string portal, int maxRows = 0) =>
        builder.Begin((byte)FrontendMessageCode.Execute).WriteCString(portal).WriteInt32(maxRows).End();

    /// <summary>Describe of a statement ('S') or a portal ('P').</summary>
    public static MessageBuilder Describe(this MessageBuilder builder, char kind, string name) =>
        builder.Begin((byte)FrontendMessageCode.Describe).WriteByte((byte)kind).WriteCString(name).End();

    public static MessageBuilder Flush(this MessageBuilder builder) =>
        builder.Begin((byte)FrontendMessageCode.Flush).End();

    public static MessageBuilder CopyData(this MessageBuilder builder, ReadOnlySpan<byte> data) =>
        builder.Begin((byte)FrontendMessageCode.CopyData).WriteBytes(data).End();

    public static MessageBuilder CopyDone(this MessageBuilder builder) =>
        builder.Begin((byte)FrontendMessageCode.CopyDone).End();

    public static MessageBuilder CopyFail(this MessageBuilder builder, string reason) =>
        builder.Begin((byte)FrontendMessageCode.CopyFail).WriteCString(reason).End();

    public static MessageBuilder Sync(this MessageBuilder builder) =>
        builder.Begin((byte)FrontendMessageCode.Sync).End();

    public static MessageBuilder Terminate(this MessageBuilder builder) =>
        builder.Begin((byte)FrontendMessageCode.Terminate).End();
}
