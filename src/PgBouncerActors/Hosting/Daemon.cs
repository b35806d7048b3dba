using System.Diagnostics;
using System.Reflection;

namespace PgBouncerActors.Hosting;

/// <summary>
/// PgBouncer's -d: the pooler goes on in the background and the command returns. A .NET process
/// cannot fork, so the command starts itself again, detached (its own session, standard streams on
/// /dev/null so that whoever captured the command's output is not held open by the daemon), and
/// exits 0; the second process knows it is the daemon by <see cref="ChildMarker"/>. As PgBouncer,
/// the first one checks the configuration and the pidfile before it goes, so a mistake is said on
/// the terminal, and the daemon needs a pidfile to be found again.
/// </summary>
internal static class Daemon
{
    private const string ChildMarker = "PGBOUNCER_ACTORS_DAEMON_CHILD";

    /// <summary>This process is the one -d started: it detaches from the terminal's session and runs.</summary>
    public static bool IsChild => Environment.GetEnvironmentVariable(ChildMarker) == "1";

    public static void BecomeChild()
    {
        Environment.SetEnvironmentVariable(ChildMarker, null); // not inherited by anything the pooler starts
        Posix.NewSession();
    }

    /// <summary>Starts the same command again in the background.</summary>
    public static void StartChild(IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // sh replaces itself with the pooler after pointing the three streams at /dev/null.
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$0\" \"$@\" </dev/null >/dev/null 2>&1");
        foreach (var part in Self())
        {
            start.ArgumentList.Add(part);
        }

        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment[ChildMarker] = "1";
        using var child = Process.Start(start) ?? throw new InvalidOperationException("could not start the daemon");
    }

    /// <summary>How this process was started: the apphost, or dotnet with the assembly.</summary>
    private static IEnumerable<string> Self()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell which executable runs");
        yield return process;
        if (Path.GetFileNameWithoutExtension(process) == "dotnet")
        {
            // Under dotnet the assembly is a file beside it (a single-file build runs as its own executable instead).
            yield return Path.Combine(AppContext.BaseDirectory, Assembly.GetEntryAssembly()!.GetName().Name + ".dll");
        }
    }
}
