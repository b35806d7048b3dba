using System.Text.Json;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using PgBouncerActors.Configuration;
using PgBouncerActors.Hosting;
using PgBouncerActors.Pool;
using PgBouncerActors.Stats;
using Prometheus;

namespace PgBouncerActors.Metrics;

/// <summary>
/// The HTTP side, on Kestrel from the shared framework: <c>/metrics</c> for Prometheus,
/// <c>/api/pools</c> (JSON) for the dashboard, and the dashboard itself at <c>/</c>. Every request
/// reads one snapshot of the pools from the registry actor, as SHOW POOLS does.
/// </summary>
internal sealed class MetricsServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private readonly WebApplication _app;
    private readonly PoolerServices _services;
    private readonly IActorRef _pools;
    private readonly PoolerMetrics _metrics;

    private MetricsServer(WebApplication app, PoolerServices services, IActorRef pools, PoolerMetrics metrics)
    {
        _app = app;
        _services = services;
        _pools = pools;
        _metrics = metrics;
    }

    /// <summary>The port it listens on (the one bound when the setting asked for a free one).</summary>
    public int Port { get; private set; }

    /// <summary>Binds and starts serving; a port in use fails here, at startup, naming it.</summary>
    /// <param name="sessions">The sessions actor, which counts the client sessions open (SHOW LISTS, as the console asks it).</param>
    public static MetricsServer Start(MetricsSettings settings, PoolerServices services, IActorRef pools, IActorRef sessions, PoolerMetrics metrics)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(Net.ListenAddress.Resolve(settings.ListenAddress), settings.Port));
        var app = builder.Build();
        var server = new MetricsServer(app, services, pools, metrics);
        metrics.Registry.AddBeforeCollectCallback(async cancellationToken =>
        {
            var figures = await server.FiguresAsync(cancellationToken).ConfigureAwait(false);
            var open = await sessions.Ask<int>(Session.CountSessions.Instance, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            metrics.Update(services, figures, open);
            if (await Admin.ClusterTables.GatherAsync(services, withShares: true, cancellationToken).ConfigureAwait(false) is { } cluster)
            {
                metrics.UpdateCluster(cluster);
            }
        });
        app.Run(server.ServeAsync);
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            throw new ConfigurationException($"cannot listen for /metrics on {settings.ListenAddress}:{settings.Port}: {e.Message}", e);
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Port = new Uri(address).Port;
        return server;
    }

    private async Task ServeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        if (path == "/metrics")
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await _metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }
        else if (path == "/api/pools")
        {
            context.Response.ContentType = "application/json";
            context.Response.Headers.CacheControl = "no-store";
            var figures = await FiguresAsync(context.RequestAborted).ConfigureAwait(false);
            await JsonSerializer.SerializeAsync(context.Response.Body, DashboardView.Of(figures, _services), Json, context.RequestAborted)
                .ConfigureAwait(false);
        }
        else if (DashboardFiles.Find(path) is { } file)
        {
            context.Response.ContentType = file.ContentType;
            await context.Response.Body.WriteAsync(file.Content, context.RequestAborted).ConfigureAwait(false);
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
        }
    }

    private async Task<IReadOnlyList<PoolFigures>> FiguresAsync(CancellationToken cancellationToken)
    {
        var described = await _pools.Ask<PoolsDescribed>(DescribePools.Instance, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        return PoolFigures.Of(_services, described.Pools);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
