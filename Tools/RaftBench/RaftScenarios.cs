// The Raft scenarios: Part3's library alone, three servers in this process, measured three ways.
using System.Diagnostics;
using Raft;

namespace RaftBench;

/// <summary>Part3's Raft library on its own, in one process: a burst of commands, one command at a time, and elections.</summary>
internal static class RaftScenarios
{
    /// <summary>How long without any delivery before the watchdog calls it a stall.</summary>
    public static TimeSpan StallLimit { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Waits for a leader, submits <paramref name="n"/> commands to it as fast as Submit accepts
    /// them, and times until every server has delivered all of them on its commit channel. When
    /// the leader changes, the new one is given again what the old one may have lost. With
    /// <paramref name="disconnectLeaderAt"/>, the leader is cut off just before that command is
    /// submitted, and reconnected once another server leads: a leader change on purpose.
    /// </summary>
    public static async Task<BurstResult> BurstAsync(int n, Action<string>? progress = null, int? disconnectLeaderAt = null)
    {
        await using var cluster = new BenchCluster();
        cluster.Start();
        var tracker = await LeaderTracker.StartAsync(cluster, StallLimit);
        var (writesBefore, bytesBefore) = cluster.StorageWrites();

        var sw = Stopwatch.StartNew();
        for (int i = 1; i <= n; i++)
        {
            if (i == disconnectLeaderAt)
            {
                tracker.DisconnectLeader();
            }
            // A command refused by a server that is no longer the leader goes to the new one.
            while (cluster.Submit(tracker.Leader.Id, i) < 0)
            {
                await tracker.NextLeaderAsync(i - 1, StallLimit);
            }
        }
        double submitSeconds = sw.Elapsed.TotalSeconds;

        await WaitForDeliveriesAsync(cluster, tracker, n, sw, $"burst {n}", progress);
        double seconds = sw.Elapsed.TotalSeconds;

        var (writes, bytes) = cluster.StorageWrites();
        long burstBytes = bytes - bytesBefore;
        return new BurstResult(n, seconds, n / seconds, submitSeconds, cluster.DistinctDeliveredAll(), tracker.Changes, tracker.Resubmitted,
            writes - writesBefore, burstBytes);
    }

    /// <summary>
    /// Submits <paramref name="count"/> commands one at a time, each after the leader delivered
    /// the one before, and reports how long each took from Submit to the leader's delivery. A
    /// command is followed through leader changes: if a new leader takes over before delivering
    /// it, the command is given to the new leader and waited for there.
    /// <paramref name="disconnectLeaderAt"/> works as in <see cref="BurstAsync"/>.
    /// </summary>
    public static async Task<LatencyResult> LatencyAsync(int count = 200, Action<string>? progress = null, int? disconnectLeaderAt = null)
    {
        await using var cluster = new BenchCluster();
        cluster.Start();
        var tracker = await LeaderTracker.StartAsync(cluster, StallLimit);

        var samples = new List<double>(count);
        for (int k = 1; k <= count; k++)
        {
            if (k == disconnectLeaderAt)
            {
                tracker.DisconnectLeader();
            }
            long start = Stopwatch.GetTimestamp();
            while (cluster.Submit(tracker.Leader.Id, k) < 0)
            {
                await tracker.NextLeaderAsync(k - 1, StallLimit);
            }
            await WaitForLeaderDeliveryAsync(cluster, tracker, k, start);
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            if (k % 20 == 0)
            {
                progress?.Invoke($"latency: {k}/{count}");
            }
        }
        samples.Sort();
        return new LatencyResult(count, Percentile(samples, 50), Percentile(samples, 90), Percentile(samples, 99), samples[^1],
            tracker.Changes, tracker.Resubmitted);
    }

    /// <summary>
    /// Waits until the leader delivers command <paramref name="k"/>, looking for a new leader every
    /// 10 ms meanwhile (which then gets the command again); a stall after <see cref="StallLimit"/>.
    /// </summary>
    private static async Task WaitForLeaderDeliveryAsync(BenchCluster cluster, LeaderTracker tracker, int k, long start)
    {
        while (true)
        {
            Task delivered = cluster.WhenDelivered(tracker.Leader.Id, k);
            using (var poll = new CancellationTokenSource())
            {
                Task timer = Task.Delay(10, poll.Token);
                if (await Task.WhenAny(delivered, timer) == delivered)
                {
                    await poll.CancelAsync();
                    return;
                }
            }
            tracker.Follow(k);
            if (Stopwatch.GetElapsedTime(start) > StallLimit)
            {
                throw new StallException($"command {k} was not delivered by leader {tracker.Leader.Id} within {StallLimit.TotalSeconds} s", cluster.Describe());
            }
        }
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
    /// Waits until every server delivered all <paramref name="n"/> commands, following the leader
    /// meanwhile. The watchdog: if no server delivers anything for <see cref="StallLimit"/>, throws
    /// with each server's state.
    /// </summary>
    private static async Task WaitForDeliveriesAsync(BenchCluster cluster, LeaderTracker tracker, int n, Stopwatch sw, string what, Action<string>? progress)
    {
        long[] last = cluster.DeliveredAll();
        var sinceProgress = Stopwatch.StartNew();
        var sinceReport = Stopwatch.StartNew();
        while (true)
        {
            tracker.Follow(n);
            int[] distinct = cluster.DistinctDeliveredAll();
            if (distinct.All(d => d >= n))
            {
                return;
            }
            long[] now = cluster.DeliveredAll();
            if (!now.SequenceEqual(last))
            {
                last = now;
                sinceProgress.Restart();
            }
            else if (sinceProgress.Elapsed > StallLimit)
            {
                throw new StallException(
                    $"{what}: no server delivered anything for {StallLimit.TotalSeconds} s (delivered {string.Join('/', distinct)} of {n})",
                    cluster.Describe());
            }
            if (sinceReport.ElapsedMilliseconds >= 500)
            {
                progress?.Invoke($"{what}: delivered {string.Join('/', distinct)} of {n} after {sw.Elapsed.TotalSeconds:F1} s");
                sinceReport.Restart();
            }
            await Task.Delay(2);
        }
    }

    private static double Percentile(List<double> sorted, int p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
}
