using Serilog.Events;
using Serilog.Formatting;

namespace PgBouncerActors.Hosting;

/// <summary>
/// The console when systemd's journal reads it: each line begins with its syslog priority
/// (<c>&lt;3&gt;</c> error ... <c>&lt;7&gt;</c> debug, sd-daemon(3)) and carries no timestamp, as
/// journald stamps it; so <c>journalctl -p warning -u pgbouncer-actors</c> shows the warnings.
/// </summary>
/// <param name="line">The line after the priority: the message (text) or the JSON object (log_format = json).</param>
internal sealed class JournalFormatter(ITextFormatter line) : ITextFormatter
{
    /// <summary>
    /// Whether standard output is the stream systemd named in JOURNAL_STREAM ("device:inode"), not a
    /// file or pipe it was redirected to since (sd-daemon's rule); the inode is compared, from
    /// /proc/self/fd/1 ("socket:[12345]").
    /// </summary>
    public static bool StandardOutputIsJournal()
    {
        if (Environment.GetEnvironmentVariable("JOURNAL_STREAM") is not { } stream || stream.Split(':') is not [_, var inode])
        {
            return false;
        }

        try
        {
            var target = new FileInfo("/proc/self/fd/1").LinkTarget ?? "";
            return target.EndsWith($":[{inode}]", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void Format(LogEvent logEvent, TextWriter output)
    {
        output.Write(logEvent.Level switch
        {
            LogEventLevel.Fatal => "<2>",
            LogEventLevel.Error => "<3>",
            LogEventLevel.Warning => "<4>",
            LogEventLevel.Information => "<6>",
            _ => "<7>",
        });
        line.Format(logEvent, output);
    }
}
