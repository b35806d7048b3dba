using System.Net.Sockets;
using System.Runtime.InteropServices;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Net;

/// <summary>
/// The Unix socket clients reach without a host (psql without -h, libpq's default): the file
/// <c>.s.PGSQL.&lt;port&gt;</c> in unix_socket_dir, as PostgreSQL and PgBouncer name it, with
/// unix_socket_mode and unix_socket_group applied. A socket file left by a pooler that died is
/// replaced; one that a live process answers on is not taken from it.
/// </summary>
internal static class UnixSocketListener
{
    public static string PathFor(string directory, int port) => Path.Combine(directory, $".s.PGSQL.{port}");

    /// <summary>Binds and listens; null when unix_socket_dir is empty (off).</summary>
    public static Socket? Bind(PoolerSettings settings, int port)
    {
        if (settings.UnixSocketDirectory.Length == 0)
        {
            return null;
        }

        var path = PathFor(settings.UnixSocketDirectory, port);
        RemoveIfStale(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, (UnixFileMode)settings.UnixSocketMode);
            }

            if (settings.UnixSocketGroup.Length > 0)
            {
                SetGroup(path, settings.UnixSocketGroup);
            }

            socket.Listen(1024);
            return socket;
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            socket.Dispose();
            throw new ConfigurationException($"cannot listen on the Unix socket {path}: {e.Message}", e);
        }
    }

    /// <summary>Removes the socket file when the pooler stops, so that the next start finds the name free.</summary>
    public static void Remove(Socket socket)
    {
        var path = socket.LocalEndPoint?.ToString();
        socket.Dispose();
        if (path is { Length: > 0 })
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone already, or not ours to remove
            }
        }
    }

    /// <summary>
    /// Whether the process at the other end of an accepted Unix socket runs as this pooler's OS
    /// user (SO_PEERCRED): PgBouncer lets such a client into the admin console without a password.
    /// </summary>
    public static bool PeerIsThisUser(Socket socket) => PeerUid(socket) is { } uid && uid == geteuid();

    /// <summary>
    /// The OS user name of the process at the other end of a Unix socket (hba's peer method), or
    /// null over TCP, off Linux, or for a uid with no name.
    /// </summary>
    public static string? PeerUserName(Socket socket)
    {
        if (PeerUid(socket) is not { } uid)
        {
            return null;
        }

        // struct passwd { char *pw_name; ... } is 48 bytes on 64-bit Linux; getpwuid_r fills it and buffer.
        var entry = Marshal.AllocHGlobal(64);
        var buffer = Marshal.AllocHGlobal(16 * 1024);
        try
        {
            return getpwuid_r(uid, entry, buffer, 16 * 1024, out var found) == 0 && found != IntPtr.Zero
                ? Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(entry))
                : null;
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
            Marshal.FreeHGlobal(entry);
        }
    }

    /// <summary>SO_PEERCRED's uid of the process at the other end; null over TCP or off Linux.</summary>
    private static uint? PeerUid(Socket socket)
    {
        if (socket.AddressFamily != AddressFamily.Unix || !OperatingSystem.IsLinux())
        {
            return null;
        }

        Span<byte> credentials = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try
        {
            return socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials) == 12 ? BitConverter.ToUInt32(credentials[4..8]) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    private static void RemoveIfStale(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path); // nobody listens: left by a pooler that did not stop cleanly
            return;
        }

        throw new ConfigurationException($"cannot listen on the Unix socket {path}: another process is listening on it");
    }

    private static void SetGroup(string path, string group)
    {
        var entry = getgrnam(group);
        if (entry == IntPtr.Zero)
        {
            throw new ConfigurationException($"unix_socket_group: no group named '{group}'");
        }

        // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }: the gid follows two pointers.
        var gid = (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
        if (chown(path, uint.MaxValue, gid) != 0) // (uid_t)-1: leave the owner
        {
            throw new ConfigurationException($"unix_socket_group: cannot give {path} to group '{group}': errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr getgrnam(string name);

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern int getpwuid_r(uint uid, IntPtr entry, IntPtr buffer, nuint length, out IntPtr found);

    [DllImport("libc", SetLastError = true)]
    private static extern int chown(string path, uint owner, uint group);
}
