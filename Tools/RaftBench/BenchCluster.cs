// A three-server Part3 cluster with logging off, instrumented for measuring.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
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

    /// <summary>Entries delivered so far, per server.</summary>
    private readonly long[] _delivered;

    /// <summary>Waiters for one command to be delivered by one server (server id, command).</summary>
    private readonly ConcurrentDictionary<(int, int), TaskCompletionSource> _waiters = new();

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The network every server of the next clusters gets; --no-rpc-delay makes it instant.</summary>
    public static NetworkConditions Network { get; set; } = NetworkConditions.FromEnvironment();

    public BenchCluster(int n = 3)
    {
        _servers = new Server[n];
        _storage = new CountingStorage[n];
        _commits = new Channel<CommitEntry>[n];
        _delivered = new long[n];
        for (int i = 0; i < n; i++)
        {
            int[] peers = [.. Enumerable.Range(0, n).Where(p => p != i)];
            _storage[i] = new CountingStorage();
            _commits[i] = Channel.CreateUnbounded<CommitEntry>(new UnboundedChannelOptions { SingleReader = true });
            _servers[i] = new Server(i, peers, _storage[i], _ready.Task, _commits[i].Writer);
            _servers[i].Serve();
            _servers[i].Proxy().Conditions = Network;
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

    public int Submit(int id, int command) => _servers[id].Submit(command);

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

    /// <summary>A task that completes when server <paramref name="id"/> delivers <paramref name="command"/>.</summary>
    public Task WhenDelivered(int id, int command) =>
        _waiters.GetOrAdd((id, command), _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Storage writes so far, over all servers: how many, and how many bytes.</summary>
    public (long Writes, long Bytes) StorageWrites() =>
        (_storage.Sum(s => s.Writes), _storage.Sum(s => s.Bytes));

    /// <summary>One line per server: what it thinks and how far it got.</summary>
    public IReadOnlyList<string> Describe()
    {
        var lines = new List<string>();
        for (int i = 0; i < Size; i++)
        {
            ConsensusModule cm = _servers[i].Cm;
            lock (cm.Mu)
            {
                lines.Add($"server {i}: term={cm.CurrentTerm} state={cm.State} log length={cm.Log.Count} " +
                          $"commitIndex={cm.CommitIndex} lastApplied={cm.LastApplied} delivered={Delivered(i)}");
            }
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
            if (entry.Command is int command && _waiters.TryRemove((id, command), out TaskCompletionSource? waiter))
            {
                waiter.TrySetResult();
            }
        }
    }
}

/// <summary>A <see cref="MapStorage"/> that counts what is written to it.</summary>
internal sealed class CountingStorage : IStorage
{
    private readonly MapStorage _inner = new();
    private long _writes;
    private long _bytes;

    public long Writes => Interlocked.Read(ref _writes);

    public long Bytes => Interlocked.Read(ref _bytes);

    public bool HasData => _inner.HasData;

    public (byte[]? Value, bool Found) Get(string key) => _inner.Get(key);

    public void Set(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Interlocked.Increment(ref _writes);
        Interlocked.Add(ref _bytes, value.Length);
        _inner.Set(key, value);
    }
}

/// <summary>A scenario made no progress for too long; carries each server's state.</summary>
internal sealed class StallException(string message, IReadOnlyList<string> servers) : Exception(message)
{
    public IReadOnlyList<string> Servers { get; } = servers;
}
