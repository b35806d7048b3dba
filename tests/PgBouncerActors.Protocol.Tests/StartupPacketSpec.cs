using PgBouncerActors.Protocol.Messages;
using Xunit;

namespace PgBouncerActors.Protocol.Tests;

public sealed class StartupPacketSpec
{
    private static byte[] PayloadOf(MessageBuilder builder) => builder.ToArray()[4..];

    [Fact]
    public void A_startup_message_gives_its_version_and_parameters_in_order()
    {
        var packet = StartupPacket.Parse(PayloadOf(new MessageBuilder().StartupMessage([new("user", "alice"), new("database", "app"), new("application_name", "späti")])));
        Assert.Equal(StartupPacketKind.Startup, packet.Kind);
        Assert.Equal((3, 0), (packet.MajorVersion, packet.MinorVersion));
        Assert.Equal(["user", "database", "application_name"], packet.Parameters.Select(p => p.Key));
        Assert.Equal("späti", packet.Parameters[2].Value);
    }

    [Fact]
    public void Ssl_and_cancel_requests_are_recognised_by_their_codes()
    {
        Assert.Equal(StartupPacketKind.SslRequest, StartupPacket.Parse(PayloadOf(new MessageBuilder().SslRequest())).Kind);
        var cancel = StartupPacket.Parse(PayloadOf(new MessageBuilder().CancelRequest(1234, -99)));
        Assert.Equal((StartupPacketKind.CancelRequest, 1234, -99), (cancel.Kind, cancel.CancelProcessId, cancel.CancelSecretKey));
    }

    [Fact]
    public void An_unterminated_parameter_list_is_a_format_error()
    {
        byte[] payload = [0, 3, 0, 0, (byte)'u', (byte)'s', (byte)'e', (byte)'r', 0, (byte)'x'];
        Assert.Throws<FormatException>(() => StartupPacket.Parse(payload));
    }

    [Fact]
    public void Errors_round_trip_with_severity_sqlstate_message_and_hint()
    {
        var bytes = PgError.FatalError(SqlStates.TooManyConnections, "no more connections allowed", hint: "raise it").ToErrorResponse();
        Assert.Equal((byte)'E', bytes[0]);
        var parsed = PgError.Parse(bytes.AsSpan(5));
        Assert.Equal(("FATAL", "53300", "no more connections allowed", "raise it"), (parsed.Severity, parsed.SqlState, parsed.Message, parsed.Hint));
        Assert.True(parsed.IsFatal);
    }
}
