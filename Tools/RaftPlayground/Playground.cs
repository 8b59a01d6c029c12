// The playground's host: the cluster, and a web server beside it for the page, its live updates
// (Server-Sent Events) and the JSON control API.
using System.Globalization;
using System.Net;
using System.Net.ServerSentEvents;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TestLogViz;

namespace RaftPlayground;

/// <summary>How to start a playground.</summary>
public sealed record PlaygroundOptions
{
    /// <summary>How many servers: 3 or 5.</summary>
    public int Servers { get; init; } = 5;

    /// <summary>The page's port; 0 for a free one.</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Service i's KV API listens on KvPortBase+i, as upstream's 14200+i; 0 for free ports.</summary>
    public int KvPortBase { get; init; } = 14200;

    /// <summary>Each service's KV port, when given: overrides <see cref="KvPortBase"/> (tests restart on the ports they were given).</summary>
    public IReadOnlyList<int>? KvPorts { get; init; }

    /// <summary>The address the page listens on: loopback, unless asked otherwise.</summary>
    public string Bind { get; init; } = "127.0.0.1";

    internal IReadOnlyList<int> KvPortList =>
        KvPorts ?? [.. Enumerable.Range(0, Servers).Select(i => KvPortBase == 0 ? 0 : KvPortBase + i)];
}

/// <summary>
/// A running playground. <c>await using var p = await Playground.StartAsync(options);</c> starts
/// the cluster and the page; disposing stops both, and returns once no task of theirs is left
/// running and every port is closed.
/// </summary>
public sealed class Playground : IAsyncDisposable
{
    /// <summary>How often the page gets a new state.</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    /// <summary>How much time a ribbon spans: the first minute fills it, then it slides.</summary>
    public const double TimelineMs = 60_000;

    /// <summary>The most log lines one update carries; a busy cluster writes far more than anyone reads.</summary>
    private const int MaxLinesPerUpdate = 300;

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

    /// <summary>1 once <see cref="StopAsync"/> has begun.</summary>
    private int _stopped;

    private Playground(Cluster cluster, LiveLog log, WebApplication app)
    {
        Cluster = cluster;
        _log = log;
        _console = new KvConsole(cluster, log);
        _app = app;
    }

    /// <summary>The page's address.</summary>
    public Uri Address { get; private set; } = new("http://localhost/");

    /// <summary>The cluster, for tests that look behind the API.</summary>
    internal Cluster Cluster { get; }

    /// <summary>Each service's KV address ("127.0.0.1:port"), by id.</summary>
    public IReadOnlyList<string> KvAddrs => Cluster.KvAddrs;

    /// <summary>Starts the cluster, then the page; if the page cannot listen, the cluster is stopped again.</summary>
    public static async Task<Playground> StartAsync(PlaygroundOptions options)
    {
        var log = new LiveLog(options.Servers);
        var cluster = new Cluster(options.Servers, options.KvPortList, log);
        WebApplication? app = null;
        try
        {
            await cluster.StartAsync();
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
            builder.Logging.ClearProviders();
            app = builder.Build();
            app.Urls.Add($"http://{HostPart(options.Bind)}:{options.Port.ToString(CultureInfo.InvariantCulture)}");
            var playground = new Playground(cluster, log, app);
            playground.MapRoutes(app);
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
    /// Stops the page first (live updates end, console requests give up), then the cluster, then
    /// waits a little for the services' tasks to end. Safe to call twice.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }
        await _stopping.CancelAsync();
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

    private void MapRoutes(WebApplication app)
    {
        // An unknown route or method gets its status with a one-line reason, like every error here.
        app.UseStatusCodePages(context =>
        {
            HttpContext ctx = context.HttpContext;
            int code = ctx.Response.StatusCode;
            return Results.Json(new { error = $"{code} {ReasonPhrases.GetReasonPhrase(code)}: {ctx.Request.Method} {ctx.Request.Path}" }, JsonOptions, statusCode: code).ExecuteAsync(ctx);
        });

        app.MapGet("/", () => Page("index.html", "text/html; charset=utf-8"));
        app.MapGet("/playground.js", () => Page("playground.js", "text/javascript; charset=utf-8"));
        app.MapGet("/playground.css", () => Page("playground.css", "text/css; charset=utf-8"));
        app.MapGet("/states.css", () => Results.Text(StateStyle.Css, "text/css; charset=utf-8"));

        app.MapGet("/api/state", () => Results.Json(State(0, 100), JsonOptions));
        app.MapGet("/api/events", (HttpContext ctx) => TypedResults.ServerSentEvents(EventsAsync(ctx.RequestAborted)));
        app.MapPost("/api/servers/{id}/{action}", (string id, string action) => Act(() => ServerActionAsync(id, action)));
        app.MapPost("/api/network/{mode}", (string mode) => Act(() => mode switch
        {
            "reliable" => Cluster.SetNetworkAsync(false),
            "unreliable" => Cluster.SetNetworkAsync(true),
            _ => throw new PlaygroundException(StatusCodes.Status400BadRequest, $"no network mode '{mode}': use reliable or unreliable"),
        }));
        app.MapPost("/api/kv/{op}", (string op, HttpContext ctx) => KvAsync(op, ctx));
    }

    /// <summary>The four fault actions by name, on a server id given as text so a bad one gets a reason, not a bare 404.</summary>
    private Task<string> ServerActionAsync(string id, string action)
    {
        if (!int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out int i))
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"'{id}' is not a server id: ids are 0 to {Cluster.Size - 1}");
        }
        return action switch
        {
            "crash" => Cluster.CrashAsync(i),
            "restart" => Cluster.RestartAsync(i),
            "disconnect" => Cluster.DisconnectAsync(i),
            "reconnect" => Cluster.ReconnectAsync(i),
            _ => throw new PlaygroundException(StatusCodes.Status404NotFound, $"no action '{action}': use crash, restart, disconnect or reconnect"),
        };
    }

    /// <summary>Runs an action and answers {"message"}, or its refusal as {"error"} with the refusal's status.</summary>
    private static async Task<IResult> Act(Func<Task<string>> action)
    {
        try
        {
            return Results.Json(new { message = await action() }, JsonOptions);
        }
        catch (PlaygroundException e)
        {
            return Error(e);
        }
    }

    private async Task<IResult> KvAsync(string op, HttpContext ctx)
    {
        KvRequest? req;
        try
        {
            req = await JsonSerializer.DeserializeAsync<KvRequest>(ctx.Request.Body, JsonOptions, ctx.RequestAborted);
        }
        catch (JsonException e)
        {
            return Error(new PlaygroundException(StatusCodes.Status400BadRequest, $"the body is not a JSON object of key, value and compare: {e.Message}"));
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stopping.Token);
        try
        {
            return Results.Json(await _console.RunAsync(op, req, cts.Token), JsonOptions);
        }
        catch (PlaygroundException e)
        {
            return Error(e);
        }
    }

    private static IResult Error(PlaygroundException e) => Results.Json(new { error = e.Message }, JsonOptions, statusCode: e.Status);

    /// <summary>
    /// The live updates: the whole state every <see cref="Tick"/>, with the log lines written
    /// since the previous one. Ends when the page goes away or the playground stops.
    /// </summary>
    private async IAsyncEnumerable<SseItem<string>> EventsAsync([EnumeratorCancellation] CancellationToken aborted)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted, _stopping.Token);
        using var ticker = new PeriodicTimer(Tick);
        long lastSeq = 0;
        while (true)
        {
            PlaygroundState state = State(lastSeq, MaxLinesPerUpdate);
            if (state.Lines.Count > 0)
            {
                lastSeq = state.Lines[^1].Seq;
            }
            yield return new SseItem<string>(JsonSerializer.Serialize(state, JsonOptions), "state");
            try
            {
                if (!await ticker.WaitForNextTickAsync(cts.Token))
                {
                    yield break;
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                yield break;
            }
        }
    }

    /// <summary>Everything the page shows, with the log lines after <paramref name="afterSeq"/>.</summary>
    internal PlaygroundState State(long afterSeq, int maxLines) => new(
        Cluster.Size,
        Cluster.Unreliable ? "unreliable" : "reliable",
        Cluster.Views(),
        Timeline(),
        _log.LinesAfter(afterSeq, maxLines));

    /// <summary>
    /// The ribbons, laid out here so they read as TestLogViz's do (same states, same labels), but
    /// by time rather than by log line: the last <see cref="TimelineMs"/>, or the first minute
    /// while it fills. Followers are the ribbon's white background, as there.
    /// </summary>
    private TimelineView Timeline()
    {
        double now = _log.NowMs;
        double to = Math.Max(now, TimelineMs), from = to - TimelineMs;
        var lanes = new List<LaneView>();
        foreach (IReadOnlyList<LiveSpan> spans in _log.Spans())
        {
            var segs = new List<SegmentView>();
            foreach (LiveSpan s in spans.Where(s => s.State != ServerState.Follower))
            {
                double start = Math.Max(s.StartMs, from), end = Math.Min(s.EndMs ?? now, to);
                if (end <= start && s.EndMs is not null)
                {
                    continue;
                }
                double share = Math.Max(end - start, 0) / TimelineMs;
                string term = s.Term is int t ? $" (term {t.ToString(CultureInfo.InvariantCulture)})" : "";
                string until = s.EndMs is double e ? $"{Seconds(e)} s" : "now";
                segs.Add(new SegmentView(s.State.ToString(), s.Term, Math.Round(100 * (start - from) / TimelineMs, 3), Math.Round(100 * share, 3),
                    PageWriter.Label(s.State, s.Term, share), $"Server {s.Server}: {s.State}{term}, {Seconds(s.StartMs)} s to {until}"));
            }
            lanes.Add(new LaneView(lanes.Count, segs));
        }
        return new TimelineView(Seconds(from), Seconds(to), Math.Round(100 * (now - from) / TimelineMs, 3), lanes);
    }

    private static string Seconds(double ms) => (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>A file of the page, from the program's resources.</summary>
    private static IResult Page(string name, string contentType)
    {
        Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"Page/{name}")
            ?? throw new InvalidOperationException($"the page's {name} is not built into the program");
        return Results.Stream(stream, contentType);
    }
}

/// <summary>What GET /api/state answers, and each live update carries.</summary>
internal sealed record PlaygroundState(int Servers, string Network, IReadOnlyList<ServerView> Cards, TimelineView Timeline, IReadOnlyList<LiveLine> Lines);

/// <summary>The ribbons: their time range in seconds since start, where "now" is (in %), and a lane per server.</summary>
internal sealed record TimelineView(string From, string To, double NowPercent, IReadOnlyList<LaneView> Lanes);

internal sealed record LaneView(int Server, IReadOnlyList<SegmentView> Segments);

/// <summary>One ribbon segment, placed in % of the ribbon's width, with TestLogViz's label and a tooltip.</summary>
internal sealed record SegmentView(string State, int? Term, double Left, double Width, string Label, string Title);
