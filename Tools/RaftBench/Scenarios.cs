// The measurements: a burst of commands, one command at a time, and elections.
using System.Diagnostics;
using Raft;

namespace RaftBench;

/// <summary>A burst of N commands: how long until every server delivered all of them.</summary>
public sealed record BurstResult(
    int N,
    double Seconds,
    double CommandsPerSecond,
    double SubmitSeconds,
    long[] Delivered,
    int LeaderChanges,
    long StorageWrites,
    long StorageBytes,
    double EstimatedEncodeSeconds,
    double EstimatedCopySeconds);

/// <summary>Submit-to-delivery times on the leader, one command at a time, in milliseconds.</summary>
public sealed record LatencyResult(int Count, double P50, double P90, double P99, double Max);

/// <summary>Time from the ready signal to a single leader, over fresh clusters, in milliseconds.</summary>
public sealed record ElectionResult(int Clusters, double P50, double Max);

internal static class Scenarios
{
    /// <summary>How long without any delivery before the watchdog calls it a stall.</summary>
    public static TimeSpan StallLimit { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Waits for a leader, submits <paramref name="n"/> commands to it as fast as Submit accepts
    /// them, and times until every server has delivered all of them on its commit channel.
    /// </summary>
    public static async Task<BurstResult> BurstAsync(int n, Action<string>? progress = null)
    {
        await using var cluster = new BenchCluster();
        cluster.Start();
        int leader = await cluster.WaitForLeaderAsync(StallLimit);
        var (writesBefore, bytesBefore) = cluster.StorageWrites();

        var sw = Stopwatch.StartNew();
        int leaderChanges = 0;
        for (int i = 1; i <= n; i++)
        {
            // A command refused by a server that is no longer the leader goes to the new one.
            while (cluster.Submit(leader, i) < 0)
            {
                leader = await cluster.WaitForLeaderAsync(StallLimit);
                leaderChanges++;
            }
        }
        double submitSeconds = sw.Elapsed.TotalSeconds;

        await WaitForDeliveriesAsync(cluster, n, sw, $"burst {n}", progress);
        double seconds = sw.Elapsed.TotalSeconds;

        var (writes, bytes) = cluster.StorageWrites();
        long burstBytes = bytes - bytesBefore;
        var (encodeRate, copyRate) = MeasurePersistenceRates(n);
        return new BurstResult(n, seconds, n / seconds, submitSeconds, cluster.DeliveredAll(), leaderChanges,
            writes - writesBefore, burstBytes, burstBytes / encodeRate, burstBytes / copyRate);
    }

    /// <summary>
    /// Submits <paramref name="count"/> commands one at a time, each after the leader delivered
    /// the one before, and reports how long each took from Submit to the leader's delivery.
    /// </summary>
    public static async Task<LatencyResult> LatencyAsync(int count = 200, Action<string>? progress = null)
    {
        await using var cluster = new BenchCluster();
        cluster.Start();
        int leader = await cluster.WaitForLeaderAsync(StallLimit);

        var samples = new List<double>(count);
        for (int k = 1; k <= count; k++)
        {
            Task delivered = cluster.WhenDelivered(leader, k);
            long start = Stopwatch.GetTimestamp();
            while (cluster.Submit(leader, k) < 0)
            {
                leader = await cluster.WaitForLeaderAsync(StallLimit);
                delivered = cluster.WhenDelivered(leader, k);
                start = Stopwatch.GetTimestamp();
            }
            try
            {
                await delivered.WaitAsync(StallLimit);
            }
            catch (TimeoutException)
            {
                throw new StallException($"command {k} was not delivered by leader {leader} within {StallLimit.TotalSeconds} s", cluster.Describe());
            }
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            if (k % 20 == 0)
            {
                progress?.Invoke($"latency: {k}/{count}");
            }
        }
        samples.Sort();
        return new LatencyResult(count, Percentile(samples, 50), Percentile(samples, 90), Percentile(samples, 99), samples[^1]);
    }

    /// <summary>Starts <paramref name="clusters"/> fresh clusters one after another and times each election.</summary>
    public static async Task<ElectionResult> ElectionAsync(int clusters = 20, Action<string>? progress = null)
    {
        var samples = new List<double>(clusters);
        for (int c = 1; c <= clusters; c++)
        {
            await using var cluster = new BenchCluster();
            long start = cluster.Start();
            await cluster.WaitForLeaderAsync(StallLimit);
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            progress?.Invoke($"election: {c}/{clusters}");
        }
        samples.Sort();
        return new ElectionResult(clusters, Percentile(samples, 50), samples[^1]);
    }

    /// <summary>
    /// Waits until every server delivered <paramref name="n"/> entries. The watchdog: if no
    /// server delivers anything for <see cref="StallLimit"/>, throws with each server's state.
    /// </summary>
    private static async Task WaitForDeliveriesAsync(BenchCluster cluster, int n, Stopwatch sw, string what, Action<string>? progress)
    {
        long[] last = cluster.DeliveredAll();
        var sinceProgress = Stopwatch.StartNew();
        var sinceReport = Stopwatch.StartNew();
        while (true)
        {
            long[] now = cluster.DeliveredAll();
            if (now.All(d => d >= n))
            {
                return;
            }
            if (!now.SequenceEqual(last))
            {
                last = now;
                sinceProgress.Restart();
            }
            else if (sinceProgress.Elapsed > StallLimit)
            {
                throw new StallException(
                    $"{what}: no server delivered anything for {StallLimit.TotalSeconds} s (delivered {string.Join('/', now)} of {n})",
                    cluster.Describe());
            }
            if (sinceReport.ElapsedMilliseconds >= 500)
            {
                progress?.Invoke($"{what}: delivered {string.Join('/', now)} of {n} after {sw.Elapsed.TotalSeconds:F1} s");
                sinceReport.Restart();
            }
            await Task.Delay(2);
        }
    }

    /// <summary>
    /// How fast this machine encodes a Part3 state like the burst's (bytes per second), and how
    /// fast storage copies bytes in: the two costs of each persist, to weigh against the total.
    /// </summary>
    private static (double EncodeBytesPerSecond, double CopyBytesPerSecond) MeasurePersistenceRates(int n)
    {
        var state = new PersistentState(1, 0, [.. Enumerable.Range(1, n).Select(i => new LogEntry(i, 1))]);
        byte[] bytes = state.Encode();
        var storage = new MapStorage();

        int rounds = Math.Max(3, 200_000 / Math.Max(n, 1));
        var sw = Stopwatch.StartNew();
        for (int r = 0; r < rounds; r++)
        {
            bytes = state.Encode();
        }
        double encode = (double)bytes.Length * rounds / sw.Elapsed.TotalSeconds;

        sw.Restart();
        for (int r = 0; r < rounds; r++)
        {
            storage.Set(PersistentState.StorageKey, bytes);
        }
        double copy = (double)bytes.Length * rounds / sw.Elapsed.TotalSeconds;
        return (encode, copy);
    }

    private static double Percentile(List<double> sorted, int p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
}
