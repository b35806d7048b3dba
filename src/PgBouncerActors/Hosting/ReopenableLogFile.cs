using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace PgBouncerActors.Hosting;

/// <summary>
/// The log file (pgbouncer.logfile), closed and opened again by name on every reload, as
/// PgBouncer does: logrotate moves the file and sends SIGHUP, and the lines after it go to a new
/// file of that name instead of the moved one. A changed <c>logfile</c> (RELOAD, SET) is followed
/// the same way; an empty one stops the file.
/// </summary>
public sealed class ReopenableLogFile(ITextFormatter formatter) : ILogEventSink, IDisposable
{
    // Held while a line is written and while the file changes: a line goes wholly to the old file or the new one.
    private readonly Lock _gate = new();
    private Logger? _file;

    public string? Path { get; private set; }

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            _file?.Write(logEvent);
        }
    }

    /// <summary>Closes the file in use and opens <paramref name="path"/> (null: none), creating it when it is not there.</summary>
    /// <returns>Why the new file could not be opened (the old one stays in use then); null when it was.</returns>
    public string? Reopen(string? path)
    {
        Logger? opened = null;
        if (path is not null)
        {
            try
            {
                // Opened here first: Serilog's file sink would swallow the failure and write nowhere.
                if (System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is { } folder)
                {
                    Directory.CreateDirectory(folder);
                }

                using (File.Open(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
                {
                }

                opened = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.File(formatter, path).CreateLogger();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                return e.Message;
            }
        }

        Logger? closed;
        lock (_gate)
        {
            closed = _file;
            _file = opened;
            Path = path;
        }

        closed?.Dispose();
        return null;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Dispose();
            _file = null;
        }
    }
}
