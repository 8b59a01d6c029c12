// A three-server Part3 cluster with logging off, instrumented for measuring.
using System.Diagnostics;
using System.Threading.Channels;
using Lab;
using Raft;

namespace RaftBench;

/// <summary>
/// A cluster of Part3 servers in this process, as the tests build one, plus counters: how many
/// entries each server has delivered on its commit channel, and how much each wrote to storage.
/// </summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    private readonly Server[] _servers;
    private readonly CountingStorage[] _storage;
    private readonly Channel<CommitEntry>[] _commits;
    private readonly Task[] _collectors;

    /// <summary>Entries delivered so far, per server, a command delivered twice counted twice.</summary>
    private readonly long[] _delivered;

    /// <summary>Guards <see cref="_seen"/> and <see cref="_waiters"/>, one lock per server.</summary>
    private readonly Lock[] _seenMu;

    /// <summary>
    /// The distinct commands each server has delivered. A command resubmitted after a leader change
    /// can be delivered twice (once from the old leader's entry, once from the new); it counts once.
    /// </summary>
    private readonly HashSet<int>[] _seen;

    /// <summary>Per server, waiters for one command to be delivered by it.</summary>
    private readonly Dictionary<int, TaskCompletionSource>[] _waiters;

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The network between the servers.</summary>
    private readonly Network _network = new(TimeProvider.System);

    /// <summary>The network every server of the next clusters gets; --no-rpc-delay makes it instant.</summary>
    public static NetworkConditions Network { get; set; } = NetworkConditions.FromEnvironment();

    public BenchCluster(int n = 3)
    {
        _servers = new Server[n];
        _storage = new CountingStorage[n];
        _commits = new Channel<CommitEntry>[n];
        _delivered = new long[n];
        _seenMu = [.. Enumerable.Range(0, n).Select(_ => new Lock())];
        _seen = [.. Enumerable.Range(0, n).Select(_ => new HashSet<int>())];
        _waiters = [.. Enumerable.Range(0, n).Select(_ => new Dictionary<int, TaskCompletionSource>())];
        _network.SetConditions(Network);
        for (int i = 0; i < n; i++)
        {
            int[] peers = [.. Enumerable.Range(0, n).Where(p => p != i)];
            _storage[i] = new CountingStorage();
            _commits[i] = Channel.CreateUnbounded<CommitEntry>(new UnboundedChannelOptions { SingleReader = true });
            _servers[i] = new Server(i, peers, _storage[i], _ready.Task, _commits[i].Writer);
            _servers[i].Serve();
            _servers[i].Proxy().Hook = _network.HookFor(i);
        }
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (i != j)
                {
                    _servers[i].ConnectToPeer(j, _servers[j].GetListenAddr());
                }
            }
        }
        _collectors = [.. Enumerable.Range(0, n).Select(i => Task.Run(() => CollectAsync(i)))];
    }

    public int Size => _servers.Length;

    /// <summary>Lets the servers start their election timers; returns the moment it did.</summary>
    public long Start()
    {
        long now = Stopwatch.GetTimestamp();
        _ready.SetResult();
        return now;
    }

    public long Delivered(int id) => Interlocked.Read(ref _delivered[id]);

    public long[] DeliveredAll() => [.. Enumerable.Range(0, Size).Select(Delivered)];

    /// <summary>How many different commands server <paramref name="id"/> has delivered.</summary>
    public int DistinctDelivered(int id)
    {
        lock (_seenMu[id])
        {
            return _seen[id].Count;
        }
    }

    public int[] DistinctDeliveredAll() => [.. Enumerable.Range(0, Size).Select(DistinctDelivered)];

    /// <summary>Whether server <paramref name="id"/> has delivered <paramref name="command"/>.</summary>
    public bool HasDelivered(int id, int command)
    {
        lock (_seenMu[id])
        {
            return _seen[id].Contains(command);
        }
    }

    public int Submit(int id, int command) => _servers[id].Submit(command);

    /// <summary>
    /// The leader of the highest term among the servers that think they lead, or null while none
    /// does. A leader cut off from the others keeps thinking it leads, in its old term; once the
    /// others elect a new leader, the new one has the higher term.
    /// </summary>
    public (int Id, int Term)? CurrentLeader()
    {
        (int Id, int Term)? best = null;
        foreach (Server s in _servers)
        {
            var (id, term, isLeader) = s.Report();
            if (isLeader && (best is null || term > best.Value.Term))
            {
                best = (id, term);
            }
        }
        return best;
    }

    /// <summary>Cuts server <paramref name="id"/> off from the others, both ways, as the tests' harness does.</summary>
    public void Disconnect(int id)
    {
        _servers[id].DisconnectAll();
        for (int j = 0; j < Size; j++)
        {
            if (j != id)
            {
                _servers[j].DisconnectPeer(id);
            }
        }
    }

    /// <summary>Connects server <paramref name="id"/> to the others again, both ways.</summary>
    public void Reconnect(int id)
    {
        for (int j = 0; j < Size; j++)
        {
            if (j != id)
            {
                _servers[id].ConnectToPeer(j, _servers[j].GetListenAddr());
                _servers[j].ConnectToPeer(id, _servers[id].GetListenAddr());
            }
        }
    }

    /// <summary>The one server that thinks it leads, or -1 while there is none or more than one.</summary>
    public int SingleLeader()
    {
        int leader = -1;
        for (int i = 0; i < Size; i++)
        {
            if (_servers[i].IsLeader())
            {
                if (leader >= 0)
                {
                    return -1;
                }
                leader = i;
            }
        }
        return leader;
    }

    /// <summary>Waits until there is exactly one leader; polls every millisecond.</summary>
    public async Task<int> WaitForLeaderAsync(TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            int leader = SingleLeader();
            if (leader >= 0)
            {
                return leader;
            }
            if (sw.Elapsed > limit)
            {
                throw new StallException($"no single leader within {limit.TotalSeconds} s", Describe());
            }
            await Task.Delay(1);
        }
    }

    /// <summary>
    /// A task that completes when server <paramref name="id"/> delivers <paramref name="command"/>,
    /// at once if it already has.
    /// </summary>
    public Task WhenDelivered(int id, int command)
    {
        lock (_seenMu[id])
        {
            if (_seen[id].Contains(command))
            {
                return Task.CompletedTask;
            }
            if (!_waiters[id].TryGetValue(command, out TaskCompletionSource? waiter))
            {
                waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters[id][command] = waiter;
            }
            return waiter.Task;
        }
    }

    /// <summary>Storage writes so far, over all servers: how many, and how many bytes.</summary>
    public (long Writes, long Bytes) StorageWrites() =>
        (_storage.Sum(s => s.Writes), _storage.Sum(s => s.Bytes));

    /// <summary>One line per server: what it thinks and how far it got.</summary>
    public IReadOnlyList<string> Describe()
    {
        var lines = new List<string>();
        for (int i = 0; i < Size; i++)
        {
            CMStatus s = _servers[i].Status();
            lines.Add($"server {i}: term={s.CurrentTerm} state={s.State} log length={s.Log.Count} " +
                      $"commitIndex={s.CommitIndex} lastApplied={s.LastApplied} delivered={Delivered(i)}");
        }
        return lines;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (Server s in _servers)
        {
            s.DisconnectAll();
        }
        foreach (Server s in _servers)
        {
            await s.ShutdownAsync();
        }
        foreach (Channel<CommitEntry> c in _commits)
        {
            c.Writer.TryComplete();
        }
        await Task.WhenAll(_collectors);
    }

    private async Task CollectAsync(int id)
    {
        await foreach (CommitEntry entry in _commits[id].Reader.ReadAllAsync())
        {
            Interlocked.Increment(ref _delivered[id]);
            if (entry.Command is not int command)
            {
                continue;
            }
            TaskCompletionSource? waiter = null;
            lock (_seenMu[id])
            {
                if (_seen[id].Add(command))
                {
                    _waiters[id].Remove(command, out waiter);
                }
            }
            // Completed outside the lock; its continuation runs on the pool anyway.
            waiter?.TrySetResult();
        }
    }
}
