// The playground's cluster: Part5Kv's KV services with their Raft servers on Part3's simulated
// network, built and broken as Part5Kv's test harness does, one fault action at a time.
using Kv.Service;
using Microsoft.AspNetCore.Http;
using Raft;
using TestLogViz;

namespace RaftPlayground;

/// <summary>Where a server stands: in the cluster, cut off from its peers, or crashed.</summary>
public enum ServerStatus
{
    Connected,
    Disconnected,
    Crashed,
}

/// <summary>What a server's card shows.</summary>
/// <param name="Id">The server's id (also its KV service's).</param>
/// <param name="Role">Follower, Candidate, Leader or Dead (always Dead while crashed): TestLogViz's state names, which pick the card's colour.</param>
/// <param name="Term">Its current term.</param>
/// <param name="VotedFor">Whom it voted for in that term; -1 for nobody.</param>
/// <param name="LogLength">How many entries its log holds.</param>
/// <param name="CommitIndex">The last entry it knows is committed; -1 for none.</param>
/// <param name="LastApplied">The last entry it has handed to its service; -1 for none.</param>
/// <param name="Status">connected, disconnected or crashed.</param>
/// <param name="KvAddr">"127.0.0.1:port" of its KV HTTP API.</param>
/// <param name="Data">Its data store's pairs, by key; null while crashed (the store lived in memory).</param>
public sealed record ServerView(
    int Id, string Role, int Term, int VotedFor, int LogLength, int CommitIndex, int LastApplied,
    string Status, string KvAddr, IReadOnlyDictionary<string, string>? Data);

/// <summary>A request the playground refuses, with the HTTP status that says why (400, 404, 409...).</summary>
public sealed class PlaygroundException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// <c>n</c> KV services, each with its own storage, Raft server and KV port. The fault actions
/// are serialized by one semaphore: two clicks at once could otherwise restart a server twice,
/// or reconnect one that is halfway through crashing. Readers (the page's state) never wait for
/// an action; they take a short lock for a consistent view of who is where.
/// </summary>
public sealed class Cluster
{
    /// <summary>How many servers.</summary>
    private readonly int _n;

    /// <summary>Where every service logs, and where the actions write their own lines.</summary>
    private readonly LiveLog _log;

    /// <summary>Held for the whole of a fault action, awaits included.</summary>
    private readonly SemaphoreSlim _actions = new(1, 1);

    /// <summary>Guards the arrays below for readers; writers also hold <see cref="_actions"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>The current service of each id; a restart replaces a crashed one.</summary>
    private readonly KvService[] _services;

    /// <summary>Each service's stable storage; it outlives a crash, so a restart replays it.</summary>
    private readonly MapStorage[] _storage;

    /// <summary>Each server's status; only an action (under <see cref="_actions"/>) changes it.</summary>
    private readonly ServerStatus[] _status;

    /// <summary>Each service's KV port, fixed at the first start so a restarted service is found where it was.</summary>
    private readonly int[] _ports;

    /// <summary>Every service ever created, for the check that all their tasks ended.</summary>
    private readonly List<KvService> _everCreated = [];

    /// <summary>Whether the simulated network drops and delays messages (upstream's RAFT_UNRELIABLE_RPC).</summary>
    private bool _unreliable;

    /// <summary>Set once shutdown begins; actions after it are refused.</summary>
    private bool _stopped;

    /// <summary>A cluster of <paramref name="n"/>; on <paramref name="clock"/> if given (the log's timeline may share it), else on a clock of its own. Shutdown disposes it.</summary>
    public Cluster(int n, IReadOnlyList<int> kvPorts, LiveLog log, ClusterClock? clock = null)
    {
        _n = n;
        _log = log;
        Clock = clock ?? new ClusterClock();
        _services = new KvService[n];
        _storage = new MapStorage[n];
        _status = new ServerStatus[n];
        _ports = [.. kvPorts];
    }

    public int Size => _n;

    /// <summary>The cluster's time: every Raft server's timers and network run on it (slow motion, pause, step).</summary>
    public ClusterClock Clock { get; }

    /// <summary>Creates the services, connects their Raft servers, lets them start, and serves each KV API.</summary>
    public async Task StartAsync()
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (int i = 0; i < _n; i++)
        {
            _storage[i] = new MapStorage();
            _services[i] = NewService(i, ready.Task);
        }
        for (int i = 0; i < _n; i++)
        {
            for (int j = 0; j < _n; j++)
            {
                if (i != j)
                {
                    _services[i].ConnectToRaftPeer(j, _services[j].GetRaftListenAddr());
                }
            }
        }
        ready.SetResult();
        for (int i = 0; i < _n; i++)
        {
            // A fixed port is kept; a free one (0) is fixed now, so a restart comes back on it.
            string addr = await _services[i].ServeHttpAsync(_ports[i]);
            _ports[i] = new Uri($"http://{addr}").Port;
        }
    }

    /// <summary>Each service's KV address, by id.</summary>
    public IReadOnlyList<string> KvAddrs => [.. _ports.Select(p => $"127.0.0.1:{p}")];

    /// <summary>Whether the network is unreliable now.</summary>
    public bool Unreliable
    {
        get
        {
            lock (_mu)
            {
                return _unreliable;
            }
        }
    }

    /// <summary>The ids and KV addresses of the running services (connected or not): whom a client may ask.</summary>
    public IReadOnlyList<(int Id, string Addr)> RunningServices()
    {
        lock (_mu)
        {
            return [.. Enumerable.Range(0, _n).Where(i => _status[i] != ServerStatus.Crashed).Select(i => (i, $"127.0.0.1:{_ports[i]}"))];
        }
    }

    /// <summary>Every server's card, read now.</summary>
    public IReadOnlyList<ServerView> Views()
    {
        (KvService Service, ServerStatus Status)[] now;
        lock (_mu)
        {
            now = [.. Enumerable.Range(0, _n).Select(i => (_services[i], _status[i]))];
        }
        return [.. now.Select((s, i) => View(i, s.Service, s.Status))];
    }

    /// <summary>
    /// One card: the consensus module's fields, read under its own lock as its methods read
    /// them, so the numbers belong together. A crashed server's module is stopped, but its last
    /// term and log are still there to show.
    /// </summary>
    private ServerView View(int id, KvService service, ServerStatus status)
    {
        ConsensusModule cm = service.RaftServer.Cm;
        ServerState role;
        int term, votedFor, logLength, commitIndex, lastApplied;
        lock (cm.Mu)
        {
            role = Enum.Parse<ServerState>(cm.State.ToString());
            term = cm.CurrentTerm;
            votedFor = cm.VotedFor;
            logLength = cm.Log.Count;
            commitIndex = cm.CommitIndex;
            lastApplied = cm.LastApplied;
        }
        // A crash marks the server before its module has finished stopping; the card must not say "crashed" and "Leader" at once.
        if (status == ServerStatus.Crashed)
        {
            role = ServerState.Dead;
        }
        IReadOnlyDictionary<string, string>? data = status == ServerStatus.Crashed
            ? null
            : new SortedDictionary<string, string>(service.DataSnapshot().ToDictionary(), StringComparer.Ordinal);
        return new ServerView(id, role.ToString(), term, votedFor, logLength, commitIndex, lastApplied,
            status.ToString().ToLowerInvariant(), $"127.0.0.1:{_ports[id]}", data);
    }

    /// <summary>"Crashes" server <paramref name="id"/>: cuts it off, then shuts it down, KV API included. Its storage is kept.</summary>
    public Task<string> CrashAsync(int id) => ActAsync(id, "crash", async () =>
    {
        Expect(id, s => s != ServerStatus.Crashed, "only a running server can be crashed");
        _log.Write($"Crash {id}");
        CutOff(id);
        SetStatus(id, ServerStatus.Crashed);
        await _services[id].ShutdownAsync();
        return $"server {id} crashed";
    });

    /// <summary>
    /// Restarts crashed server <paramref name="id"/>: a new service on the crashed one's storage,
    /// on the same KV port, connected to every connected peer, on the network as it is now.
    /// </summary>
    public Task<string> RestartAsync(int id) => ActAsync(id, "restart", async () =>
    {
        Expect(id, s => s == ServerStatus.Crashed, "only a crashed server can be restarted");
        _log.Write($"Restart {id}");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KvService service = NewService(id, ready.Task);
        try
        {
            await service.ServeHttpAsync(_ports[id]);
        }
        catch (IOException e)
        {
            await service.ShutdownAsync();
            throw new PlaygroundException(StatusCodes.Status500InternalServerError, $"server {id} could not listen on port {_ports[id]} again: {e.Message}");
        }
        lock (_mu)
        {
            _services[id] = service;
        }
        Join(id);
        ready.SetResult();
        return $"server {id} restarted from its storage";
    });

    /// <summary>Cuts server <paramref name="id"/> off from all its peers, both ways; it keeps running.</summary>
    public Task<string> DisconnectAsync(int id) => ActAsync(id, "disconnect", () =>
    {
        Expect(id, s => s == ServerStatus.Connected, "only a connected server can be disconnected");
        _log.Write($"Disconnect {id}");
        CutOff(id);
        SetStatus(id, ServerStatus.Disconnected);
        return Task.FromResult($"server {id} disconnected");
    });

    /// <summary>Connects disconnected server <paramref name="id"/> to every connected peer, both ways.</summary>
    public Task<string> ReconnectAsync(int id) => ActAsync(id, "reconnect", () =>
    {
        Expect(id, s => s == ServerStatus.Disconnected, "only a disconnected server can be reconnected");
        _log.Write($"Reconnect {id}");
        Join(id);
        return Task.FromResult($"server {id} reconnected");
    });

    /// <summary>Makes every running server's network reliable (upstream's 1-5 ms delays) or unreliable (drops and long delays).</summary>
    public Task<string> SetNetworkAsync(bool unreliable) => ActAsync(null, "network", () =>
    {
        _log.Write($"Network {(unreliable ? "unreliable" : "reliable")}");
        lock (_mu)
        {
            _unreliable = unreliable;
        }
        for (int i = 0; i < _n; i++)
        {
            if (_status[i] != ServerStatus.Crashed)
            {
                _services[i].SetRaftNetwork(Conditions());
            }
        }
        return Task.FromResult($"the network is {(unreliable ? "unreliable" : "reliable")}");
    });

    /// <summary>Stops every service; actions from now on are refused. Waits for an action under way to finish first.</summary>
    public async Task ShutdownAsync()
    {
        await _actions.WaitAsync();
        try
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            for (int i = 0; i < _n; i++)
            {
                _services[i]?.DisconnectFromAllRaftPeers();
            }
            for (int i = 0; i < _n; i++)
            {
                if (_services[i] is { } service && _status[i] != ServerStatus.Crashed)
                {
                    SetStatus(i, ServerStatus.Crashed);
                    await service.ShutdownAsync();
                }
            }
            Clock.Dispose();
        }
        finally
        {
            _actions.Release();
        }
    }

    /// <summary>Tasks of any service ever created that are still running, by service.</summary>
    public IReadOnlyList<string> RunningTasks()
    {
        lock (_mu)
        {
            return [.. _everCreated.SelectMany((s, i) => s.RunningTasks().Select(t => $"service #{i}: {t}"))];
        }
    }

    /// <summary>Unexpected exceptions in any service's background tasks.</summary>
    public IReadOnlyList<Exception> Faults()
    {
        lock (_mu)
        {
            return [.. _everCreated.SelectMany(s => s.Faults())];
        }
    }

    private KvService NewService(int id, Task ready)
    {
        var service = new KvService(id, [.. Enumerable.Range(0, _n).Where(p => p != id)], _storage[id], ready, _log, Clock);
        service.SetRaftNetwork(Conditions());
        lock (_mu)
        {
            _everCreated.Add(service);
        }
        return service;
    }

    private NetworkConditions Conditions() => Unreliable ? NetworkConditions.Unreliable : NetworkConditions.Reliable;

    /// <summary>Runs one fault action alone, after checking the id; refuses it once the playground stops.</summary>
    private async Task<string> ActAsync(int? id, string what, Func<Task<string>> action)
    {
        if (id is int i && (i < 0 || i >= _n))
        {
            throw new PlaygroundException(StatusCodes.Status404NotFound, $"no server {i}: ids are 0 to {_n - 1}");
        }
        await _actions.WaitAsync();
        try
        {
            if (_stopped)
            {
                throw new PlaygroundException(StatusCodes.Status503ServiceUnavailable, $"cannot {what}: the playground is stopping");
            }
            return await action();
        }
        finally
        {
            _actions.Release();
        }
    }

    /// <summary>Refuses the action with 409 unless server <paramref name="id"/>'s status passes <paramref name="ok"/>.</summary>
    private void Expect(int id, Func<ServerStatus, bool> ok, string otherwise)
    {
        if (!ok(_status[id]))
        {
            throw new PlaygroundException(StatusCodes.Status409Conflict, $"server {id} is {_status[id].ToString().ToLowerInvariant()}: {otherwise}");
        }
    }

    private void SetStatus(int id, ServerStatus status)
    {
        lock (_mu)
        {
            _status[id] = status;
        }
    }

    /// <summary>Partitions server <paramref name="id"/> from all others, as the harness's DisconnectServiceFromPeers.</summary>
    private void CutOff(int id)
    {
        _services[id].DisconnectFromAllRaftPeers();
        for (int j = 0; j < _n; j++)
        {
            if (j != id && _status[j] != ServerStatus.Crashed)
            {
                _services[j].DisconnectFromRaftPeer(id);
            }
        }
    }

    /// <summary>
    /// Connects server <paramref name="id"/> with every connected peer, both ways. Unlike the
    /// harness, not with disconnected ones: they stay cut off until their own reconnect.
    /// </summary>
    private void Join(int id)
    {
        for (int j = 0; j < _n; j++)
        {
            if (j != id && _status[j] == ServerStatus.Connected)
            {
                _services[id].ConnectToRaftPeer(j, _services[j].GetRaftListenAddr());
                _services[j].ConnectToRaftPeer(id, _services[id].GetRaftListenAddr());
            }
        }
        SetStatus(id, ServerStatus.Connected);
    }
}
