namespace PgBouncerActors.Protocol.Framing;

/// <summary>A byte stream that is not a sequence of well-formed PostgreSQL messages. The connection is broken.</summary>
public abstract class FramingException(string message) : Exception(message);

/// <summary>A frame declares more bytes than the configured maximum.</summary>
public sealed class FrameTooLargeException(byte code, long length, long maximum)
    : FramingException($"message {Describe(code)} declares {length} bytes, more than the limit of {maximum}")
{
    public long Length { get; } = length;

    /// <summary>The message's type byte (0 for the untyped startup packet).</summary>
    public byte Code { get; } = code;

    internal static string Describe(byte code) => code == 0 ? "(startup packet)" : $"'{(char)code}'";
}

/// <summary>A frame's length field is negative or smaller than the length field itself.</summary>
public sealed class InvalidFrameLengthException(byte code, int length)
    : FramingException($"message {FrameTooLargeException.Describe(code)} declares an invalid length of {length}")
{
    public int Length { get; } = length;
}

/// <summary>The stream ended in the middle of a frame.</summary>
public sealed class TruncatedFrameException(long bytesLeft)
    : FramingException($"the connection ended in the middle of a message ({bytesLeft} bytes of it received)");

/// <summary>A frame whose fixed layout is wrong: a ReadyForQuery without its one status byte, for one.</summary>
public sealed class MalformedMessageException(byte code, string what)
    : FramingException($"message {FrameTooLargeException.Describe(code)} is malformed: {what}");
