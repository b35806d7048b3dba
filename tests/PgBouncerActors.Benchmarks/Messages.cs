using System.Buffers;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Benchmarks;

/// <summary>The wire bytes of one pgbench -S transaction in each direction, as the benchmarks feed them.</summary>
internal static class Messages
{
    private const string Select = "SELECT abalance FROM pgbench_accounts WHERE aid = 42;";

    /// <summary>Extended protocol: Parse, Bind, Describe, Execute, Sync.</summary>
    public static byte[] ExtendedRequest() =>
        new MessageBuilder().Parse("", Select).Bind("", "").Describe('P', "").Execute("").Sync().WrittenMemory.ToArray();

    /// <summary>A named statement's first use: Parse, Sync (as pgbench -M prepared prepares it).</summary>
    public static byte[] PrepareRequest(string name) => new MessageBuilder().Parse(name, Select.Replace("42", "$1")).Sync().WrittenMemory.ToArray();

    public static byte[] PrepareAnswer() => new MessageBuilder().ParseComplete().ReadyForQuery().WrittenMemory.ToArray();

    /// <summary>A transaction of a named statement: Bind with one parameter, Describe, Execute, Sync.</summary>
    public static byte[] PreparedRequest(string name) =>
        new MessageBuilder().Begin((byte)'B').WriteCString("").WriteCString(name).WriteInt16(0).WriteInt16(1).WriteInt32(2).WriteBytes("42"u8)
            .WriteInt16(0).End().Describe('P', "").Execute("").Sync().WrittenMemory.ToArray();

    /// <summary>BindComplete, RowDescription, one DataRow, CommandComplete, ReadyForQuery.</summary>
    public static byte[] PreparedAnswer() => Answer(extended: false, bound: true);

    public static byte[] SimpleRequest() => new MessageBuilder().Query(Select).WrittenMemory.ToArray();

    public static ReadOnlySequence<byte> SelectText() => new(System.Text.Encoding.UTF8.GetBytes(Select));

    /// <summary>ParseComplete, BindComplete, RowDescription, one DataRow, CommandComplete, ReadyForQuery.</summary>
    public static byte[] ExtendedAnswer() => Answer(extended: true);

    /// <summary>RowDescription, one DataRow, CommandComplete, ReadyForQuery.</summary>
    public static byte[] SimpleAnswer() => Answer(extended: false);

    private static byte[] Answer(bool extended, bool bound = false)
    {
        var builder = new MessageBuilder();
        if (extended)
        {
            builder.Begin((byte)'1').End().Begin((byte)'2').End();
        }
        else if (bound)
        {
            builder.Begin((byte)'2').End();
        }

        builder.Begin((byte)'T').WriteInt16(1).WriteCString("abalance").WriteInt32(0).WriteInt16(0).WriteInt32(23).WriteInt16(4)
            .WriteInt32(-1).WriteInt16(0).End();
        builder.Begin((byte)'D').WriteInt16(1).WriteInt32(1).WriteByte((byte)'0').End();
        builder.Begin((byte)'C').WriteCString("SELECT 1").End();
        return builder.ReadyForQuery().WrittenMemory.ToArray();
    }

    /// <summary>A ParameterStatus as a SET TimeZone answers with it.</summary>
    public static byte[] ParameterStatusPayload() => "TimeZone\0Europe/Berlin\0"u8.ToArray();
}
