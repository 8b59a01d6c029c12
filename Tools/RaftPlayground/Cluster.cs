// The playground's cluster: Part5Kv's KV services with their Raft servers on the lab's simulated
// network, inside one paced simulation, built and broken as Part5Kv's test harness does.
using Kv.Service;
using Lab;
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

/// <summary>A request the playground refuses, with the HTTP status that says why (400, 404, 409...).</summary>
public sealed class PlaygroundException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>What one link between two servers is: up, cut by a partition, or down because a server at either end is disconnected or crashed.</summary>
public enum LinkState
{
    Up,
    Cut,
    Down,
}

/// <summary>
/// <c>n</c> KV services, each with its own storage, Raft server and KV address, all on one
/// simulation's thread and clock (see <see cref="ClusterRun"/>), whose HTTP is the lab's
/// in-memory <see cref="SimulatedHttp"/>: every method here runs on that thread. Which servers talk
/// to which follows from two things: each server's status, and which group of a partition it is
/// in; two servers are linked when both are connected and in the same group. The fault actions
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

    /// <summary>Each server's group in the partition; all 0 while the network is whole. Only an action changes it.</summary>
    private readonly int[] _group;

    /// <summary>Each service's KV address ("127.0.0.1:port"): the port outside clients use, and the simulated server's name.</summary>
    private readonly string[] _addrs;

    /// <summary>The simulation everything runs on.</summary>
    private readonly Simulation _sim;

    /// <summary>The services' HTTP, inside the simulation.</summary>
    private readonly SimulatedHttp _http;

    /// <summary>Each server's clock (the run's, which "time out now" moves on for that server alone); kept across restarts.</summary>
    private readonly ServerClock[] _clocks;

    /// <summary>Every service ever created, for the check that all their tasks ended.</summary>
    private readonly List<KvService> _everCreated = [];

    /// <summary>The simulated network between the Raft servers (the lab's), on the cluster's clock.</summary>
    private readonly Network _network;

    /// <summary>Whether the simulated network drops and delays messages (upstream's RAFT_UNRELIABLE_RPC).</summary>
    private bool _unreliable;

    /// <summary>Set once shutdown begins; actions after it are refused.</summary>
    private bool _stopped;

    /// <summary>A cluster of <paramref name="kvAddrs"/>.Count servers on <paramref name="sim"/>; build it on the simulation's thread.</summary>
    public Cluster(IReadOnlyList<string> kvAddrs, LiveLog log, Simulation sim, SimulatedHttp http)
    {
        _n = kvAddrs.Count;
        _log = log;
        _sim = sim;
        _http = http;
        _network = Network.For(sim, log);
        Messages = new MessageBoard(sim.Clock, _network);
        _services = new KvService[_n];
        _storage = new MapStorage[_n];
        _status = new ServerStatus[_n];
        _group = new int[_n];
        _addrs = [.. kvAddrs];
        _clocks = [.. Enumerable.Range(0, _n).Select(_ => new ServerClock(sim.Clock))];
    }

    public int Size => _n;

    /// <summary>The cluster's time: the simulation's clock.</summary>
    public VirtualClock Clock => _sim.Clock;

    /// <summary>The services' HTTP, for clients inside the simulation (the console, the scenarios).</summary>
    public SimulatedHttp Http => _http;

    /// <summary>Told after every change of the links, with which pairs are linked now (for the recording).</summary>
    internal Action<Func<int, int, bool>>? Relinked { get; set; }

    /// <summary>A seeded random of the run, for a client inside it.</summary>
    internal Random NewRandom() => _sim.NewRandom();

    /// <summary>The simulated network, for a recorder.</summary>
    internal Network Network => _network;

    /// <summary>The messages between the servers, as every Raft server's network reports them.</summary>
    public MessageBoard Messages { get; }

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
            await _services[i].ServeHttpAsync(_http.NewServer(_addrs[i]));
        }
    }

    /// <summary>Each service's KV address, by id.</summary>
    public IReadOnlyList<string> KvAddrs => _addrs;

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

    /// <summary>The partition's groups, each a sorted list of ids, or null while the network is whole.</summary>
    public IReadOnlyList<IReadOnlyList<int>>? Groups()
    {
        lock (_mu)
        {
            return GroupsOf(_group);
        }
    }

    /// <summary>Every pair's link, as the servers' status and groups make it.</summary>
    public IReadOnlyList<LinkView> Links()
    {
        lock (_mu)
        {
            var links = new List<LinkView>();
            for (int a = 0; a < _n; a++)
            {
                for (int b = a + 1; b < _n; b++)
                {
                    links.Add(new LinkView(a, b, LinkOf(a, b).ToString().ToLowerInvariant()));
                }
            }
            return links;
        }
    }

    /// <summary>The ids and KV addresses of the running services (connected or not): whom a client may ask.</summary>
    public IReadOnlyList<(int Id, string Addr)> RunningServices()
    {
        lock (_mu)
        {
            return [.. Enumerable.Range(0, _n).Where(i => _status[i] != ServerStatus.Crashed).Select(i => (i, _addrs[i]))];
        }
    }

    /// <summary>Every server's card, read now.</summary>
    public IReadOnlyList<ServerView> Views() => [.. Read([.. Enumerable.Repeat(int.MaxValue, _n)]).Select(r => r.Card)];

    /// <summary>
    /// Every server's card and log, read now: server i's log terms from index
    /// <paramref name="logFrom"/>[i] on (its whole log from 0; none from its length or beyond).
    /// </summary>
    public IReadOnlyList<ServerReading> Read(ReadOnlySpan<int> logFrom)
    {
        (KvService Service, ServerStatus Status)[] now;
        lock (_mu)
        {
            now = [.. Enumerable.Range(0, _n).Select(i => (_services[i], _status[i]))];
        }
        var readings = new ServerReading[_n];
        for (int i = 0; i < _n; i++)
        {
            readings[i] = Read(i, now[i].Service, now[i].Status, logFrom[i]);
        }
        return readings;
    }

    /// <summary>
    /// One server's card and log: a copy of its consensus module's state, taken under the
    /// module's lock, so the numbers belong together. A crashed server's module is stopped, but
    /// its last term and log are still there to show.
    /// </summary>
    private ServerReading Read(int id, KvService service, ServerStatus status, int logFrom)
    {
        CMStatus cm = service.RaftServer.Status();
        var role = Enum.Parse<ServerState>(cm.State.ToString());
        int term = cm.CurrentTerm, votedFor = cm.VotedFor, logLength = cm.Log.Count, commitIndex = cm.CommitIndex, lastApplied = cm.LastApplied;
        int[] terms = [.. cm.Log.Skip(logFrom).Select(e => e.Term)];
        int?[]? nextIndex = null, matchIndex = null;
        double? timerMs = null, timeoutMs = null;
        // A follower's or candidate's election countdown: how far it has gone (a leader runs none).
        if (role is ServerState.Follower or ServerState.Candidate && cm.ElectionTimeout > TimeSpan.Zero)
        {
            timeoutMs = cm.ElectionTimeout.TotalMilliseconds;
            timerMs = Math.Round(Math.Min(_clocks[id].GetElapsedTime(cm.ElectionResetEvent).TotalMilliseconds, timeoutMs.Value), 3);
        }
        // A leader's view of each follower: what it will send next, and what it knows the follower holds.
        if (role == ServerState.Leader)
        {
            nextIndex = [.. Enumerable.Range(0, _n).Select(p => cm.NextIndex.TryGetValue(p, out int ni) ? ni : (int?)null)];
            matchIndex = [.. Enumerable.Range(0, _n).Select(p => cm.MatchIndex.TryGetValue(p, out int mi) ? mi : (int?)null)];
        }
        // A crash marks the server before its module has finished stopping; the card must not say "crashed" and "Leader" at once.
        if (status == ServerStatus.Crashed)
        {
            role = ServerState.Dead;
            nextIndex = matchIndex = null;
            timerMs = timeoutMs = null;
        }
        IReadOnlyDictionary<string, string>? data = status == ServerStatus.Crashed
            ? null
            : new SortedDictionary<string, string>(service.DataSnapshot().ToDictionary(), StringComparer.Ordinal);
        var card = new ServerView(id, role.ToString(), term, votedFor, logLength, commitIndex, lastApplied,
            status.ToString().ToLowerInvariant(), _addrs[id], data, nextIndex, matchIndex, timerMs, timeoutMs);
        return new ServerReading(card, service.RaftServer, Math.Min(logFrom, logLength), terms);
    }

    /// <summary>
    /// What a step did, said from the servers' state before it and now: ": S2's election timer ran
    /// out: S2 stands for term 4", a new leader, or the messages sent. Empty if nothing showed.
    /// </summary>
    internal string WhatHappened(IReadOnlyList<ServerView> before)
    {
        IReadOnlyList<ServerView> now = Views();
        var said = new List<string>();
        foreach (ServerView c in now)
        {
            ServerView b = before[c.Id];
            if (c.Role == "Candidate" && c.Term > b.Term)
            {
                said.Add($"S{c.Id}'s election timer ran out: S{c.Id} stands for term {c.Term}");
            }
            else if (c.Role == "Leader" && b.Role != "Leader")
            {
                said.Add($"S{c.Id} has a majority: it leads term {c.Term}");
            }
            else if (c.Role == "Follower" && b.Role != "Follower" && b.Role != "Dead")
            {
                said.Add($"S{c.Id} steps down to follower (term {c.Term})");
            }
            else if (c.CommitIndex > b.CommitIndex)
            {
                said.Add($"S{c.Id} commits up to index {c.CommitIndex}");
            }
        }
        return said.Count == 0 ? "" : ": " + string.Join("; ", said);
    }

    /// <summary>What the recording keeps of server <paramref name="id"/> now; null before it exists.</summary>
    internal Lab.ServerView? RecordedView(int id)
    {
        KvService? service;
        ServerStatus status;
        lock (_mu)
        {
            service = _services[id];
            status = _status[id];
        }
        if (service is null)
        {
            return null;
        }
        CMStatus st = service.RaftServer.Status();
        bool dead = status == ServerStatus.Crashed;
        bool leads = st.State == CMState.Leader && !dead;
        return new Lab.ServerView(dead ? "Dead" : st.State.ToString(), st.CurrentTerm, st.VotedFor, status.ToString().ToLowerInvariant(),
            [.. st.Log.Select(e => (e.Term, e.Command))], st.CommitIndex, st.LastApplied, leads ? st.NextIndex : null, leads ? st.MatchIndex : null,
            !dead && st.State is CMState.Follower or CMState.Candidate ? st.ElectionResetEvent - _clocks[id].Offset : null, st.ElectionTimeout);
    }

    /// <summary>"Crashes" server <paramref name="id"/>: cuts it off, then shuts it down, KV API included. Its storage is kept.</summary>
    public Task<string> CrashAsync(int id) => ActAsync(id, "crash", async () =>
    {
        Expect(id, s => s != ServerStatus.Crashed, "only a running server can be crashed");
        _log.Write($"Crash {id}");
        SetStatus(id, ServerStatus.Crashed);
        _services[id].DisconnectFromAllRaftPeers();
        Relink();
        await _services[id].ShutdownAsync();
        return $"server {id} crashed";
    });

    /// <summary>
    /// Restarts crashed server <paramref name="id"/>: a new service on the crashed one's storage,
    /// on the same KV port, connected to every connected peer of its group, on the network as it is now.
    /// </summary>
    public Task<string> RestartAsync(int id) => ActAsync(id, "restart", async () =>
    {
        Expect(id, s => s == ServerStatus.Crashed, "only a crashed server can be restarted");
        _log.Write($"Restart {id}");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KvService service = NewService(id, ready.Task);
        await service.ServeHttpAsync(_http.NewServer(_addrs[id]));
        lock (_mu)
        {
            _services[id] = service;
            _status[id] = ServerStatus.Connected;
        }
        Relink();
        ready.SetResult();
        return $"server {id} restarted from its storage";
    });

    /// <summary>
    /// Makes follower or candidate <paramref name="id"/>'s election timer run out now, as RaftScope's
    /// "timeout" does: its clock moves on by what was left (see <see cref="ServerClock"/>), and its
    /// next tick (within 10 ms) starts an election. 409 for a leader (it runs no election timer) or a crashed server.
    /// </summary>
    public Task<string> TimeoutNowAsync(int id) => ActAsync(id, "time out", () =>
    {
        Expect(id, s => s != ServerStatus.Crashed, "a crashed server runs no timer");
        CMStatus st = _services[id].RaftServer.Status();
        if (st.State == CMState.Leader)
        {
            throw new PlaygroundException(StatusCodes.Status409Conflict, $"server {id} is the leader: a leader runs no election timer");
        }
        TimeSpan left = st.ElectionTimeout - _clocks[id].GetElapsedTime(st.ElectionResetEvent);
        _log.Write($"Time out {id}");
        _clocks[id].RunOutElectionTimer(left);
        return Task.FromResult($"server {id}'s election timer runs out now: it stands for election at its next tick");
    });

    /// <summary>Cuts server <paramref name="id"/> off from all its peers, both ways; it keeps running.</summary>
    public Task<string> DisconnectAsync(int id) => ActAsync(id, "disconnect", () =>
    {
        Expect(id, s => s == ServerStatus.Connected, "only a connected server can be disconnected");
        _log.Write($"Disconnect {id}");
        SetStatus(id, ServerStatus.Disconnected);
        Relink();
        return Task.FromResult($"server {id} disconnected");
    });

    /// <summary>Connects disconnected server <paramref name="id"/> to every connected peer of its group, both ways.</summary>
    public Task<string> ReconnectAsync(int id) => ActAsync(id, "reconnect", () =>
    {
        Expect(id, s => s == ServerStatus.Disconnected, "only a disconnected server can be reconnected");
        _log.Write($"Reconnect {id}");
        SetStatus(id, ServerStatus.Connected);
        Relink();
        return Task.FromResult($"server {id} reconnected");
    });

    /// <summary>
    /// Splits the servers into <paramref name="groups"/>: a server talks only to those of its own
    /// group. Servers named in no group form one more group together, so [[0, 1]] is {0, 1} |
    /// the rest. A server's status still counts: a disconnected one stays cut off from everyone.
    /// </summary>
    public Task<string> PartitionAsync(IReadOnlyList<IReadOnlyList<int>> groups) => ActAsync(null, "partition", () =>
    {
        int[] group = GroupNumbers(groups);
        string text = Describe(GroupsOf(group)!);
        _log.Write($"Partition {text}");
        lock (_mu)
        {
            group.CopyTo(_group, 0);
        }
        Relink();
        return Task.FromResult($"partitioned: {text}");
    });

    /// <summary>Ends the partition: every connected server talks to every other again.</summary>
    public Task<string> HealAsync() => ActAsync(null, "heal", () =>
    {
        if (_group.All(g => g == 0))
        {
            return Task.FromResult("there was no partition to heal");
        }
        _log.Write("Heal");
        lock (_mu)
        {
            Array.Clear(_group);
        }
        Relink();
        return Task.FromResult("healed: every connected server talks to every other");
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
                _network.SetConditions(i, Conditions());
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
        var service = new KvService(id, [.. Enumerable.Range(0, _n).Where(p => p != id)], _storage[id], ready, _log, _clocks[id], _sim.NewRandom());
        _network.SetConditions(id, Conditions());
        service.RaftServer.Proxy().Hook = _network.HookFor(id);
        lock (_mu)
        {
            _everCreated.Add(service);
        }
        return service;
    }

    /// <summary>Reliable here means replies travel too (1-5 ms each way), so the page can show them on their link.</summary>
    private NetworkConditions Conditions() => Unreliable ? NetworkConditions.Unreliable : NetworkConditions.ReliableBothWays;

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

    /// <summary>
    /// Makes every running server's connections what the statuses and groups say: each link
    /// that should be up is connected both ways (connecting an open one does nothing), every
    /// other one is closed. A crashed server is left alone; its peers close their side.
    /// </summary>
    private void Relink()
    {
        Relinked?.Invoke((a, b) => LinkOf(a, b) == LinkState.Up);
        for (int i = 0; i < _n; i++)
        {
            if (_status[i] == ServerStatus.Crashed)
            {
                continue;
            }
            for (int j = 0; j < _n; j++)
            {
                if (j == i)
                {
                    continue;
                }
                if (LinkOf(i, j) == LinkState.Up)
                {
                    _services[i].ConnectToRaftPeer(j, _services[j].GetRaftListenAddr());
                }
                else
                {
                    _services[i].DisconnectFromRaftPeer(j);
                }
            }
        }
    }

    /// <summary>What the link between <paramref name="a"/> and <paramref name="b"/> should be, from their statuses and groups.</summary>
    private LinkState LinkOf(int a, int b) =>
        _status[a] != ServerStatus.Connected || _status[b] != ServerStatus.Connected ? LinkState.Down
        : _group[a] != _group[b] ? LinkState.Cut
        : LinkState.Up;

    /// <summary>
    /// Each server's group number for <paramref name="groups"/> (the servers named in none get
    /// the last), or a 400 saying what is wrong with them.
    /// </summary>
    private int[] GroupNumbers(IReadOnlyList<IReadOnlyList<int>> groups)
    {
        int[] group = [.. Enumerable.Repeat(-1, _n)];
        for (int g = 0; g < groups.Count; g++)
        {
            if (groups[g] is not { Count: > 0 } members)
            {
                throw BadPartition($"group {g + 1} is empty");
            }
            foreach (int id in members)
            {
                if (id < 0 || id >= _n)
                {
                    throw BadPartition($"there is no server {id} (group {g + 1}): ids are 0 to {_n - 1}");
                }
                if (group[id] >= 0)
                {
                    throw BadPartition(group[id] == g
                        ? $"server {id} is named twice in group {g + 1}"
                        : $"server {id} is in two groups ({group[id] + 1} and {g + 1}): a server is in one group only");
                }
                group[id] = g;
            }
        }
        // The servers left out form one more group.
        for (int id = 0; id < _n; id++)
        {
            if (group[id] < 0)
            {
                group[id] = groups.Count;
            }
        }
        if (group.Distinct().Count() < 2)
        {
            throw BadPartition("that is one group of every server, no partition: name two groups, or one and leave the rest out (use heal to end a partition)");
        }
        return group;
    }

    private static PlaygroundException BadPartition(string reason) => new(StatusCodes.Status400BadRequest, $"bad partition: {reason}");

    /// <summary>The groups of <paramref name="group"/> as sorted lists of ids, in the order of their smallest id; null for one group.</summary>
    private static IReadOnlyList<int>[]? GroupsOf(int[] group)
    {
        IReadOnlyList<int>[] groups = [.. Enumerable.Range(0, group.Length).GroupBy(i => group[i]).Select(g => (IReadOnlyList<int>)[.. g.Order()]).OrderBy(g => g[0])];
        return groups.Length < 2 ? null : groups;
    }

    /// <summary>"{0, 1} | {2, 3, 4}".</summary>
    internal static string Describe(IReadOnlyList<IReadOnlyList<int>> groups) =>
        string.Join(" | ", groups.Select(g => $"{{{string.Join(", ", g)}}}"));
}
