using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace PgBouncerActors.Net;

/// <summary>
/// Linux's POLLRDHUP: whether the peer has shut down its side of a connection, seen even with
/// bytes of it still unread (a TLS client's encrypted goodbye, a request it gave up on), which
/// <see cref="Socket.Poll"/> cannot tell from a peer still talking.
/// </summary>
internal static class PeerHangup
{
    private const short POLLIN = 0x0001;
    private const short POLLERR = 0x0008;
    private const short POLLHUP = 0x0010;
    private const short POLLRDHUP = 0x2000;

    /// <summary>How the peer hung up or the connection broke (for the log); null when it did not, or the system cannot say.</summary>
    public static string? Seen(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var watched = new PollFd { Fd = (int)socket.Handle, Events = POLLIN | POLLRDHUP };
        if (poll(ref watched, 1, 0) != 1)
        {
            return null;
        }

        return (watched.Revents & POLLERR) != 0 ? "the connection broke"
            : (watched.Revents & POLLHUP) != 0 ? "the connection is closed"
            : (watched.Revents & POLLRDHUP) != 0 ? "it shut down its side" : null;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int poll(ref PollFd fds, nuint count, int timeoutMs);
}
