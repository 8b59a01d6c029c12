// A cluster of KV services and clients to exercise it, with faults on demand: on the lab's
// simulation by default, over real loopback HTTP for the tests about the wire.
using System.Runtime.ExceptionServices;
using FluentAssertions;
using Kv.Client;
using Kv.Service;
using Lab;
using Raft;
using Xunit;
using Xunit.Sdk;

namespace Kv.Tests;

/// <summary>
/// <c>n</c> KV services, each with its own storage and HTTP address, and the faults a test can put
/// them through. Use it as <c>await using var h = await Harness.NewHarnessAsync(output, 3);</c>:
/// disposal shuts the cluster down and runs the checks of the earlier parts' harness.
/// </summary>
/// <remarks>
/// By default the whole cluster runs on the lab's <see cref="Simulation"/>, as Part3's tests do:
/// services, their Raft servers, clients and the test itself on one thread and a virtual clock,
/// the HTTP between clients and services through <see cref="SimulatedHttp"/> (ASP.NET Core's real
/// pipeline, no sockets). A run is its seed (RAFT_SEED=N replays it), and load on the machine
/// cannot change it: its limits need not allow for a busy machine. <see cref="NewWireHarnessAsync"/>
/// (and RAFT_REAL_TIME=1) runs the cluster on Kestrel, loopback sockets and the system clock.
/// </remarks>
public sealed class Harness : IAsyncDisposable
{
    /// <summary>
    /// The limits on a simulated cluster, where no load can stretch time. Upstream's are 500 ms per
    /// Check call, 8 looks for a leader 150 ms apart and 50 ms per client attempt; 200 seeds showed
    /// each of them to be a coin toss, lost by a few milliseconds now and then:
    /// <list type="bullet">
    /// <item>All three services stood for election at the same tick (seed 402594090,
    /// TestClientRequestBeforeConsensus), and the Put's deadline passed 17 ms before the second
    /// election's leader could answer.</item>
    /// <item>Without PreVote a server whose log is behind keeps standing in elections it cannot win,
    /// each resetting the others' timers: after TestCrashLeader's crash (seed 960645607) the next
    /// leader came 1.09 s later, past the last look.</item>
    /// <item>A new leader's first AppendEntries to a follower whose log differs fails, and the leader
    /// tries again at its next heartbeat, 50 ms later: the commit lands just after the client's 50 ms
    /// attempt has run out (seeds 1048 and 1058, TestAppendDifferentLeaders; 1163, TestCrashLeader),
    /// the client sends the request again, and the copy is answered as a duplicate.</item>
    /// </list>
    /// So a Check call gets 2 s, an election 5 s, and an attempt three heartbeats, 150 ms (still
    /// well short of DelayNextHTTPResponse's 300 ms). Cluster time costs nothing, and a passing
    /// test waits for none of them.
    /// </summary>
    private static readonly Limits Simulated = new(RequestTimeout: TimeSpan.FromSeconds(2), LeaderPatience: TimeSpan.FromSeconds(5), ClientAttemptTimeout: TimeSpan.FromMilliseconds(150));

    /// <summary>
    /// The limits on the system clock. Upstream's 500 ms per Check call and 50 ms per attempt are
    /// coin tosses on a loaded 2-core machine: an election that a late heartbeat set off can take
    /// longer, and a commit stalled past the attempt makes the client resend, and the resend is
    /// answered DuplicateRequest. Every Check call expects success, so a passing test never waits
    /// for these. The attempt stays shorter than the 300 ms of DelayNextHTTPResponse, so that a
    /// delayed answer still makes the client resend.
    /// </summary>
    private static readonly Limits RealTime = new(RequestTimeout: TimeSpan.FromSeconds(2), LeaderPatience: TimeSpan.FromSeconds(5), ClientAttemptTimeout: TimeSpan.FromMilliseconds(250));

    /// <summary>
    /// How long a Check call gives a request to succeed; how long <see cref="CheckSingleLeaderAsync"/>
    /// waits at least, beyond its tries; the clients' limit per attempt.
    /// </summary>
    private sealed record Limits(TimeSpan RequestTimeout, TimeSpan LeaderPatience, TimeSpan ClientAttemptTimeout);

    /// <summary>
    /// The most characters a test's log takes: about 8,000 lines. Every scenario of upstream's logs
    /// well under it. A stress run (the fault history, leaders cut off under load) would write
    /// several times more; its CMs' lines, each with a whole log, cost more than the run, and the
    /// test runner carries every character. A failing run's seed replays it whole.
    /// </summary>
    private const long MaxLogChars = 1_000_000;

    /// <summary>This cluster's limits: <see cref="Simulated"/> on the simulation, <see cref="RealTime"/> on the system clock.</summary>
    private readonly Limits _limits;

    /// <summary>The simulation the cluster runs on, or null on the system clock.</summary>
    private readonly Simulation? _sim;

    /// <summary>Whether this harness started <see cref="_sim"/>, and so ends it at shutdown.</summary>
    private readonly bool _ownsSimulation;

    /// <summary>The HTTP between clients and services on the simulation; null: Kestrel and sockets.</summary>
    private readonly SimulatedHttp? _http;

    /// <summary>Draws the test's random choices (client ids, address orders): from the seed on the simulation.</summary>
    private readonly Random _random;

    /// <summary>The Raft servers' logger: it checks Election Safety on the way to the log.</summary>
    private readonly SafetyMonitor _monitor;

    /// <summary>The number of services.</summary>
    private readonly int _n;

    /// <summary>Every service of the cluster; its index is its id. A restart replaces a crashed one.</summary>
    private readonly KvService[] _kvCluster;

    /// <summary>Every service ever created, crashed ones included, for the leak check.</summary>
    private readonly List<(int Id, KvService Service)> _everCreated = [];

    /// <summary>
    /// The "host:port" each service takes client requests on. On the simulation upstream's
    /// localhost:14200 onwards, a restarted service on its old port as upstream's; on Kestrel free
    /// ports, so parallel runs never collide.
    /// </summary>
    private readonly string[] _kvServiceAddrs;

    /// <summary>Each service's stable storage; it outlives a crash.</summary>
    private readonly MapStorage[] _storage;

    /// <summary>Whether each service's Raft server is connected to its peers; false means partitioned.</summary>
    private readonly bool[] _connected;

    /// <summary>Whether each service is alive: false from its crash until its restart. Connected implies alive.</summary>
    private readonly bool[] _alive;

    /// <summary>Cancelled at shutdown: the requests the harness's checks make give up (upstream's h.ctx).</summary>
    private readonly CancellationTokenSource _ctx = new();

    /// <summary>Every client handed out, closed at shutdown (upstream closes the default client's idle connections).</summary>
    private readonly List<KvClient> _clients = [];

    /// <summary>The test's log: services, their Raft servers, clients and Tlog lines.</summary>
    private readonly ClusterLog _log;

    /// <summary>
    /// Upstream's leaktest.CheckTimeout: when set, every task of the cluster must end within this
    /// time of shutdown, or the test fails naming the ones still running.
    /// </summary>
    private readonly TimeSpan? _leakCheck;

    /// <summary>Set by the first shutdown; a second is a no-op.</summary>
    private bool _shutdown;

    /// <summary>The simulated network between the services' Raft servers, restarted ones included (the lab's).</summary>
    private readonly Network _network;

    /// <summary>
    /// The harness of the test running on this async flow. Set by the constructor, which runs
    /// inside the test's flow, so it tells the test's own exceptions from any other test's.
    /// </summary>
    private static readonly AsyncLocal<Harness?> CurrentTest = new();

    /// <summary>The first assertion the test itself failed, if any (see <see cref="NoteTestFailure"/>).</summary>
    private volatile Exception? _testFailure;

    /// <summary>Where the run's recording goes at shutdown: the test's output.</summary>
    private readonly ITestOutputHelper _output;

    /// <summary>Records the run for TestLogViz's player when RAFT_RECORD asks (see Lab/Recorder.cs); null otherwise.</summary>
    private readonly Recorder? _recorder;

    private Harness(ITestOutputHelper output, int n, TimeSpan? leakCheck, Simulation? sim, bool ownsSimulation)
    {
        _n = n;
        _sim = sim;
        _ownsSimulation = ownsSimulation;
        _limits = sim is null ? RealTime : Simulated;
        _leakCheck = leakCheck;
        Clock = (TimeProvider?)sim?.Clock ?? TimeProvider.System;
        _log = new ClusterLog(output.WriteLine, Clock, MaxLogChars);
        _monitor = new SafetyMonitor(_log);
        _random = sim?.NewRandom() ?? new Random();
        _http = sim is null ? null : new SimulatedHttp();
        _network = sim is null ? new Network(Clock, _log) : Network.For(sim, _log);
        _output = output;
        if (sim is not null && RunMode.Recording)
        {
            _recorder = new Recorder(sim, n, ViewOf, a => a is AppendEntriesArgs { Entries.Length: 0 },
                                     r => r switch { RequestVoteReply v => v.VoteGranted, AppendEntriesReply a => a.Success, _ => null });
            _log.Recorder = _network.Recorder = _monitor.Recorder = _recorder;
        }
        _kvCluster = new KvService[n];
        _kvServiceAddrs = new string[n];
        _storage = new MapStorage[n];
        _connected = new bool[n];
        _alive = new bool[n];
        CurrentTest.Value = this;
        AppDomain.CurrentDomain.FirstChanceException += NoteTestFailure;
        Tlog(sim is null ? "real time (Kestrel, loopback sockets, the system clock)" : $"seed {sim.Seed} (RAFT_SEED={sim.Seed} replays this run)");
    }

    /// <summary>The cluster's clock: the simulation's, or the system's.</summary>
    public TimeProvider Clock { get; }

    /// <summary>A random of the test's own: from the simulation's seed, so a replay draws the same numbers.</summary>
    public Random NewRandom() => _sim?.NewRandom() ?? new Random();

    /// <summary>Once per process, see <see cref="WarmUpAsync"/>.</summary>
    private static readonly Lazy<Task> WarmedUp = new(WarmUpAsync);

    /// <summary>
    /// Starts a cluster of <paramref name="n"/> on a new simulation (from RAFT_SEED if set), which
    /// the calling test then runs on; with RAFT_REAL_TIME=1, on Kestrel and the system clock. Not
    /// an async method on purpose: the simulation it adopts must stay with the calling test.
    /// </summary>
    public static Task<Harness> NewHarnessAsync(ITestOutputHelper output, int n, TimeSpan? leakCheck = null)
    {
        if (RunMode.RealTime)
        {
            return StartClusterAsync(output, n, leakCheck, null, false);
        }
        bool owns = Simulation.Current is null;
        Simulation sim = Simulation.Current ?? new Simulation(RunMode.NextSeed());
        sim.Adopt();
        return StartClusterAsync(output, n, leakCheck, sim, owns);
    }

    /// <summary>
    /// Starts a cluster served by Kestrel over loopback sockets on the system clock, for the tests
    /// about the wire itself (raw JSON, bad requests): what a user's client meets.
    /// </summary>
    public static Task<Harness> NewWireHarnessAsync(ITestOutputHelper output, int n, TimeSpan? leakCheck = null) =>
        StartClusterAsync(output, n, leakCheck, null, false);

    /// <summary>Creates <paramref name="n"/> services, connects their Raft servers and starts their HTTP servers.</summary>
    private static async Task<Harness> StartClusterAsync(ITestOutputHelper output, int n, TimeSpan? leakCheck, Simulation? sim, bool ownsSimulation)
    {
        if (sim is null)
        {
            await WarmedUp.Value;
        }
        var h = new Harness(output, n, leakCheck, sim, ownsSimulation);
        if (sim is not null)
        {
            sim.DescribeWaiting = () => string.Join(", ", h.RunningTasks());
        }
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Create all services, each with the ids of the others as its Raft peers.
        for (int i = 0; i < n; i++)
        {
            h._storage[i] = new MapStorage();
            h._kvCluster[i] = h.NewService(i, ready.Task);
            h._everCreated.Add((i, h._kvCluster[i]));
            h._alive[i] = true;
        }

        // Connect the Raft servers to each other, then let them start.
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (i != j)
                {
                    h._kvCluster[i].ConnectToRaftPeer(j, h._kvCluster[j].GetRaftListenAddr());
                }
            }
            h._connected[i] = true;
        }
        ready.SetResult();

        // Each service serves the KV API on a port of its own.
        for (int i = 0; i < n; i++)
        {
            h._kvServiceAddrs[i] = await h.ServeAsync(i);
        }
        return h;
    }

    /// <summary>Service <paramref name="id"/>, new or restarted from its storage, on the cluster's clock, randoms and network.</summary>
    private KvService NewService(int id, Task ready)
    {
        var service = new KvService(id, PeerIds(_n, id), _storage[id], ready, _monitor, Clock, _sim?.NewRandom());
        service.RaftServer.Proxy().Hook = _network.HookFor(id);
        return service;
    }

    /// <summary>Starts service <paramref name="id"/>'s HTTP server: on the simulation at upstream's port for it, else on a free port.</summary>
    private Task<string> ServeAsync(int id) =>
        _http is null ? _kvCluster[id].ServeHttpAsync() : _kvCluster[id].ServeHttpAsync(_http.NewServer($"localhost:{14200 + id}"));

    public async ValueTask DisposeAsync() => await ShutdownAsync();

    /// <summary>
    /// Shuts every service down, then checks what the earlier parts' harness checks: no background
    /// task failed, and (with a leak check) every task ended in time.
    /// </summary>
    public async Task ShutdownAsync()
    {
        if (_shutdown)
        {
            return;
        }
        _shutdown = true;
        AppDomain.CurrentDomain.FirstChanceException -= NoteTestFailure;
        // The recording ends where the test's own steps end: shutdown is not part of the story.
        string? recording = _recorder?.ToLine(TestContext.Current.Test?.TestDisplayName ?? "");

        var problems = new List<string>();
        try
        {
            for (int i = 0; i < _n; i++)
            {
                _kvCluster[i].DisconnectFromAllRaftPeers();
                _connected[i] = false;
            }

            // Requests still running give up, and the clients' connections close.
            _ctx.Cancel();
            lock (_clients)
            {
                foreach (KvClient c in _clients)
                {
                    c.Dispose();
                }
            }

            for (int i = 0; i < _n; i++)
            {
                if (_alive[i])
                {
                    _alive[i] = false;
                    await UntilAsync(_kvCluster[i].ShutdownAsync());
                }
            }

            IReadOnlyList<string> running = await WaitForTasksAsync(_leakCheck ?? TimeSpan.FromSeconds(1));
            problems.AddRange(_monitor.Violations);
            problems.AddRange((_sim?.Escapes ?? []).Select(e => $"the simulation was left: {e}"));
            Exception[] faults = [.. _everCreated.SelectMany(s => s.Service.Faults())];
            if (faults.Length > 0)
            {
                problems.Add($"no background task may fail, but {faults.Length} did:{Environment.NewLine}{string.Join(Environment.NewLine, faults)}");
            }
            if (_leakCheck is { } limit && running.Count > 0)
            {
                problems.Add($"every task must end within {limit.TotalMilliseconds} ms of shutdown; still running: {string.Join(", ", running)}");
            }
        }
        catch (Exception e)
        {
            problems.Add($"shutting the cluster down failed: {e}");
        }
        finally
        {
            // Whatever happened, the log is closed: xunit fails the test host if a line comes later.
            foreach (string problem in problems)
            {
                Tlog($"shutdown: {problem}");
            }
            if (recording is not null)
            {
                _output.WriteLine(recording);
            }
            _log.Close();
        }
        if (_ownsSimulation)
        {
            await _sim!.LeaveAsync();
        }
        // The test's own failure, if it had one, is the one reported; shutdown's findings are at the end of its log.
        if (problems.Count > 0 && _testFailure is null)
        {
            Assert.Fail(string.Join(Environment.NewLine, problems));
        }
    }

    /// <summary>Notes the first assertion the test fails: disposal runs after it was thrown, but cannot see it.</summary>
    private void NoteTestFailure(object? sender, FirstChanceExceptionEventArgs e)
    {
        if (e.Exception is IAssertionException && CurrentTest.Value == this)
        {
            _testFailure ??= e.Exception;
            _recorder?.Failure(e.Exception.Message);
        }
    }

    /// <summary>Awaits <paramref name="task"/>, or the simulation's failure if it comes first (a stuck run), so a test never hangs.</summary>
    private async Task UntilAsync(Task task)
    {
        if (_sim is not null)
        {
            await Task.WhenAny(task, _sim.Failed);
            _sim.ThrowIfFailed();
        }
        await task;
    }

    /// <summary>The tasks of the cluster still running, by service.</summary>
    private IEnumerable<string> RunningTasks() =>
        _everCreated.SelectMany(s => s.Service.RunningTasks().Select(name => $"service {s.Id}: {name}"));

    /// <summary>Partitions service <paramref name="id"/>'s Raft server from all the others.</summary>
    public void DisconnectServiceFromPeers(int id)
    {
        Tlog($"Disconnect {id}");
        _kvCluster[id].DisconnectFromAllRaftPeers();
        for (int j = 0; j < _n; j++)
        {
            if (j != id)
            {
                _kvCluster[j].DisconnectFromRaftPeer(id);
            }
        }
        _connected[id] = false;
    }

    /// <summary>Connects service <paramref name="id"/>'s Raft server to every live peer, both ways.</summary>
    public void ReconnectServiceToPeers(int id)
    {
        Tlog($"Reconnect {id}");
        for (int j = 0; j < _n; j++)
        {
            if (j != id && _alive[j])
            {
                _kvCluster[id].ConnectToRaftPeer(j, _kvCluster[j].GetRaftListenAddr());
                _kvCluster[j].ConnectToRaftPeer(id, _kvCluster[id].GetRaftListenAddr());
            }
        }
        _connected[id] = true;
    }

    /// <summary>
    /// "Crashes" service <paramref name="id"/>: partitions it and shuts it down, HTTP included.
    /// Its storage is kept for <see cref="RestartServiceAsync"/>.
    /// </summary>
    public async Task CrashServiceAsync(int id)
    {
        Tlog($"Crash {id}");
        DisconnectServiceFromPeers(id);
        _alive[id] = false;
        await _kvCluster[id].ShutdownAsync();
    }

    /// <summary>
    /// "Restarts" service <paramref name="id"/>: a new service built from the crashed one's
    /// storage, connected to the live peers. On the simulation it listens at its old address, as
    /// upstream's does; on Kestrel on a new free port, which only clients made from now on know.
    /// </summary>
    public async Task RestartServiceAsync(int id)
    {
        _alive[id].Should().BeFalse($"id={id} is alive in RestartService");
        Tlog($"Restart {id}");

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _kvCluster[id] = NewService(id, ready.Task);
        _everCreated.Add((id, _kvCluster[id]));
        _kvServiceAddrs[id] = await ServeAsync(id);
        ReconnectServiceToPeers(id);
        ready.SetResult();
        _alive[id] = true;
        await SleepMs(20);
    }

    /// <summary>
    /// Beyond upstream: every service's Raft server, restarted ones included, now receives calls
    /// through a network like <paramref name="conditions"/> (e.g. <see cref="NetworkConditions.Unreliable"/>).
    /// </summary>
    public void SetNetwork(NetworkConditions conditions)
    {
        Tlog($"Network: {conditions}");
        _network.SetConditions(conditions);
    }

    /// <summary>Beyond upstream: whether service <paramref name="id"/> is alive and thinks it is the leader.</summary>
    public bool IsLeader(int id) => _alive[id] && _kvCluster[id].IsLeader();

    /// <summary>Service <paramref name="id"/> holds back its next answer to a client by 300 ms.</summary>
    public void DelayNextHTTPResponseFromService(int id)
    {
        Tlog($"Delaying next HTTP response from {id}");
        _kvCluster[id].DelayNextHTTPResponse();
    }

    /// <summary>
    /// Beyond upstream: waits until service <paramref name="id"/> holds back the answer asked for by
    /// <see cref="DelayNextHTTPResponseFromService"/>, so it has applied that request; fails after 2 s.
    /// </summary>
    public Task WaitUntilResponseDelayedAsync(int id) =>
        WaitUntilAsync(() => !_kvCluster[id].DelayPending, $"service {id} to delay an answer", TimeSpan.FromSeconds(2));

    /// <summary>A client of all the live services, in id order.</summary>
    public KvClient NewClient() => Client(LiveAddrs());

    /// <summary>A client of all the live services, in a random order.</summary>
    public KvClient NewClientWithRandomAddrsOrder()
    {
        string[] addrs = [.. LiveAddrs()];
        _random.Shuffle(addrs);
        return Client(addrs);
    }

    /// <summary>
    /// A client of service <paramref name="id"/> alone; unless that is the leader, it can only
    /// go on retrying.
    /// </summary>
    public KvClient NewClientSingleService(int id) => Client([_kvServiceAddrs[id]]);

    /// <summary>A client of <paramref name="addrs"/> on the cluster's HTTP, clock and randoms, closed at shutdown.</summary>
    private KvClient Client(IReadOnlyList<string> addrs)
    {
        var c = new KvClient(addrs, _log, _limits.ClientAttemptTimeout, _http?.Handler(), Clock, _random);
        lock (_clients)
        {
            _clients.Add(c);
        }
        return c;
    }

    /// <summary>
    /// Checks that exactly one connected service thinks it is the leader, and returns its id.
    /// Tries a few times, 150 ms apart, so it also waits for the cluster to elect one; upstream's
    /// 8 tries unless a test beyond upstream's asks for more, and for 5 s at least (see <see cref="Simulated"/>).
    /// </summary>
    public async Task<int> CheckSingleLeaderAsync(int tries = 8)
    {
        long start = Clock.GetTimestamp();
        for (int r = 0; r < tries || Clock.GetElapsedTime(start) < _limits.LeaderPatience; r++)
        {
            int leaderId = -1;
            for (int i = 0; i < _n; i++)
            {
                if (_connected[i] && _kvCluster[i].IsLeader())
                {
                    if (leaderId < 0)
                    {
                        leaderId = i;
                    }
                    else
                    {
                        Assert.Fail($"both {leaderId} and {i} think they're leaders");
                    }
                }
            }
            if (leaderId >= 0)
            {
                return leaderId;
            }
            await SleepMs(150);
        }

        // On the system clock, the pool's state tells a starved process (late timers, spurious elections) from a Raft bug.
        Assert.Fail($"leader not found{ThreadPoolState()}");
        return -1;
    }

    /// <summary>The thread pool's load on the system clock, for failure messages; nothing on the simulation.</summary>
    private string ThreadPoolState()
    {
        if (_sim is not null)
        {
            return "";
        }
        ThreadPool.GetAvailableThreads(out int available, out _);
        ThreadPool.GetMaxThreads(out int max, out _);
        return $" (thread pool: {ThreadPool.ThreadCount} threads, {max - available} busy, {ThreadPool.PendingWorkItemCount} work items queued)";
    }

    /// <summary>
    /// Beyond upstream: waits until service <paramref name="id"/> no longer thinks it is the
    /// leader, as a stale leader learns when it hears a higher term; fails after 2 s.
    /// </summary>
    public Task WaitUntilNotLeaderAsync(int id) =>
        WaitUntilAsync(() => !_kvCluster[id].IsLeader(), $"service {id} to stop thinking it is the leader", TimeSpan.FromSeconds(2));

    /// <summary>Puts through <paramref name="c"/> and checks it succeeds; returns (prevValue, keyFound).</summary>
    public async Task<(string PrevValue, bool KeyFound)> CheckPutAsync(KvClient c, string key, string value)
    {
        using var cts = RequestDeadline();
        return await Succeeds(() => c.PutAsync(key, value, cts.Token), $"Put({key}, {value})");
    }

    /// <summary>Appends through <paramref name="c"/> and checks it succeeds; returns (prevValue, keyFound).</summary>
    public async Task<(string PrevValue, bool KeyFound)> CheckAppendAsync(KvClient c, string key, string value)
    {
        using var cts = RequestDeadline();
        return await Succeeds(() => c.AppendAsync(key, value, cts.Token), $"Append({key}, {value})");
    }

    /// <summary>Gets through <paramref name="c"/> and checks it succeeds, finds the key, and reads <paramref name="wantValue"/>.</summary>
    public async Task CheckGetAsync(KvClient c, string key, string wantValue)
    {
        using var cts = RequestDeadline();
        var (gv, f) = await Succeeds(() => c.GetAsync(key, cts.Token), $"Get({key})");
        f.Should().BeTrue($"got found=false, want true for key={key}");
        gv.Should().Be(wantValue, $"the value of key={key}");
    }

    /// <summary>CASes through <paramref name="c"/> and checks it succeeds; returns (prevValue, keyFound).</summary>
    public async Task<(string PrevValue, bool KeyFound)> CheckCASAsync(KvClient c, string key, string compare, string value)
    {
        using var cts = RequestDeadline();
        return await Succeeds(() => c.CasAsync(key, compare, value, cts.Token), $"CAS({key}, {compare}, {value})");
    }

    /// <summary>Gets through <paramref name="c"/> and checks it succeeds but does not find the key.</summary>
    public async Task CheckGetNotFoundAsync(KvClient c, string key)
    {
        using var cts = RequestDeadline();
        var (_, f) = await Succeeds(() => c.GetAsync(key, cts.Token), $"Get({key})");
        f.Should().BeFalse($"got found=true, want false for key={key}");
    }

    /// <summary>
    /// Checks that a Get through <paramref name="c"/> runs out of time: the cluster cannot commit
    /// it, so the 300 ms deadline ends the call (Go's "deadline exceeded").
    /// </summary>
    public async Task CheckGetTimesOutAsync(KvClient c, string key)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300), Clock);
        Func<Task> get = () => c.GetAsync(key, cts.Token);
        await get.Should().ThrowAsync<OperationCanceledException>("the Get cannot be committed, so its deadline must end it");
    }

    /// <summary>Writes a test's own line to the log, marked [TEST].</summary>
    public void Tlog(string message) => _log.Write($"[TEST] {message}");

    /// <summary>Waits <paramref name="n"/> milliseconds of the cluster's time.</summary>
    public static async Task SleepMs(int n)
    {
        Simulation? sim = Simulation.Current;
        sim?.ThrowIfFailed();
        await Task.Delay(TimeSpan.FromMilliseconds(n), (TimeProvider?)sim?.Clock ?? TimeProvider.System);
        sim?.ThrowIfFailed();
    }

    /// <summary>
    /// Beyond upstream: waits until <paramref name="condition"/> holds, looking every millisecond;
    /// fails the test after <paramref name="limit"/> (5 s of cluster time unless given), saying what did not happen.
    /// </summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? limit = null)
    {
        TimeSpan patience = limit ?? TimeSpan.FromSeconds(5);
        TimeProvider clock = (TimeProvider?)Simulation.Current?.Clock ?? TimeProvider.System;
        long start = clock.GetTimestamp();
        while (!condition())
        {
            if (clock.GetElapsedTime(start) >= patience)
            {
                Assert.Fail($"waited {patience.TotalSeconds:0.#} s for {what}");
            }
            await SleepMs(1);
        }
    }

    /// <summary>The services' client addresses, by id; for tests that talk HTTP themselves.</summary>
    public IReadOnlyList<string> ServiceAddrs => _kvServiceAddrs;

    /// <summary>Service <paramref name="id"/> itself, for tests beyond upstream's that look inside it.</summary>
    internal KvService Service(int id) => _kvCluster[id];

    /// <summary>The harness's own context, cancelled at shutdown (upstream's h.ctx).</summary>
    public CancellationToken Ctx => _ctx.Token;

    /// <summary>A Check call's deadline (<see cref="RequestTimeout"/>) inside the harness's own context.</summary>
    private DeadlineSource RequestDeadline() => Deadline(_limits.RequestTimeout);

    /// <summary>A deadline <paramref name="after"/> from now on the cluster's clock, inside the harness's own context.</summary>
    public DeadlineSource Deadline(TimeSpan after) => new(after, Clock, _ctx.Token);

    /// <summary>Runs a client call and fails the test, saying which call, if it throws.</summary>
    private async Task<T> Succeeds<T>(Func<Task<T>> call, string what)
    {
        try
        {
            return await call();
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{what}: deadline exceeded{ThreadPoolState()}");
            throw;
        }
        catch (KvException e)
        {
            Assert.Fail($"{what}: {e.Message}");
            throw;
        }
    }

    /// <summary>
    /// Sends a few requests through a throwaway service before the first test. A service warms
    /// its own side before it serves (see KvService.ServeHttpAsync); this warms the client's: the
    /// first request of a process's KvClient compiles its HttpClient and JSON code, which can take
    /// longer than the client's attempt, and the client would resend, so a test's first Put would
    /// run twice. The service is never ready, so it answers NotLeader until the deadline.
    /// </summary>
    private static async Task WarmUpAsync()
    {
        var service = new KvService(0, [1], new MapStorage(), new TaskCompletionSource().Task);
        string addr = await service.ServeHttpAsync();
        using (var c = new KvClient([addr]))
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));
            try
            {
                await c.GetAsync("warm-up", deadline.Token);
            }
            catch (OperationCanceledException)
            {
                // Expected: nobody leads this one-service cluster.
            }
        }
        await service.ShutdownAsync();
    }

    private List<string> LiveAddrs() => [.. Enumerable.Range(0, _n).Where(i => _alive[i]).Select(i => _kvServiceAddrs[i])];

    private static int[] PeerIds(int n, int id) => [.. Enumerable.Range(0, n).Where(p => p != id)];

    /// <summary>Waits up to <paramref name="limit"/> for all tasks to end; returns those still running.</summary>
    private async Task<IReadOnlyList<string>> WaitForTasksAsync(TimeSpan limit)
    {
        long start = Clock.GetTimestamp();
        while (true)
        {
            string[] running = [.. RunningTasks()];
            if (running.Length == 0 || Clock.GetElapsedTime(start) >= limit)
            {
                return running;
            }
            await SleepMs(5);
        }
    }

    /// <summary>What the recording keeps of server <paramref name="id"/> now; null while the cluster is being built.</summary>
    private ServerView? ViewOf(int id)
    {
        if (_kvCluster[id] is null)
        {
            return null;
        }
        CMStatus st = _kvCluster[id].RaftServer.Status();
        bool leads = st.State == CMState.Leader;
        return new ServerView(st.State.ToString(), st.CurrentTerm, st.VotedFor, !_alive[id] ? "crashed" : _connected[id] ? "connected" : "disconnected",
                              [.. st.Log.Select(e => (e.Term, e.Command))],
                              st.CommitIndex, st.LastApplied, leads ? st.NextIndex : null, leads ? st.MatchIndex : null,
                              st.State is CMState.Follower or CMState.Candidate ? st.ElectionResetEvent : null, st.ElectionTimeout);
    }
}
