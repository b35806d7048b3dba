using PgBouncerActors.Admin;
using PgBouncerActors.Configuration;
using Serilog;

namespace PgBouncerActors.Hosting;

/// <summary>
/// RELOAD and SIGHUP: the configuration file (and the auth_file it names) is read again, and
/// every setting that can change while clients are connected takes effect at once: the users
/// and secrets, the pool sizes, the timeouts, log_level, new databases (SHOW CONFIG's changeable
/// column says which). No client is dropped. A setting that cannot change at run time (the
/// listen address and port, pool_mode...) is named in the log and kept, so nobody believes it
/// applied. A file that fails to parse changes nothing and says why, with file:line:column.
/// </summary>
internal static class ConfigurationReload
{
    /// <summary>Re-reads <paramref name="file"/> and applies it.</summary>
    /// <returns>What happened, for the log and the console.</returns>
    /// <exception cref="ConfigurationException">The file could not be read; the running configuration stays.</exception>
    public static string Run(string file, PoolerServices services, ILogger log)
    {
        PoolerSettings reloaded;
        try
        {
            reloaded = SettingsLoader.LoadFile(file, Environment.GetEnvironmentVariable);
        }
        catch (ConfigurationException e)
        {
            log.Error("reload: {File} not reloaded, the running configuration stays: {Error}", file, e.Message);
            throw;
        }

        var running = services.Settings;
        var applied = ConfigView.TakeChangeable(running, reloaded);
        var changes = ConfigView.Changes(running, applied);
        var outcome = $"reloaded {file}: auth_file {reloaded.AuthFile ?? "(none)"} ({reloaded.UserList.Count} users), {reloaded.Databases.Count} database entries"
            + (changes.Count > 0 ? $"; changed: {string.Join(", ", changes)}" : "; no setting changed");
        log.Information("reload: {Outcome}", outcome); // before it applies: a log_level raised by the reload would hide it
        try
        {
            services.Apply(applied); // reads the TLS certificates again: a rotated one takes effect here
        }
        catch (ConfigurationException e)
        {
            log.Error("reload: {File} not applied after all, the running configuration stays: {Error}", file, e.Message);
            throw;
        }

        if (ConfigView.ChangedNeedingRestart(running, reloaded) is { Count: > 0 } restart)
        {
            log.Warning("reload: changed in {File} but applied only after a restart: {Settings}", file, string.Join(", ", restart));
        }

        return outcome;
    }
}
