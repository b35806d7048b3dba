using System.Buffers.Binary;
using System.Text;

namespace PgBouncerActors.Protocol.Messages;

public enum StartupPacketKind
{
    Startup,
    SslRequest,
    GssEncRequest,
    CancelRequest,
}

/// <summary>The untyped first packet of a connection, parsed (the length is already stripped).</summary>
public sealed record StartupPacket(StartupPacketKind Kind, int ProtocolVersion)
{
    /// <summary>Name/value pairs of a StartupMessage, in the order sent.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = [];

    public int CancelProcessId { get; init; }

    public int CancelSecretKey { get; init; }

    public int MajorVersion => ProtocolVersion >>> 16;

    public int MinorVersion => ProtocolVersion & 0xFFFF;

    /// <exception cref="FormatException">a packet that is not a valid startup, SSL, GSS or cancel request.</exception>
    public static StartupPacket Parse(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 4)
        {
            throw new FormatException("the startup packet is too short to hold a protocol version");
        }

        var code = BinaryPrimitives.ReadInt32BigEndian(payload);
        var rest = payload[4..];
        switch (code)
        {
            case StartupCodes.SslRequest:
                return new StartupPacket(StartupPacketKind.SslRequest, code);
            case StartupCodes.GssEncRequest:
                return new StartupPacket(StartupPacketKind.GssEncRequest, code);
            case StartupCodes.CancelRequest when rest.Length == 8:
                return new StartupPacket(StartupPacketKind.CancelRequest, code)
                {
                    CancelProcessId = BinaryPrimitives.ReadInt32BigEndian(rest),
                    CancelSecretKey = BinaryPrimitives.ReadInt32BigEndian(rest[4..]),
                };
            case StartupCodes.CancelRequest:
                throw new FormatException($"a cancel request must carry 8 bytes of key, not {rest.Length}");
        }

        // Another protocol version lays its packet out differently: only 3.x is read further.
        return new StartupPacket(StartupPacketKind.Startup, code) { Parameters = code >>> 16 == 3 ? ParseParameters(rest) : [] };
    }

    /// <summary>NUL-terminated name/value pairs, ended by an empty name.</summary>
    private static List<KeyValuePair<string, string>> ParseParameters(ReadOnlySpan<byte> rest)
    {
        var parameters = new List<KeyValuePair<string, string>>();
        while (true)
        {
            var nameEnd = rest.IndexOf((byte)0);
            if (nameEnd < 0)
            {
                throw new FormatException("the startup packet's parameter list is not terminated");
            }

            if (nameEnd == 0)
            {
                return parameters;
            }

            var name = Encoding.UTF8.GetString(rest[..nameEnd]);
            rest = rest[(nameEnd + 1)..];
            var valueEnd = rest.IndexOf((byte)0);
            if (valueEnd < 0)
            {
                throw new FormatException($"startup parameter \"{name}\" has no terminated value");
            }

            parameters.Add(new(name, Encoding.UTF8.GetString(rest[..valueEnd])));
            rest = rest[(valueEnd + 1)..];
        }
    }
}
