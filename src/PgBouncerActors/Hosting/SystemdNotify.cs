using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace PgBouncerActors.Hosting;

/// <summary>
/// systemd's readiness protocol (sd_notify), as PgBouncer built with systemd speaks it: under a
/// unit with <c>Type=notify</c> (or <c>notify-reload</c>) systemd names a datagram socket in
/// NOTIFY_SOCKET, and the pooler says READY=1 once it listens, RELOADING=1 and READY=1 around a
/// SIGHUP reload, STOPPING=1 when it begins to shut down. `systemctl start` returns when the pooler
/// accepts clients, not when the process exists. Without NOTIFY_SOCKET every call does nothing.
/// </summary>
internal static class SystemdNotify
{
    private static readonly string? Socket = Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 1 } name ? name : null;

    /// <summary>Listening, the pidfile written: clients may come.</summary>
    public static void Ready() => Send("READY=1");

    /// <summary>A reload begins (with the monotonic time, which notify-reload units require).</summary>
    public static void Reloading() => Send($"RELOADING=1\nMONOTONIC_USEC={MonotonicMicroseconds()}");

    public static void Stopping() => Send("STOPPING=1");

    /// <summary>A line for `systemctl status` (the stats line, every stats_period, as PgBouncer's).</summary>
    public static void Status(string status) => Send($"STATUS={status}");

    /// <summary>CLOCK_MONOTONIC in µs: what Stopwatch reads on Linux.</summary>
    private static long MonotonicMicroseconds() => (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));

    private static void Send(string state)
    {
        if (Socket is not { } name)
        {
            return;
        }

        try
        {
            using var socket = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            // "@name" is Linux's abstract namespace (a leading NUL), as sd_notify reads it.
            var endpoint = new UnixDomainSocketEndPoint(name.StartsWith('@') ? "\0" + name[1..] : name);
            socket.SendTo(Encoding.UTF8.GetBytes(state), endpoint);
        }
        catch (SocketException)
        {
            // systemd went away or the socket is not ours to use: as sd_notify, readiness is best effort
        }
    }
}
