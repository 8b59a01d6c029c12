// The playground's host: the cluster's run on the lab's simulation, the KV ports outside clients
// use, and a web server for the page and its API; fork and new cluster swap the run behind them.
// The routes are in Playground.Routes.cs, the live updates in Playground.Events.cs.
using System.Globalization;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RaftPlayground;

/// <summary>
/// A running playground. <c>await using var p = await Playground.StartAsync(options);</c> starts
/// the cluster, its KV ports and the page; disposing stops them all. The cluster is a
/// <see cref="ClusterRun"/>: a seed and the inputs given to it so far. Going back in time runs a
/// new one of the same seed with the inputs up to that moment (<see cref="ForkAsync"/>).
/// </summary>
public sealed partial class Playground : IAsyncDisposable
{
    /// <summary>
    /// The API's JSON: camelCase, as a browser's code expects, and quotes left as they are, so
    /// a reason reads plainly in curl (the answers are JSON documents, never pasted into HTML).
    /// </summary>
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The inputs' JSON in a recording: the API's, without the fields an input leaves empty.</summary>
    internal static readonly JsonSerializerOptions InputJson = new(JsonOptions) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly PlaygroundOptions _options;

    /// <summary>The web server of the page and the API.</summary>
    private readonly WebApplication _app;

    /// <summary>The web server of the KV ports: every request enters the run as an input.</summary>
    private readonly WebApplication _kv;

    /// <summary>Each KV port, by server id.</summary>
    private readonly int[] _kvPorts;

    /// <summary>Cancelled when the playground stops: live updates end.</summary>
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>One fork or new cluster at a time.</summary>
    private readonly SemaphoreSlim _switching = new(1, 1);

    /// <summary>Guards <see cref="_run"/> and <see cref="_generation"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>The run the page shows and the controls act on.</summary>
    private ClusterRun _run;

    /// <summary>Counts the runs: the page starts afresh when it changes.</summary>
    private int _generation = 1;

    /// <summary>1 once <see cref="StopAsync"/> has begun.</summary>
    private int _stopped;

    private Playground(PlaygroundOptions options, ClusterRun run, WebApplication app, WebApplication kv, int[] kvPorts)
    {
        _options = options;
        _run = run;
        _app = app;
        _kv = kv;
        _kvPorts = kvPorts;
    }

    /// <summary>The page's address.</summary>
    public Uri Address { get; private set; } = new("http://localhost/");

    /// <summary>The current run.</summary>
    internal ClusterRun Run
    {
        get
        {
            lock (_mu)
            {
                return _run;
            }
        }
    }

    /// <summary>The current run and its number.</summary>
    private (ClusterRun Run, int Generation) Current
    {
        get
        {
            lock (_mu)
            {
                return (_run, _generation);
            }
        }
    }

    /// <summary>The current run's cluster, for tests that look behind the API (on the simulation's thread: see <see cref="ReadAsync{T}"/>).</summary>
    internal Cluster Cluster => Run.Cluster;

    /// <summary>The current run's lines and spans, for the tests, which may look further back than the API's last 100 lines.</summary>
    internal LiveLog Log => Run.Log;

    /// <summary>Reads the current run's cluster on its simulation's thread.</summary>
    internal Task<T> ReadAsync<T>(Func<Cluster, T> read)
    {
        ClusterRun run = Run;
        return run.ReadAsync(() => read(run.Cluster));
    }

    /// <summary>Each service's KV address ("127.0.0.1:port"), by id.</summary>
    public IReadOnlyList<string> KvAddrs => [.. _kvPorts.Select(p => $"127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}")];

    /// <summary>The seed of the current run.</summary>
    public int Seed => Run.Seed;

    /// <summary>Starts the KV ports, the cluster and the page; if anything cannot start, what did is stopped again.</summary>
    public static async Task<Playground> StartAsync(PlaygroundOptions options)
    {
        WebApplication? kv = null, app = null;
        ClusterRun? run = null;
        Playground? playground = null;
        try
        {
            int servers = options.Replay?.Servers ?? options.Servers;
            IReadOnlyList<int> wanted = options.KvPorts ?? [.. Enumerable.Range(0, servers).Select(i => options.KvPortBase == 0 ? 0 : options.KvPortBase + i)];
            var ports = new int[servers];
            kv = NewApp();
            foreach (int p in wanted)
            {
                kv.Urls.Add($"http://127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}");
            }
            // Each request on a KV port goes to the run as it is when it arrives.
            Func<ClusterRun>? current = null;
            kv.Run(ctx => ForwardKvAsync(ctx, current!(), ports));
            await kv.StartAsync();
            string[] bound = [.. kv.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses];
            for (int i = 0; i < servers; i++)
            {
                ports[i] = wanted[i] != 0 ? wanted[i] : new Uri(bound[i]).Port;
            }
            string[] addrs = [.. ports.Select(p => $"127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}")];

            // Compiled code stays for the process's life: only its first playground warms up (the
            // tool starts one, a test process dozens).
            if (Interlocked.Exchange(ref _warmedUp, 1) == 0)
            {
                ClusterRun warm = await WarmUpAsync(addrs);
                current = () => warm;
                await WarmUpFrontAsync(addrs);
                warm.Stop();
            }

            int seed = options.Replay?.Seed ?? options.Seed ?? NewSeed();
            run = await ClusterRun.StartAsync(seed, addrs, options.Speed, options.StartPaused, options.Replay?.Inputs, null, options.ScenarioPause, options.ScenarioStepHook);

            app = NewApp();
            app.Urls.Add($"http://{HostPart(options.Bind)}:{options.Port.ToString(CultureInfo.InvariantCulture)}");
            playground = new Playground(options, run, app, kv, ports);
            current = () => playground.Run;
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
            if (kv is not null)
            {
                await kv.DisposeAsync();
            }
            if (run is not null)
            {
                await run.ShutdownAsync();
            }
            throw;
        }
    }

    /// <summary>1 once a playground of this process has started warming up (<see cref="WarmUpAsync"/>).</summary>
    private static int _warmedUp;

    /// <summary>
    /// Runs a throwaway cluster at full speed through what a client's first requests go through
    /// (a Put, a CAS and a Get on every service, inside the simulation), so that the first real
    /// client's requests do not pay for compiling it: upstream's client gives a try 50 ms.
    /// </summary>
    private static Task<ClusterRun> WarmUpAsync(string[] addrs)
    {
        var inputs = new List<PlaygroundInput>();
        foreach (string op in (string[])["put", "cas", "get"])
        {
            for (int i = 0; i < addrs.Length; i++)
            {
                string body = op switch
                {
                    "put" => """{"Key":"warm-up","Value":"1","ClientID":1,"RequestID":1}""",
                    "cas" => """{"Key":"warm-up","CompareValue":"1","Value":"2","ClientID":1,"RequestID":2}""",
                    _ => """{"Key":"warm-up","ClientID":1,"RequestID":3}""",
                };
                inputs.Add(new PlaygroundInput { AtTicks = TimeSpan.FromSeconds(1).Ticks, Kind = "http", Server = i, Method = "POST", Path = $"/{op}/", Body = body });
            }
        }
        return ClusterRun.StartAsync(1, addrs, 1, paused: true, inputs, TimeSpan.FromSeconds(1.5));
    }

    /// <summary>The KV ports' own first request (Kestrel's, then the hand-over into the run): one that needs no cluster time, on each.</summary>
    private static async Task WarmUpFrontAsync(string[] addrs)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        foreach (string addr in addrs)
        {
            using var content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
            using HttpResponseMessage resp = await http.PostAsync(new Uri($"http://{addr}/warm-up/"), content);
        }
    }

    /// <summary>A web server without config watching or logging.</summary>
    private static WebApplication NewApp()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        return builder.Build();
    }

    /// <summary>A seed for a run nobody chose one for.</summary>
    private static int NewSeed() => System.Security.Cryptography.RandomNumberGenerator.GetInt32(1, 100_000);

    /// <summary>
    /// Continues from cluster time <paramref name="at"/> of the current run: a new run of the same
    /// seed replays the inputs given by then, at full speed, and stands paused there; the old run,
    /// and its future, are dropped.
    /// </summary>
    public async Task<string> ForkAsync(TimeSpan at)
    {
        await _switching.WaitAsync();
        try
        {
            ClusterRun old = Run;
            TimeSpan now = old.Pacer.Now;
            if (at < TimeSpan.Zero || at > now)
            {
                throw new PlaygroundException(StatusCodes.Status409Conflict,
                    Invariant($"cannot continue from {at.TotalMilliseconds:0.###} ms: the run has reached {now.TotalMilliseconds:0.###} ms of cluster time, and a fork goes back, not ahead"));
            }
            ClusterRun run = await ClusterRun.StartAsync(old.Seed, KvAddrs, old.Pacer.Speed, paused: true, old.Inputs, at, _options.ScenarioPause, _options.ScenarioStepHook);
            Swap(run);
            old.Stop();
            return Invariant($"continuing from {at.TotalMilliseconds:0.###} ms of seed {old.Seed}, paused");
        }
        finally
        {
            _switching.Release();
        }
    }

    /// <summary>Starts a new cluster at time 0: of <paramref name="seed"/>, or of a new seed; paused or running as the old one was.</summary>
    public async Task<string> NewClusterAsync(int? seed)
    {
        await _switching.WaitAsync();
        try
        {
            ClusterRun old = Run;
            int s = seed ?? NewSeed();
            ClusterRun run = await ClusterRun.StartAsync(s, KvAddrs, old.Pacer.Speed, old.Pacer.IsPaused, null, null, _options.ScenarioPause, _options.ScenarioStepHook);
            Swap(run);
            old.Stop();
            return $"a new cluster of seed {s}";
        }
        finally
        {
            _switching.Release();
        }
    }

    /// <summary>The state of the current run as it was at <paramref name="at"/>: a run of its seed and inputs to then, read and dropped.</summary>
    internal async Task<PlaygroundState> StateAtAsync(TimeSpan at, bool canControl)
    {
        (ClusterRun current, int generation) = Current;
        TimeSpan now = current.Pacer.Now;
        if (at < TimeSpan.Zero || at > now)
        {
            throw new PlaygroundException(StatusCodes.Status409Conflict,
                Invariant($"no state at {at.TotalMilliseconds:0.###} ms: the run has reached {now.TotalMilliseconds:0.###} ms of cluster time"));
        }
        ClusterRun past = await ClusterRun.StartAsync(current.Seed, KvAddrs, current.Pacer.Speed, paused: true, current.Inputs, at, _options.ScenarioPause);
        try
        {
            return await past.ReadAsync(() => State(past, generation, 100, canControl) with { Clock = ClockNow(past, generation) with { EndMs = Math.Round(now.TotalMilliseconds, 3) } });
        }
        finally
        {
            past.Stop();
        }
    }

    private void Swap(ClusterRun run)
    {
        lock (_mu)
        {
            _run = run;
            _generation++;
        }
    }

    /// <summary>
    /// A client's request on a KV port: read whole, handed to the run as an input, answered as the
    /// service inside answered. A request to a crashed service (or one the run dropped, replaced by
    /// a fork) loses its connection, as it would against a real one.
    /// </summary>
    private static async Task ForwardKvAsync(HttpContext ctx, ClusterRun run, int[] ports)
    {
        int id = Array.IndexOf(ports, ctx.Connection.LocalPort);
        using var reader = new StreamReader(ctx.Request.Body);
        string body = await reader.ReadToEndAsync(ctx.RequestAborted);
        var input = new PlaygroundInput { Kind = "http", Server = id, Method = ctx.Request.Method, Path = $"{ctx.Request.Path}{ctx.Request.QueryString}", Body = body };
        object? answer;
        try
        {
            answer = await run.InputAsync(input);
        }
        catch (Exception e) when (e is HttpRequestException or PlaygroundException)
        {
            ctx.Abort();
            return;
        }
        var http = (HttpAnswer)answer!;
        ctx.Response.StatusCode = http.Status;
        ctx.Response.ContentType = http.ContentType;
        await ctx.Response.Body.WriteAsync(http.Body, ctx.RequestAborted);
    }

    /// <summary>Stops the page, the KV ports, then the cluster. Safe to call twice.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }
        _stopping.Cancel();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(timeout.Token);
            await _kv.StopAsync(timeout.Token);
        }
        await _app.DisposeAsync();
        await _kv.DisposeAsync();
        await _switching.WaitAsync();
        await Run.ShutdownAsync();
        _stopping.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>An address as a URL's host: an IPv6 one in brackets.</summary>
    private static string HostPart(string address) =>
        IPAddress.Parse(address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address;

    /// <summary>Tasks of the current run's services still running: none once <see cref="StopAsync"/> has returned, unless something leaked.</summary>
    public IReadOnlyList<string> RunningTasks() => Run.Cluster.RunningTasks();
}
