using PgBouncerActors.Configuration;

namespace PgBouncerActors.Hosting;

/// <summary>
/// PgBouncer's pidfile: checked before the pooler starts (a live process named in it stops this
/// one, a stale one is removed), written once the pooler listens, removed when it stops (SIGQUIT
/// included). Scripts and the -d daemon's operators find the process through it.
/// </summary>
internal sealed class PidFile : IDisposable
{
    private readonly string _path;
    private bool _written;

    private PidFile(string path) => _path = path;

    /// <summary>Null when no pidfile is configured; otherwise checked (see the class).</summary>
    public static PidFile? Claim(string? path, Action<string> log)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        if (File.Exists(path))
        {
            string text;
            try
            {
                text = File.ReadAllText(path).Trim();
            }
            catch (IOException e)
            {
                throw new ConfigurationException($"could not read pidfile '{path}': {e.Message}");
            }

            if (int.TryParse(text, out var pid) && pid > 0 && Posix.IsAlive(pid))
            {
                throw new ConfigurationException($"pidfile '{path}' exists, another instance running?");
            }

            log("stale pidfile, removing");
            File.Delete(path);
        }

        return new PidFile(path);
    }

    /// <summary>
    /// This process's id, in a file that did not exist (another instance racing this one fails here).
    /// Written whole beside it, then linked into place: whoever sees the file (systemd's PIDFile=, a
    /// script polling for it) reads the whole id, never an empty file caught between create and write.
    /// </summary>
    public void Write()
    {
        var written = $"{_path}.{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllText(written, $"{Environment.ProcessId}\n");
            File.Move(written, _path, overwrite: false); // link(2) then unlink(2) on Unix: fails when the file exists
        }
        catch (IOException e)
        {
            throw new ConfigurationException($"could not open pidfile '{_path}': {e.Message}");
        }
        finally
        {
            File.Delete(written); // nothing there once moved
        }

        _written = true;
    }

    /// <summary>Removes the file if this process wrote it; safe to call twice (the fast exit and the normal end).</summary>
    public void Dispose()
    {
        if (!_written)
        {
            return;
        }

        _written = false;
        try
        {
            File.Delete(_path);
        }
        catch (IOException)
        {
            // a pidfile left behind is found stale by the next start
        }
    }
}
