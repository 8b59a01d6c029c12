// The playground's host: starts the cluster and a web server beside it, and stops both. The
// routes are in Playground.Routes.cs, the live updates in Playground.Events.cs.
using System.Globalization;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RaftPlayground;

/// <summary>
/// A running playground. <c>await using var p = await Playground.StartAsync(options);</c> starts
/// the cluster and the page; disposing stops both, and returns once no task of theirs is left
/// running and every port is closed.
/// </summary>
public sealed partial class Playground : IAsyncDisposable
{
    /// <summary>
    /// The API's JSON: camelCase, as a browser's code expects, and quotes left as they are, so
    /// a reason reads plainly in curl (the answers are JSON documents, never pasted into HTML).
    /// </summary>
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The lines and state spans the page shows.</summary>
    private readonly LiveLog _log;

    /// <summary>Runs the page's KV requests.</summary>
    private readonly KvConsole _console;

    /// <summary>The web server of the page and the API.</summary>
    private readonly WebApplication _app;

    /// <summary>Cancelled when the playground stops: live updates and console requests end.</summary>
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Runs the ready-made scenarios.</summary>
    private readonly Scenarios _scenarios;

    /// <summary>1 once <see cref="StopAsync"/> has begun.</summary>
    private int _stopped;

    private Playground(Cluster cluster, LiveLog log, WebApplication app, PlaygroundOptions options)
    {
        Cluster = cluster;
        _log = log;
        _console = new KvConsole(cluster, log);
        _scenarios = new Scenarios(cluster, log, options.ScenarioPause, options.ScenarioStepHook);
        _app = app;
    }

    /// <summary>The page's address.</summary>
    public Uri Address { get; private set; } = new("http://localhost/");

    /// <summary>The cluster, for tests that look behind the API.</summary>
    internal Cluster Cluster { get; }

    /// <summary>The lines and spans the page shows, for the tests, which may look further back than the API's last 100 lines.</summary>
    internal LiveLog Log => _log;

    /// <summary>Each service's KV address ("127.0.0.1:port"), by id.</summary>
    public IReadOnlyList<string> KvAddrs => Cluster.KvAddrs;

    /// <summary>Starts the cluster, then the page; if the page cannot listen, the cluster is stopped again.</summary>
    public static async Task<Playground> StartAsync(PlaygroundOptions options)
    {
        // One clock for the cluster and the timeline, so that slowed down or paused, both are.
        var clock = new ClusterClock();
        var log = new LiveLog(options.Servers, clock);
        var cluster = new Cluster(options.Servers, options.KvPortList, log, clock);
        WebApplication? app = null;
        try
        {
            await cluster.StartAsync();
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
            builder.Logging.ClearProviders();
            app = builder.Build();
            app.Urls.Add($"http://{HostPart(options.Bind)}:{options.Port.ToString(CultureInfo.InvariantCulture)}");
            var playground = new Playground(cluster, log, app, options);
            var guard = new RequestGuard(options.WatchOnly, ctx => !options.EveryClientIsRemote
                && ctx.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip));
            playground.MapRoutes(app, guard);
            await app.StartAsync();
            string url = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
            int port = new Uri(url).Port;
            // Listening on every address: the page is printed as this machine's own address.
            IPAddress bind = IPAddress.Parse(options.Bind);
            string host = bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : HostPart(options.Bind);
            playground.Address = new Uri($"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}/");
            return playground;
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }
            await cluster.ShutdownAsync();
            log.Close();
            throw;
        }
    }

    /// <summary>
    /// Stops a running scenario and the page first (live updates end, console requests give up),
    /// then the cluster, then waits a little for the services' tasks to end. Safe to call twice.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }
        await _stopping.CancelAsync();
        await _scenarios.StopAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(timeout.Token);
        }
        await _app.DisposeAsync();
        await Cluster.ShutdownAsync();
        _log.Close();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (Cluster.RunningTasks().Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        _stopping.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>An address as a URL's host: an IPv6 one in brackets.</summary>
    private static string HostPart(string address) =>
        IPAddress.Parse(address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address;

    /// <summary>Tasks of the cluster still running; empty once <see cref="StopAsync"/> has returned, unless something leaked.</summary>
    public IReadOnlyList<string> RunningTasks() => Cluster.RunningTasks();
}
