// Three Part5Kv services for the kv scenario: Raft on Part3's simulated network, HTTP on loopback.
using Kv.Service;
using Lab;
using Raft;

namespace RaftBench;

/// <summary>Three Part5Kv services on loopback HTTP, as Part5Kv's test harness builds them, logging off.</summary>
internal sealed class KvBenchCluster : IAsyncDisposable
{
    private readonly KvService[] _services;
    private readonly CountingStorage[] _storage;

    public string[] Addrs { get; }

    private KvBenchCluster(KvService[] services, CountingStorage[] storage, string[] addrs)
    {
        _services = services;
        _storage = storage;
        Addrs = addrs;
    }

    public static async Task<KvBenchCluster> StartAsync(NetworkConditions network, bool nullStorage, int n = 3)
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var storage = new CountingStorage[n];
        var services = new KvService[n];
        var net = new Network(TimeProvider.System);
        net.SetConditions(network);
        for (int i = 0; i < n; i++)
        {
            int id = i;
            storage[i] = new CountingStorage(discard: nullStorage);
            services[i] = new KvService(i, [.. Enumerable.Range(0, n).Where(p => p != id)], storage[i], ready.Task);
            services[i].RaftServer.Proxy().Hook = net.HookFor(i);
        }
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (i != j)
                {
                    services[i].ConnectToRaftPeer(j, services[j].GetRaftListenAddr());
                }
            }
        }
        ready.SetResult();
        var addrs = new string[n];
        for (int i = 0; i < n; i++)
        {
            addrs[i] = await services[i].ServeHttpAsync();
        }
        return new KvBenchCluster(services, storage, addrs);
    }

    /// <summary>Writes and bytes written to storage so far, summed over the services.</summary>
    public (long Writes, long Bytes) StorageWrites()
    {
        long writes = 0;
        long bytes = 0;
        foreach (CountingStorage s in _storage)
        {
            writes += s.Writes;
            bytes += s.Bytes;
        }
        return (writes, bytes);
    }

    /// <summary>The highest term any service's Raft server is in: it moves on with every election begun.</summary>
    public int HighestTerm() => _services.Max(s => s.RaftServer.Report().Term);

    /// <summary>The largest single write to any service's storage since the last call (a checkpoint: the whole state).</summary>
    public long TakeLargestWriteBytes() => _storage.Max(s => s.TakeLargestBytes());

    public async ValueTask DisposeAsync()
    {
        foreach (KvService s in _services)
        {
            await s.ShutdownAsync();
        }
    }
}
