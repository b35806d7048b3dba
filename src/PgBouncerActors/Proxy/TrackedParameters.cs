namespace PgBouncerActors.Proxy;

/// <summary>
/// The server-reported parameters a client may change and the pooler therefore keeps per client
/// in transaction and statement modes: client_encoding, DateStyle, IntervalStyle, TimeZone,
/// standard_conforming_strings, application_name and whatever else the server reports, except
/// those that describe the server or the login and cannot be SET.
/// </summary>
internal static class TrackedParameters
{
    private static readonly HashSet<string> ReadOnly = new(StringComparer.OrdinalIgnoreCase)
    {
        "server_version", "server_encoding", "integer_datetimes", "in_hot_standby", "is_superuser",
        "session_authorization", "scram_iterations",
    };

    public static bool IsTracked(string name) => !ReadOnly.Contains(name);
}
