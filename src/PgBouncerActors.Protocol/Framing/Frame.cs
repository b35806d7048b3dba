using System.Buffers;

namespace PgBouncerActors.Protocol.Framing;

/// <summary>
/// One complete message in a pipe's buffer. Valid only until the reader advances past it:
/// copy with <see cref="ToMessage"/> to keep it.
/// </summary>
public readonly struct Frame(byte code, ReadOnlySequence<byte> payload)
{
    /// <summary>The type byte, or 0 for the untyped startup packet.</summary>
    public byte Code { get; } = code;

    /// <summary>The bytes after the length field.</summary>
    public ReadOnlySequence<byte> Payload { get; } = payload;

    public PgMessage ToMessage() => new(Code, Payload.ToArray());
}

/// <summary>A message copied out of the pipe, for the low-rate paths (startup, authentication, login).</summary>
public sealed record PgMessage(byte Code, byte[] Payload)
{
    public char Type => (char)Code;
}
