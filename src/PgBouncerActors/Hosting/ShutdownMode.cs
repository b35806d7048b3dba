namespace PgBouncerActors.Hosting;

/// <summary>
/// PgBouncer 1.25's three ways to stop. In the first two, no new client is accepted over TCP (the
/// Unix socket stays open for the admin console, and refuses every other database with "pooler is
/// shutting down"), clients already connected go on, and a second SIGINT or SIGTERM exits at once.
/// Here each wait is bounded by shutdown_timeout, after which the rest are closed with 57P01.
/// </summary>
public enum ShutdownMode
{
    /// <summary>SIGTERM, SHUTDOWN WAIT_FOR_CLIENTS: stop once every client has left.</summary>
    WaitForClients,

    /// <summary>
    /// SIGINT, SHUTDOWN WAIT_FOR_SERVERS: no new transaction begins: a client that asks for a server
    /// connection, or waits for one, is closed with "server shutting down" (PgBouncer's words); stop
    /// once no server connection is in use.
    /// </summary>
    WaitForServers,

    /// <summary>SHUTDOWN: close every client now (57P01) and stop.</summary>
    Immediate,
}

/// <summary>What a client that wants a server connection during SHUTDOWN WAIT_FOR_SERVERS is told.</summary>
internal static class ShutdownRefusal
{
    public static Protocol.Messages.PgError ServerShuttingDown { get; } = Protocol.Messages.PgError.FatalError(Protocol.Messages.SqlStates.AdminShutdown,
        "server shutting down", hint: "SHUTDOWN WAIT_FOR_SERVERS or SIGINT: the pooler lets running transactions end, and begins no new one");
}
