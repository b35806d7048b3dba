using System.Runtime.InteropServices;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Hosting;

/// <summary>The few process calls PgBouncer makes and .NET does not offer: a new session for a daemon, a change of identity, an immediate exit.</summary>
internal static class Posix
{
    /// <summary>Whether a process with this id exists (kill(pid, 0): EPERM means it does, as someone else's).</summary>
    public static bool IsAlive(int pid) => kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == EPERM;

    /// <summary>Detaches from the terminal's session, as a daemon does after its fork.</summary>
    public static void NewSession() => _ = setsid();

    /// <summary>Ends the process now: no finalizers, no shutdown hooks (SIGQUIT's fast exit, after the pidfile and the log are done).</summary>
    public static void ExitNow(int status) => _exit(status);

    public static bool IsRoot => getuid() == 0;

    /// <summary>
    /// A process started in the background by a script (<c>pooler &amp;</c>, without job control)
    /// inherits SIGINT and SIGQUIT ignored, and .NET then never delivers them to a
    /// PosixSignalRegistration. PgBouncer answers them however it was started, so this pooler puts
    /// them back to their default before it registers its own handling (before anything in the
    /// runtime has looked at them).
    /// </summary>
    public static void TakeBackInterruptAndQuit()
    {
        _ = signal(SIGINT, IntPtr.Zero); // SIG_DFL
        _ = signal(SIGQUIT, IntPtr.Zero);
    }

    private const int SIGINT = 2;
    private const int SIGQUIT = 3;

    [DllImport("libc")]
    private static extern IntPtr signal(int signal, IntPtr handler);

    /// <summary>
    /// PgBouncer's <c>user</c> setting and <c>-u</c>: started as root, become USER (its groups, then
    /// its uid) before anything is opened; started as USER already, nothing to do; anyone else cannot.
    /// </summary>
    public static void BecomeUser(string user)
    {
        var entry = getpwnam(user);
        if (entry == IntPtr.Zero)
        {
            throw new ConfigurationException($"could not find user '{user}' to switch to");
        }

        // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; ... }
        var uid = (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
        var gid = (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size + 4);
        if (getuid() == uid)
        {
            return;
        }

        if (getuid() != 0)
        {
            throw new ConfigurationException($"cannot switch to user '{user}': only root can (the pooler runs as uid {getuid()})");
        }

        if (initgroups(user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        {
            throw new ConfigurationException($"could not switch to user '{user}': errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private const int EPERM = 1;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [DllImport("libc")]
    private static extern int setsid();

    [DllImport("libc")]
    private static extern void _exit(int status);

    [DllImport("libc")]
    private static extern uint getuid();

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr getpwnam(string name);

    [DllImport("libc", SetLastError = true)]
    private static extern int initgroups(string user, uint group);

    [DllImport("libc", SetLastError = true)]
    private static extern int setgid(uint gid);

    [DllImport("libc", SetLastError = true)]
    private static extern int setuid(uint uid);
}
