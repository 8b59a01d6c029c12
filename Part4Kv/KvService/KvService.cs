// The KV service: a Raft server whose committed commands change a data store, served over HTTP.
using System.Diagnostics;
using System.Net.Http.Json;
using System.Threading.Channels;
using Kv.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft;

namespace Kv.Service;

/// <summary>
/// One member of a replicated KV store. It owns a Raft <see cref="Server"/> and the channel that
/// server reports commits on; an updater task applies every committed <see cref="Command"/> to a
/// <see cref="DataStore"/>, and wakes the HTTP handler that submitted it. Every service of the
/// cluster applies every command, so all data stores hold the same data; only the leader's
/// handlers answer clients.
/// </summary>
public sealed class KvService
{
    /// <summary>This service's id in the Raft cluster.</summary>
    private readonly int _id;

    /// <summary>The Raft server that holds this service's consensus module.</summary>
    private readonly Server _rs;

    /// <summary>
    /// Where <see cref="_rs"/> reports committed entries. Unbounded, so the Raft side never
    /// waits on the updater; the updater itself never waits on anybody.
    /// </summary>
    private readonly Channel<CommitEntry> _commitChan = Channel.CreateUnbounded<CommitEntry>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>The handlers waiting for their commands to be committed.</summary>
    private readonly CommitSubscriptions _commitSubs = new();

    /// <summary>The state machine: the data every committed command reads or writes.</summary>
    private readonly DataStore _ds = new();

    /// <summary>The updater task (see <see cref="RunUpdaterAsync"/>); ends after the commit channel is completed.</summary>
    private readonly Task _updater;

    /// <summary>Set if the updater failed; a correct run never does.</summary>
    private Exception? _updaterFault;

    /// <summary>Cancelled at shutdown: every handler still waiting for a commit gives up.</summary>
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>The HTTP server (Kestrel) once <see cref="ServeHttpAsync"/> has started it.</summary>
    private WebApplication? _app;

    /// <summary>HTTP requests being handled now; the leak check names them if any outlive shutdown.</summary>
    private int _handlersInFlight;

    /// <summary>
    /// Whether handlers send their answers. Tests turn it off to get a service that does the
    /// work but never tells the client.
    /// </summary>
    private volatile bool _httpResponsesEnabled = true;

    /// <summary>Where this service's "[kv N]" lines (and its Raft server's lines) go.</summary>
    private readonly ILogger _logger;

    /// <summary>The clock of the Raft server's timers, and of this service's own waits.</summary>
    private readonly TimeProvider _time;

    /// <summary>Draws handler ids when the service is given a seeded Random; null: fresh Guids.</summary>
    private readonly Random? _handlerIds;

    /// <summary>
    /// Creates the service and its Raft server, which starts serving RPCs at once; the cluster
    /// runs once <paramref name="ready"/> completes (all peers connected). A service restarted
    /// after a crash gets the crashed one's <paramref name="storage"/> and replays its log. The
    /// Raft server's timers and network, and the service's own waits, run on
    /// <paramref name="timeProvider"/>, by default the system's clock (a tool can slow a cluster
    /// down with a clock of its own); its random choices come from <paramref name="random"/>, by
    /// default unseeded (a simulation brings a seeded one).
    /// </summary>
    public KvService(int id, IReadOnlyList<int> peerIds, IStorage storage, Task ready, ILogger? logger = null, TimeProvider? timeProvider = null, Random? random = null)
    {
        // Go's gob.Register: the Raft log stores commands by a registered type name.
        CommandTypes.Register<Command>("kv.command");
        _id = id;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _handlerIds = random is null ? null : new Random(random.Next());
        _rs = new Server(id, peerIds, storage, ready, _commitChan.Writer, _logger, timeProvider, random);
        _rs.Serve();
        _updater = RunUpdaterAsync();
    }

    /// <summary>Whether this service's Raft server thinks it is the leader; for tests.</summary>
    public bool IsLeader() => _rs.IsLeader();

    /// <summary>
    /// Starts serving the KV API over HTTP on the loopback interface, on <paramref name="port"/>,
    /// or on a free port if it is 0, and returns the bound address as "127.0.0.1:port". Returns
    /// once the server listens; <see cref="ShutdownAsync"/> stops it. The first call in a process
    /// first warms the code every request runs (see <see cref="WarmUpAsync"/>), so that even the
    /// service's first request is answered in a few milliseconds.
    /// </summary>
    public async Task<string> ServeHttpAsync(int port = 0)
    {
        await WarmedUp.Value;
        return await StartHttpAsync(port, null);
    }

    /// <summary>
    /// Serves the KV API on <paramref name="server"/> in place of Kestrel (a test's in-memory
    /// server, say) and returns its address as "host:port". No warm-up: nothing here is timed
    /// against the system's clock.
    /// </summary>
    public Task<string> ServeHttpAsync(IServer server) => StartHttpAsync(0, server);

    /// <summary>Once per process, before the first service answers anybody: see <see cref="WarmUpAsync"/>.</summary>
    private static readonly Lazy<Task> WarmedUp = new(WarmUpAsync);

    /// <summary>
    /// Runs a throwaway cluster of three services through one request of each kind, then shuts it
    /// down. The first request a process serves compiles Kestrel's request path, the JSON
    /// (de)serialization of every message and Raft's path from Submit to commit: about 200 ms,
    /// four times a client's 50 ms attempt, so that client would give up and resend a request
    /// that was in fact carried out. Compiled code is shared by the whole process, so after this
    /// every service's first request is as quick as its later ones. Nothing of the throwaway
    /// cluster is left: its own ports, storage and tasks, all ended. Best effort: if it cannot
    /// elect a leader in time, the process only misses the head start.
    /// </summary>
    private static async Task WarmUpAsync()
    {
        const int n = 3;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KvService[] cluster = [.. Enumerable.Range(0, n).Select(i => new KvService(i, [.. Enumerable.Range(0, n).Where(p => p != i)], new MapStorage(), ready.Task))];
        try
        {
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    if (i != j)
                    {
                        cluster[i].ConnectToRaftPeer(j, cluster[j].GetRaftListenAddr());
                    }
                }
            }
            ready.SetResult();
            string[] addrs = new string[n];
            for (int i = 0; i < n; i++)
            {
                addrs[i] = await cluster[i].StartHttpAsync(0, null);
            }

            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            int leader;
            while ((leader = Array.FindIndex(cluster, s => s.IsLeader())) < 0 && !deadline.IsCancellationRequested)
            {
                await Task.Delay(10);
            }
            if (leader < 0)
            {
                return;
            }
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false });
            foreach (var (route, request, toLeader) in WarmUpRequests)
            {
                string addr = addrs[toLeader ? leader : (leader + 1) % n];
                using var content = JsonContent.Create(request, request.GetType(), options: Json.Options);
                using HttpResponseMessage resp = await http.PostAsync(new Uri($"http://{addr}/{route}/"), content, deadline.Token);
                await resp.Content.ReadAsByteArrayAsync(deadline.Token);
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // A leader lost or a slow machine: the warm-up only got part of the way.
        }
        finally
        {
            foreach (KvService service in cluster)
            {
                await service.ShutdownAsync();
            }
        }
    }

    /// <summary>One request of each kind, and to which kind of service: the leader answers OK, a follower NotLeader.</summary>
    private static readonly (string Route, object Request, bool ToLeader)[] WarmUpRequests =
    [
        ("put", new PutRequest { Key = "warm-up", Value = "v" }, true),
        ("get", new GetRequest { Key = "warm-up" }, true),
        ("cas", new CASRequest { Key = "warm-up", CompareValue = "v", Value = "w" }, true),
        ("get", new GetRequest { Key = "warm-up" }, false),
    ];

    /// <summary>
    /// What <see cref="ServeHttpAsync(int)"/> does once the process is warm, on Kestrel at
    /// <paramref name="port"/>, or on <paramref name="server"/> if given; the warm-up's own services start here.
    /// </summary>
    private async Task<string> StartHttpAsync(int port, IServer? server)
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("ServeHttpAsync called with an existing server");
        }

        // No config file watching: a test run creates dozens of these, and each watcher costs an inotify instance.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        if (server is not null)
        {
            builder.Services.AddSingleton(server);
        }
        WebApplication app = builder.Build();
        if (server is null)
        {
            app.Urls.Add($"http://127.0.0.1:{port}");
        }

        // An unknown route or a wrong method gets its status with a one-line reason, as Go's mux answers.
        app.UseStatusCodePages(context =>
        {
            HttpContext ctx = context.HttpContext;
            int code = ctx.Response.StatusCode;
            return Json.RenderErrorAsync(ctx.Response, code, $"{code} {ReasonPhrases.GetReasonPhrase(code)}: {ctx.Request.Method} {ctx.Request.Path}", ctx.RequestAborted);
        });
        app.MapPost("/get/", new RequestDelegate(HandleGetAsync));
        app.MapPost("/put/", new RequestDelegate(HandlePutAsync));
        app.MapPost("/cas/", new RequestDelegate(HandleCASAsync));

        await app.StartAsync();
        _app = app;
        string url = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        string addr = new Uri(url).Authority;
        Kvlog($"serving HTTP on {addr}");
        return addr;
    }

    /// <summary>
    /// Shuts the service down: handlers still waiting give up (their clients see the connection
    /// close, as with a crash), the Raft server stops, the updater drains the commit channel, and
    /// Kestrel stops. Bounded in time even with requests in flight.
    /// </summary>
    public async Task ShutdownAsync()
    {
        Kvlog("shutting down Raft server");
        // Upstream's handlers wait on their request only; here shutdown also ends them, so none outlives the service.
        _stopping.Cancel();
        await _rs.ShutdownAsync();
        Kvlog("closing commitChan");
        _commitChan.Writer.TryComplete();
        await _updater;

        if (_app is { } app)
        {
            Kvlog("shutting down HTTP server");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), _time);
            await app.StopAsync(timeout.Token);
            await app.DisposeAsync();
            Kvlog("HTTP shutdown complete");
        }
    }

    /// <summary>
    /// Turns the HTTP answers off (false) or back on. With them off, the service still carries
    /// out every request but sends an empty answer; for tests.
    /// </summary>
    public void ToggleHttpResponsesEnabled(bool enable) => _httpResponsesEnabled = enable;

    private async Task HandlePutAsync(HttpContext ctx)
    {
        var (pr, error) = await Json.ReadRequestJsonAsync<PutRequest>(ctx.Request, ctx.RequestAborted);
        if (pr is null)
        {
            await Json.RenderErrorAsync(ctx.Response, StatusCodes.Status400BadRequest, error ?? "bad request", ctx.RequestAborted);
            return;
        }
        Kvlog($"HTTP PUT {GoValue(pr.Key, pr.Value)}");

        // The state change goes through the Raft log; the answer waits until it is committed and applied.
        var cmd = new Command { Kind = CommandKind.Put, Key = pr.Key, Value = pr.Value, Id = _id, HandlerId = NewHandlerId() };
        PutResponse? resp = await SubmitAndWaitAsync(ctx, cmd) switch
        {
            (ResponseStatus.OK, { } done) => new PutResponse { RespStatus = ResponseStatus.OK, KeyFound = done.ResultFound, PrevValue = done.ResultValue },
            (ResponseStatus.Invalid, _) => null,
            (var status, _) => new PutResponse { RespStatus = status },
        };
        await SendHttpResponseAsync(ctx, resp);
    }

    // The other handlers follow the Put handler step for step.

    private async Task HandleGetAsync(HttpContext ctx)
    {
        var (gr, error) = await Json.ReadRequestJsonAsync<GetRequest>(ctx.Request, ctx.RequestAborted);
        if (gr is null)
        {
            await Json.RenderErrorAsync(ctx.Response, StatusCodes.Status400BadRequest, error ?? "bad request", ctx.RequestAborted);
            return;
        }
        Kvlog($"HTTP GET {GoValue(gr.Key)}");

        var cmd = new Command { Kind = CommandKind.Get, Key = gr.Key, Id = _id, HandlerId = NewHandlerId() };
        GetResponse? resp = await SubmitAndWaitAsync(ctx, cmd) switch
        {
            (ResponseStatus.OK, { } done) => new GetResponse { RespStatus = ResponseStatus.OK, KeyFound = done.ResultFound, Value = done.ResultValue },
            (ResponseStatus.Invalid, _) => null,
            (var status, _) => new GetResponse { RespStatus = status },
        };
        await SendHttpResponseAsync(ctx, resp);
    }

    private async Task HandleCASAsync(HttpContext ctx)
    {
        var (cr, error) = await Json.ReadRequestJsonAsync<CASRequest>(ctx.Request, ctx.RequestAborted);
        if (cr is null)
        {
            await Json.RenderErrorAsync(ctx.Response, StatusCodes.Status400BadRequest, error ?? "bad request", ctx.RequestAborted);
            return;
        }
        Kvlog($"HTTP CAS {GoValue(cr.Key, cr.CompareValue, cr.Value)}");

        var cmd = new Command { Kind = CommandKind.CAS, Key = cr.Key, Value = cr.Value, CompareValue = cr.CompareValue, Id = _id, HandlerId = NewHandlerId() };
        CASResponse? resp = await SubmitAndWaitAsync(ctx, cmd) switch
        {
            (ResponseStatus.OK, { } done) => new CASResponse { RespStatus = ResponseStatus.OK, KeyFound = done.ResultFound, PrevValue = done.ResultValue },
            (ResponseStatus.Invalid, _) => null,
            (var status, _) => new CASResponse { RespStatus = status },
        };
        await SendHttpResponseAsync(ctx, resp);
    }

    /// <summary>
    /// Submits <paramref name="cmd"/> to Raft and waits until the entry at its log index is applied.
    /// Returns OK and the applied command with its result if that entry is this very request;
    /// FailedCommit if another command took the index (leadership was lost meanwhile);
    /// NotLeader if this service is not the leader;
    /// Invalid if the wait was abandoned (client gone, or shutdown): nothing is to be answered.
    /// </summary>
    private async Task<(ResponseStatus Status, Command? Done)> SubmitAndWaitAsync(HttpContext ctx, Command cmd)
    {
        Interlocked.Increment(ref _handlersInFlight);
        // Subscribed before Submit, by handler id: upstream subscribes after Submit returns and misses a commit that lands in between.
        CommitSubscriptions.Subscription sub = _commitSubs.Create(cmd.HandlerId);
        try
        {
            int logIndex = _rs.Submit(cmd);
            if (logIndex < 0)
            {
                return (ResponseStatus.NotLeader, null);
            }
            if (AfterSubmit is { } hook)
            {
                await hook(logIndex);
            }
            _commitSubs.WatchIndex(sub, logIndex);

            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stopping.Token);
            // Not Done.WaitAsync(token), whose cancellation comes back from the thread pool.
            using CancellationTokenRegistration giveUp = waiting.Token.Register(sub.Cancel);
            try
            {
                Command? done = await sub.Done;
                return done is null ? (ResponseStatus.FailedCommit, null) : (ResponseStatus.OK, done);
            }
            catch (OperationCanceledException) when (waiting.IsCancellationRequested)
            {
                if (_stopping.IsCancellationRequested)
                {
                    // The service is going away: the client sees the connection drop and tries another service.
                    ctx.Abort();
                }
                return (ResponseStatus.Invalid, null);
            }
        }
        finally
        {
            _commitSubs.Remove(sub);
            Interlocked.Decrement(ref _handlersInFlight);
        }
    }

    /// <summary>Sends <paramref name="resp"/> as JSON, unless answers are off or there is nothing to send.</summary>
    private async Task SendHttpResponseAsync<T>(HttpContext ctx, T? resp)
        where T : class
    {
        if (resp is not null && _httpResponsesEnabled)
        {
            await Json.RenderJsonAsync(ctx.Response, resp, ctx.RequestAborted);
        }
    }

    /// <summary>
    /// The replicated state machine: applies each committed command to the data store, in log
    /// order, and hands the result to whoever waits for that log index. Never blocks on a handler
    /// (waking one is completing a task), so a handler that went away costs nothing. Ends when
    /// shutdown completes the commit channel.
    /// </summary>
    private async Task RunUpdaterAsync()
    {
        await Task.Yield(); // Runs apart from the constructor, as a task of its own.
        try
        {
            // Not ReadAllAsync, whose awaits come back from the thread pool.
            while (await _commitChan.Reader.WaitToReadAsync())
            {
                if (!_commitChan.Reader.TryRead(out CommitEntry? entry))
                {
                    continue;
                }
                var cmd = (Command)entry.Command;
                var (resultValue, resultFound) = cmd.Kind switch
                {
                    CommandKind.Get => _ds.Get(cmd.Key),
                    CommandKind.Put => _ds.Put(cmd.Key, cmd.Value),
                    CommandKind.CAS => _ds.CAS(cmd.Key, cmd.CompareValue, cmd.Value),
                    _ => throw new InvalidOperationException($"unexpected command {cmd}"),
                };
                _commitSubs.Applied(entry.Index, cmd with { ResultValue = resultValue, ResultFound = resultFound });
            }
        }
        catch (Exception e)
        {
            _logger.LogError(e, "[kv {Id}] updater failed", _id);
            _updaterFault = e;
        }
    }

    /// <summary>A fresh handler id: drawn from the seeded random if the service has one, so a replayed run logs the same ids.</summary>
    private Guid NewHandlerId()
    {
        if (_handlerIds is null)
        {
            return Guid.NewGuid();
        }
        Span<byte> bytes = stackalloc byte[16];
        lock (_handlerIds)
        {
            _handlerIds.NextBytes(bytes);
        }
        return new Guid(bytes);
    }

    /// <summary>Logs a line "[kv N] message" (upstream's kvlog).</summary>
    private void Kvlog(string message) => _logger.LogDebug("[kv {Id}] {Message}", _id, message);

    /// <summary>Request fields as Go's %v prints a struct pointer, &amp;{a b}, kept on one line.</summary>
    private static string GoValue(params string[] fields) => $"&{{{Json.OneLine(string.Join(' ', fields))}}}";

    // For the tests: the faults upstream's harness injects, and what the leak check looks at.

    public void ConnectToRaftPeer(int peerId, RpcEndpoint addr) => _rs.ConnectToPeer(peerId, addr);

    public void DisconnectFromAllRaftPeers() => _rs.DisconnectAll();

    public void DisconnectFromRaftPeer(int peerId) => _rs.DisconnectPeer(peerId);

    public RpcEndpoint GetRaftListenAddr() => _rs.GetListenAddr();

    // For tools that show a running cluster (Tools/RaftPlayground): read-only views, changing nothing.

    /// <summary>The Raft server under this service, so a tool can show its consensus module's state.</summary>
    public Server RaftServer => _rs;

    /// <summary>A copy of every key and value this service's data store holds now.</summary>
    public IReadOnlyDictionary<string, string> DataSnapshot() => _ds.Snapshot();

    /// <summary>Names of this service's tasks, its Raft server's included, still running.</summary>
    public IReadOnlyList<string> RunningTasks()
    {
        List<string> running = [.. _rs.RunningTasks()];
        if (!_updater.IsCompleted)
        {
            running.Add("kv updater");
        }
        int handlers = Volatile.Read(ref _handlersInFlight);
        if (handlers > 0)
        {
            running.Add($"{handlers} HTTP handler(s) waiting for a commit");
        }
        return running;
    }

    /// <summary>Unexpected exceptions in this service's or its Raft server's tasks.</summary>
    public IReadOnlyList<Exception> Faults() => _updaterFault is { } e ? [.. _rs.Faults(), e] : _rs.Faults();

    /// <summary>
    /// Test hook: awaited by a handler between Submit and its wait, with the log index it got, so
    /// a test can let the commit land first.
    /// </summary>
    internal Func<int, Task>? AfterSubmit { get; set; }

    /// <summary>Log index of the last command the updater applied; -1 before the first.</summary>
    internal int LastApplied => _commitSubs.LastApplied;
}

/// <summary>
/// The handlers waiting for their commands: each subscribes by its handler id before it
/// submits, and adds the log index once Submit has given it one. Whatever order the updater and
/// a handler come in, the handler learns its fate: OK with its own command's result, or
/// FailedCommit if another command was applied at its index. Several handlers may wait on one
/// index (a leader lost its entry and later reused the index); each gets its own answer.
/// </summary>
internal sealed class CommitSubscriptions
{
    /// <summary>One handler's wait.</summary>
    internal sealed class Subscription(Guid handlerId)
    {
        public Guid HandlerId { get; } = handlerId;

        /// <summary>The log index Submit gave; -1 until the handler knows it.</summary>
        public int Index { get; set; } = -1;

        /// <summary>Set (under the lock) once an outcome is decided, so it is decided once.</summary>
        public bool Resolved { get; set; }

        private readonly TaskCompletionSource<Command?> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The applied command with its result, or null if another command took the index.</summary>
        public Task<Command?> Done => _done.Task;

        public void Complete(Command? result) => _done.TrySetResult(result);

        /// <summary>Its handler stopped waiting: <see cref="Done"/> is cancelled.</summary>
        public void Cancel() => _done.TrySetCanceled();
    }

    /// <summary>Guards everything below.</summary>
    private readonly Lock _mu = new();

    /// <summary>Live subscriptions by handler id.</summary>
    private readonly Dictionary<Guid, Subscription> _byHandler = [];

    /// <summary>Live subscriptions with a known index, by that index.</summary>
    private readonly Dictionary<int, List<Subscription>> _byIndex = [];

    /// <summary>The last log index applied; -1 before the first.</summary>
    private int _lastApplied = -1;

    public int LastApplied
    {
        get
        {
            lock (_mu)
            {
                return _lastApplied;
            }
        }
    }

    /// <summary>Subscribes handler <paramref name="handlerId"/> to the commit of its command; call before submitting it.</summary>
    public Subscription Create(Guid handlerId)
    {
        var sub = new Subscription(handlerId);
        lock (_mu)
        {
            // Never a duplicate: handler ids are fresh Guids (upstream panics on a duplicate index instead).
            _byHandler.Add(handlerId, sub);
        }
        return sub;
    }

    /// <summary>
    /// Records the log index <paramref name="sub"/>'s command was submitted at. If that index was
    /// applied already and the command was not this one, the index was taken: FailedCommit.
    /// </summary>
    public void WatchIndex(Subscription sub, int index)
    {
        bool taken;
        lock (_mu)
        {
            sub.Index = index;
            taken = !sub.Resolved && index <= _lastApplied;
            if (taken)
            {
                sub.Resolved = true;
            }
            else if (!sub.Resolved)
            {
                if (!_byIndex.TryGetValue(index, out List<Subscription>? waiting))
                {
                    _byIndex[index] = waiting = [];
                }
                waiting.Add(sub);
            }
        }
        // Completed outside the lock, as everywhere here: a completion never runs code under it.
        if (taken)
        {
            sub.Complete(null);
        }
    }

    /// <summary>
    /// Called by the updater for each applied entry, in log order: the request it came from gets
    /// <paramref name="result"/>, anyone else waiting for <paramref name="index"/> gets FailedCommit.
    /// </summary>
    public void Applied(int index, Command result)
    {
        Subscription? mine;
        List<Subscription> lost = [];
        lock (_mu)
        {
            Debug.Assert(index > _lastApplied, "entries are applied in log order");
            _lastApplied = index;
            if (_byHandler.TryGetValue(result.HandlerId, out mine) && !mine.Resolved)
            {
                mine.Resolved = true;
            }
            else
            {
                mine = null;
            }
            if (_byIndex.Remove(index, out List<Subscription>? waiting))
            {
                foreach (Subscription sub in waiting)
                {
                    if (!sub.Resolved)
                    {
                        sub.Resolved = true;
                        lost.Add(sub);
                    }
                }
            }
        }
        mine?.Complete(result);
        foreach (Subscription sub in lost)
        {
            sub.Complete(null);
        }
    }

    /// <summary>Ends <paramref name="sub"/>: its handler no longer waits.</summary>
    public void Remove(Subscription sub)
    {
        lock (_mu)
        {
            sub.Resolved = true;
            _byHandler.Remove(sub.HandlerId);
            if (sub.Index >= 0 && _byIndex.TryGetValue(sub.Index, out List<Subscription>? waiting))
            {
                waiting.Remove(sub);
                if (waiting.Count == 0)
                {
                    _byIndex.Remove(sub.Index);
                }
            }
        }
    }

    /// <summary>How many handlers are subscribed; for tests.</summary>
    public int Count
    {
        get
        {
            lock (_mu)
            {
                return _byHandler.Count;
            }
        }
    }
}
