// A cluster of KV services over real loopback HTTP, and clients to exercise it, with faults on demand.
using FluentAssertions;
using Kv.Client;
using Kv.Service;
using Lab;
using Raft;
using Xunit;

namespace Kv.Tests;

/// <summary>
/// <c>n</c> KV services, each with its own storage and HTTP port, and the faults a test can put
/// them through. Use it as <c>await using var h = await Harness.NewHarnessAsync(output, 3);</c>:
/// disposal shuts the cluster down and runs the checks of the earlier parts' harness.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    /// <summary>
    /// How long each Check call (CheckPut and the like) gives a request to succeed. Upstream gives
    /// 500 ms, which is what a commit costs only on a machine with time to spare: beside other
    /// tests' clusters an election that a late heartbeat set off, and the client's round of the
    /// services after it, can take longer. Every Check call expects success, so a passing test
    /// never waits for this; the one check that expects a call to run out has its own 300 ms.
    /// </summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long <see cref="CheckSingleLeaderAsync"/> waits for an election at least. Upstream's 8
    /// looks take 1.2 s, but beside other tests' clusters an election can take longer: late
    /// timers split the vote again and again. A passing test never waits for it.
    /// </summary>
    private static readonly TimeSpan LeaderPatience = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The clients' limit per attempt. Upstream's 50 ms is a coin toss on a loaded 2-core machine:
    /// a commit stalled past it makes the client resend, and the answer to the resend fails a
    /// Check call: the resend is applied once, but it is answered DuplicateRequest.
    /// Longer, yet short enough that every scenario still moves off a cut-off leader well inside
    /// its 500 ms, and shorter than the 300 ms of DelayNextHTTPResponse, so that a delayed answer
    /// still makes the client resend.
    /// </summary>
    private static readonly TimeSpan ClientAttemptTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>The number of services.</summary>
    private readonly int _n;

    /// <summary>Every service of the cluster; its index is its id. A restart replaces a crashed one.</summary>
    private readonly KvService[] _kvCluster;

    /// <summary>Every service ever created, crashed ones included, for the leak check.</summary>
    private readonly List<(int Id, KvService Service)> _everCreated = [];

    /// <summary>
    /// The "host:port" each service takes client requests on. Bound to free ports (upstream uses
    /// fixed ones from 14200), so parallel runs never collide.
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
    private readonly TestLog _log;

    /// <summary>
    /// Upstream's leaktest.CheckTimeout: when set, every task of the cluster must end within this
    /// time of shutdown, or the test fails naming the ones still running.
    /// </summary>
    private readonly TimeSpan? _leakCheck;

    /// <summary>Set by the first shutdown; a second is a no-op.</summary>
    private bool _shutdown;

    /// <summary>This cluster's place at the <see cref="MachineGate"/>, given back at shutdown.</summary>
    private MachineGate.Pass? _pass;

    /// <summary>The simulated network between the services' Raft servers, restarted ones included (the lab's).</summary>
    private readonly Network _network;

    private Harness(int n, TestLog log, TimeSpan? leakCheck)
    {
        _n = n;
        _log = log;
        _leakCheck = leakCheck;
        _network = new Network(TimeProvider.System, log);
        _kvCluster = new KvService[n];
        _kvServiceAddrs = new string[n];
        _storage = new MapStorage[n];
        _connected = new bool[n];
        _alive = new bool[n];
    }

    /// <summary>Once per process, see <see cref="WarmUpAsync"/>.</summary>
    private static readonly Lazy<Task> WarmedUp = new(WarmUpAsync);

    /// <summary>
    /// Waits for a cluster place at the <see cref="MachineGate"/>, then starts the cluster
    /// (<see cref="StartClusterAsync"/>); a cluster that fails to start gives its place back.
    /// </summary>
    public static async Task<Harness> NewHarnessAsync(ITestOutputHelper output, int n, TimeSpan? leakCheck = null)
    {
        MachineGate.Pass pass = await MachineGate.EnterAsync(GateRole.Cluster);
        if (pass.Waited > TimeSpan.FromMilliseconds(100))
        {
            output.WriteLine($"(waited {pass.Waited.TotalSeconds:F1} s at the machine gate for a cluster place)");
        }
        try
        {
            Harness h = await StartClusterAsync(output, n, leakCheck);
            h._pass = pass;
            return h;
        }
        catch
        {
            pass.Dispose();
            throw;
        }
    }

    /// <summary>Creates <paramref name="n"/> services, connects their Raft servers and starts their HTTP servers.</summary>
    private static async Task<Harness> StartClusterAsync(ITestOutputHelper output, int n, TimeSpan? leakCheck)
    {
        await WarmedUp.Value;
        var h = new Harness(n, new TestLog(output), leakCheck);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Create all services, each with the ids of the others as its Raft peers.
        for (int i = 0; i < n; i++)
        {
            h._storage[i] = new MapStorage();
            h._kvCluster[i] = new KvService(i, PeerIds(n, i), h._storage[i], ready.Task, h._log);
            h._kvCluster[i].RaftServer.Proxy().Hook = h._network.HookFor(i);
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
            h._kvServiceAddrs[i] = await h._kvCluster[i].ServeHttpAsync();
        }
        return h;
    }

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
        try
        {
            await StopEverythingAsync();
        }
        finally
        {
            _pass?.Dispose();
        }
    }

    /// <summary>The shutdown proper, checks included: its cluster place is given back whatever it throws.</summary>
    private async Task StopEverythingAsync()
    {
        for (int i = 0; i < _n; i++)
        {
            _kvCluster[i].DisconnectFromAllRaftPeers();
            _connected[i] = false;
        }

        // Requests still running give up, and the clients' connections close.
        await _ctx.CancelAsync();
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
                await _kvCluster[i].ShutdownAsync();
            }
        }

        IReadOnlyList<string> running = await WaitForTasksAsync(_leakCheck ?? TimeSpan.FromSeconds(1));
        await _log.CloseAsync();

        Exception[] faults = [.. _everCreated.SelectMany(s => s.Service.Faults())];
        faults.Should().BeEmpty("no background task may fail");
        if (_leakCheck is { } limit)
        {
            running.Should().BeEmpty($"every task must end within {limit.TotalMilliseconds} ms of shutdown");
        }
    }

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
    /// storage, connected to the live peers. It listens on a new free port (upstream reuses the
    /// old one); clients made from now on know it.
    /// </summary>
    public async Task RestartServiceAsync(int id)
    {
        _alive[id].Should().BeFalse($"id={id} is alive in RestartService");
        Tlog($"Restart {id}");

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _kvCluster[id] = new KvService(id, PeerIds(_n, id), _storage[id], ready.Task, _log);
        _everCreated.Add((id, _kvCluster[id]));
        _kvServiceAddrs[id] = await _kvCluster[id].ServeHttpAsync();

        _kvCluster[id].RaftServer.Proxy().Hook = _network.HookFor(id);
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
    public KvClient NewClient() => Track(new KvClient(LiveAddrs(), _log, ClientAttemptTimeout));

    /// <summary>A client of all the live services, in a random order.</summary>
    public KvClient NewClientWithRandomAddrsOrder()
    {
        string[] addrs = [.. LiveAddrs()];
        Random.Shared.Shuffle(addrs);
        return Track(new KvClient(addrs, _log, ClientAttemptTimeout));
    }

    /// <summary>
    /// A client of service <paramref name="id"/> alone; unless that is the leader, it can only
    /// go on retrying.
    /// </summary>
    public KvClient NewClientSingleService(int id) => Track(new KvClient([_kvServiceAddrs[id]], _log, ClientAttemptTimeout));

    /// <summary>
    /// Checks that exactly one connected service thinks it is the leader, and returns its id.
    /// Tries a few times, 150 ms apart, so it also waits for the cluster to elect one; upstream's
    /// 8 tries unless a test beyond upstream's asks for more, and at least for <see cref="LeaderPatience"/>.
    /// </summary>
    public async Task<int> CheckSingleLeaderAsync(int tries = 8)
    {
        var deadline = DateTime.UtcNow + LeaderPatience;
        for (int r = 0; r < tries || DateTime.UtcNow < deadline; r++)
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

        // The pool's state tells a starved process (late timers, spurious elections) from a Raft bug.
        Assert.Fail($"leader not found ({ThreadPoolState()})");
        return -1;
    }

    /// <summary>The thread pool's load, for failure messages.</summary>
    private static string ThreadPoolState()
    {
        ThreadPool.GetAvailableThreads(out int available, out _);
        ThreadPool.GetMaxThreads(out int max, out _);
        return $"thread pool: {ThreadPool.ThreadCount} threads, {max - available} busy, {ThreadPool.PendingWorkItemCount} work items queued";
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
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "One of the harness's checks, called like the others")]
    public async Task CheckGetTimesOutAsync(KvClient c, string key)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        Func<Task> get = () => c.GetAsync(key, cts.Token);
        await get.Should().ThrowAsync<OperationCanceledException>("the Get cannot be committed, so its deadline must end it");
    }

    /// <summary>Writes a test's own line to the log, marked [TEST].</summary>
    public void Tlog(string message) => _log.Write($"[TEST] {message}");

    /// <summary>Waits <paramref name="n"/> milliseconds, without blocking a thread.</summary>
    public static Task SleepMs(int n) => Task.Delay(n);

    /// <summary>
    /// Beyond upstream: waits until <paramref name="condition"/> holds, looking every millisecond;
    /// fails the test after <paramref name="limit"/> (5 s unless given), saying what did not happen.
    /// </summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? limit = null)
    {
        TimeSpan patience = limit ?? TimeSpan.FromSeconds(5);
        var deadline = DateTime.UtcNow + patience;
        while (!condition())
        {
            if (DateTime.UtcNow >= deadline)
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
    private CancellationTokenSource RequestDeadline()
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_ctx.Token);
        cts.CancelAfter(RequestTimeout);
        return cts;
    }

    /// <summary>Runs a client call and fails the test, saying which call, if it throws.</summary>
    private static async Task<T> Succeeds<T>(Func<Task<T>> call, string what)
    {
        try
        {
            return await call();
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{what}: deadline exceeded ({ThreadPoolState()})");
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

    private KvClient Track(KvClient c)
    {
        lock (_clients)
        {
            _clients.Add(c);
        }
        return c;
    }

    private List<string> LiveAddrs() => [.. Enumerable.Range(0, _n).Where(i => _alive[i]).Select(i => _kvServiceAddrs[i])];

    private static int[] PeerIds(int n, int id) => [.. Enumerable.Range(0, n).Where(p => p != id)];

    /// <summary>Waits up to <paramref name="limit"/> for all tasks to end; returns those still running.</summary>
    private async Task<IReadOnlyList<string>> WaitForTasksAsync(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            string[] running = [.. _everCreated.SelectMany(s => s.Service.RunningTasks().Select(name => $"service {s.Id}: {name}"))];
            if (running.Length == 0 || DateTime.UtcNow >= deadline)
            {
                return running;
            }
            await Task.Delay(5);
        }
    }
}
