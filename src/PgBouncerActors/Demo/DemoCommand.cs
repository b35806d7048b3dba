using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;

namespace PgBouncerActors.Demo;

/// <summary>
/// <c>pgbouncer-actors demo</c>: a scratch PostgreSQL with the pooler in front, for a first look
/// on a machine where nothing is configured. Ctrl-C stops both.
/// </summary>
internal static class DemoCommand
{
    public static async Task<int> RunAsync(int port, ProcessSignals signals)
    {
        Console.WriteLine("demo: starting a scratch PostgreSQL cluster in a temp folder ...");
        await using var cluster = await ScratchCluster.StartAsync("trust", Console.Out).ConfigureAwait(false);
        var settings = SettingsLoader.LoadString($$"""
            pgbouncer { listen_addr = 127.0.0.1, listen_port = {{port}}, auth_type = trust, pool_mode = session, default_pool_size = 10,
                        admin_users = {{ScratchCluster.Superuser}} }
            databases { "*" { host = 127.0.0.1, port = {{cluster.Port}} } }
            pgbouncer-actors { metrics { port = {{ScratchCluster.FreePort()}} } }
            """, "demo");
        using var log = Logging.Create(settings);
        var host = PoolerHost.Start(settings, log.Logger);
        host.Operate(signals, log); // SIGHUP and RELOAD say there is no file to reload
        Console.WriteLine();
        Console.WriteLine($"demo: the pooler is listening on 127.0.0.1:{host.Port}. Connect with:");
        Console.WriteLine($"    psql -h 127.0.0.1 -p {host.Port} -U {ScratchCluster.Superuser} postgres");
        Console.WriteLine($"and watch it on its admin console:");
        Console.WriteLine($"    psql -h 127.0.0.1 -p {host.Port} -U {ScratchCluster.Superuser} pgbouncer -c 'SHOW POOLS'");
        Console.WriteLine($"and on its dashboard (Prometheus's /metrics on the same port):");
        Console.WriteLine($"    http://127.0.0.1:{host.MetricsPort}/");
        Console.WriteLine("demo: Ctrl-C stops the pooler and the scratch cluster.");
        Console.WriteLine();
        await host.StopAsync(await signals.StopRequested.ConfigureAwait(false)).ConfigureAwait(false);
        Console.WriteLine("demo: stopping the scratch cluster ...");
        if (host.FatalError is { } fatal)
        {
            Console.Error.WriteLine($"demo: {fatal}");
            return 1;
        }

        return 0;
    }
}
