// The kv scenario: Part5Kv's replicated KV service over real loopback HTTP, driven by KvClients.
using System.Diagnostics;
using Kv.Client;
using Kv.Service;
using Lab;
using Raft;

namespace RaftBench;

/// <summary>
/// Clients calling put or get back to back against a fresh <see cref="KvBenchCluster"/>, or
/// against <see cref="EchoStub"/> for what HTTP and JSON cost alone.
/// </summary>
internal static class KvScenario
{
    /// <summary>A call without an answer after this long counts as an error (the client would go round the services for ever).</summary>
    public static TimeSpan CallLimit { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Each client's limit on one attempt at one service; null for KvClient's default, upstream's 50 ms.</summary>
    public static TimeSpan? AttemptTimeout { get; set; }

    /// <summary>Distinct keys each client writes and reads, round and round.</summary>
    private const int KeysPerClient = 256;

    /// <summary>Whether the services' Raft servers get the simulated 1-5 ms RPC delay; --no-rpc-delay turns it off.</summary>
    public static NetworkConditions Network { get; set; } = NetworkConditions.FromEnvironment();

    /// <summary>When set, storage counts writes and throws the bytes away: the cost of keeping them, measured by its absence.</summary>
    public static bool NullStorage { get; set; }

    /// <summary>
    /// For each client count, a fresh 3-service cluster: every client first puts for
    /// <paramref name="duration"/>, then gets the keys it wrote for as long. With "echo" in
    /// <paramref name="ops"/>, the clients also call a stub service that answers every put at once.
    /// </summary>
    public static async Task<List<KvResult>> RunAsync(IReadOnlyList<int> clientCounts, TimeSpan duration, IReadOnlyList<string> ops, Action<string>? progress = null)
    {
        var results = new List<KvResult>();
        foreach (int clients in clientCounts)
        {
            if (ops.Contains("put") || ops.Contains("get"))
            {
                await using var cluster = await KvBenchCluster.StartAsync(Network, NullStorage);
                foreach (string op in ops.Where(o => o is "put" or "get"))
                {
                    progress?.Invoke($"kv: {op} with {clients} client(s)");
                    results.Add(await MeasureAsync(op, clients, duration, cluster.Addrs, cluster));
                }
            }
            if (ops.Contains("echo"))
            {
                await using var stub = await EchoStub.StartAsync();
                progress?.Invoke($"kv: echo with {clients} client(s)");
                results.Add(await MeasureAsync("echo", clients, duration, [stub.Addr], null));
            }
        }
        return results;
    }

    /// <summary>
    /// Runs <paramref name="clients"/> clients, each with its own KvClient, calling
    /// <paramref name="op"/> back to back for <paramref name="duration"/>.
    /// </summary>
    private static async Task<KvResult> MeasureAsync(string op, int clients, TimeSpan duration, string[] addrs, KvBenchCluster? cluster)
    {
        var kvClients = Enumerable.Range(0, clients).Select(_ => new KvClient(addrs, attemptTimeout: AttemptTimeout)).ToArray();
        try
        {
            // Unmeasured: each client finds the leader and opens its connection, and the code is compiled.
            await Task.WhenAll(kvClients.Select((c, i) => CallAsync(c, op, i, 0)));

            var (writesBefore, bytesBefore) = cluster?.StorageWrites() ?? (0, 0);
            int termBefore = cluster?.HighestTerm() ?? 0;
            cluster?.TakeLargestWriteBytes();
            int seconds = Math.Max(1, (int)Math.Ceiling(duration.TotalSeconds));
            var perSecond = new long[seconds];
            long start = Stopwatch.GetTimestamp();
            ClientRun[] runs = await Task.WhenAll(kvClients.Select((c, i) => Task.Run(() => RunClientAsync(c, op, i, start, duration, perSecond))));
            var (writes, bytes) = cluster?.StorageWrites() ?? (0, 0);
            int elections = (cluster?.HighestTerm() ?? 0) - termBefore;

            long largestWrite = cluster?.TakeLargestWriteBytes() ?? 0;

            var latencies = runs.SelectMany(r => r.Latencies).Order().ToList();
            long okOps = runs.Sum(r => r.Ops);
            long errors = runs.Sum(r => r.Errors);
            return new KvResult(op, clients, duration.TotalSeconds, okOps, okOps / duration.TotalSeconds, errors,
                Percentile(latencies, 50), Percentile(latencies, 90), Percentile(latencies, 99), latencies.Count > 0 ? latencies[^1] : 0,
                perSecond, writes - writesBefore, bytes - bytesBefore, largestWrite, elections);
        }
        finally
        {
            foreach (KvClient c in kvClients)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>What one client did: its successful calls' latencies, and its counts.</summary>
    private sealed record ClientRun(List<double> Latencies, long Ops, long Errors);

    /// <summary>
    /// One client's loop: calls back to back until the run's time is up. A call in flight then is
    /// finished and counted in the latencies, not in the ops per second.
    /// </summary>
    private static async Task<ClientRun> RunClientAsync(KvClient client, string op, int clientIndex, long start, TimeSpan duration, long[] perSecond)
    {
        var latencies = new List<double>();
        long ops = 0;
        long errors = 0;
        for (int seq = 1; Stopwatch.GetElapsedTime(start) < duration; seq++)
        {
            long callStart = Stopwatch.GetTimestamp();
            if (!await CallAsync(client, op, clientIndex, seq))
            {
                errors++;
                continue;
            }
            latencies.Add(Stopwatch.GetElapsedTime(callStart).TotalMilliseconds);
            TimeSpan at = Stopwatch.GetElapsedTime(start);
            if (at < duration)
            {
                ops++;
                Interlocked.Increment(ref perSecond[Math.Min(perSecond.Length - 1, (int)at.TotalSeconds)]);
            }
        }
        return new ClientRun(latencies, ops, errors);
    }

    /// <summary>
    /// One call of <paramref name="op"/>: client i's key number seq (mod 256) gets a 24-byte value,
    /// or is read. False on a KvException or no answer within <see cref="CallLimit"/>.
    /// </summary>
    private static async Task<bool> CallAsync(KvClient client, string op, int clientIndex, int seq)
    {
        string key = $"c{clientIndex}-k{seq % KeysPerClient}";
        using var limit = new CancellationTokenSource(CallLimit);
        try
        {
            if (op == "get")
            {
                await client.GetAsync(key, limit.Token);
            }
            else
            {
                await client.PutAsync(key, $"value-{clientIndex:D4}-{seq:D12}", limit.Token);
            }
            return true;
        }
        catch (Exception e) when (e is KvException || (e is OperationCanceledException && limit.IsCancellationRequested))
        {
            return false;
        }
    }

    private static double Percentile(List<double> sorted, int p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
}
