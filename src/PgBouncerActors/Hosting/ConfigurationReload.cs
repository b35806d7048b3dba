using System.Collections;
using PgBouncerActors.Configuration;

namespace PgBouncerActors.Hosting;

/// <summary>
/// SIGHUP: the configuration file is read again and what can change safely while clients are
/// connected takes effect at once: the auth_file's users and secrets, and log_level. Every other
/// setting that changed is named in the log as needing a restart, so nobody believes it applied.
/// </summary>
internal static class ConfigurationReload
{
    /// <summary>The settings a reload applies (auth_file is re-read even when only its contents changed).</summary>
    private static readonly HashSet<string> AppliedLive = [nameof(PoolerSettings.AuthFile), nameof(PoolerSettings.UserList), nameof(PoolerSettings.LogLevel)];

    /// <summary>Re-reads <paramref name="file"/> and applies it; every outcome is logged, a bad file changes nothing.</summary>
    public static void Run(string file, PoolerHost host, PoolerLog log)
    {
        PoolerSettings reloaded;
        try
        {
            reloaded = SettingsLoader.LoadFile(file, Environment.GetEnvironmentVariable);
        }
        catch (ConfigurationException e)
        {
            log.Logger.Error("SIGHUP: {File} not reloaded, the running configuration stays: {Error}", file, e.Message);
            return;
        }

        host.ReplaceUserList(reloaded.UserList);
        log.Logger.Information("SIGHUP: reloaded {File}: auth_file {AuthFile} ({Users} users), log_level {Level}",
            file, reloaded.AuthFile ?? "(none)", reloaded.UserList.Count, reloaded.LogLevel);
        log.SetLevel(reloaded.LogLevel); // after saying so, at the level the operator had until now
        if (ChangedNeedingRestart(host.Settings, reloaded) is { Count: > 0 } changed)
        {
            log.Logger.Warning("SIGHUP: changed in {File} but applied only after a restart: {Settings}", file, string.Join(", ", changed));
        }
    }

    /// <summary>The settings that differ between the running and the reloaded configuration, other than those a reload applies.</summary>
    public static IReadOnlyList<string> ChangedNeedingRestart(PoolerSettings running, PoolerSettings reloaded) =>
        typeof(PoolerSettings).GetProperties()
            .Where(property => !AppliedLive.Contains(property.Name) && !Same(property.GetValue(running), property.GetValue(reloaded)))
            .Select(property => property.Name)
            .ToList();

    private static bool Same(object? left, object? right) => (left, right) switch
    {
        (IDictionary a, IDictionary b) => a.Count == b.Count && a.Keys.Cast<object>().All(key => b.Contains(key) && Equals(a[key], b[key])),
        (IReadOnlySet<string> a, IReadOnlySet<string> b) => a.SetEquals(b),
        _ => Equals(left, right),
    };
}
