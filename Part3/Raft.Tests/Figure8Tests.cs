// Beyond upstream: the paper's Figure 8, built again and again on a network the seed picks (harsh, lossy or reliable).
using System.Globalization;
using Lab;
using Xunit;
using static Raft.Harness;

namespace Raft;

public sealed class Figure8Tests(ITestOutputHelper output)
{
    /// <summary>
    /// What a round does to the leader. Figure 8 is built of these: leaders fail right after they append,
    /// leaving rival entries on minorities; a new leader with nothing of its own term sends old entries
    /// out and fails (one that commits them by counting replicas applies them first); the rival wins.
    /// </summary>
    private enum Move
    {
        AppendThenCrash,
        AppendThenCut,
        QuietThenCrash,
        Work,
        Revive,
    }

    /// <summary>How often each move comes, on average; each seed scales each one by 0.25 to 1.75, so seeds differ in kind.</summary>
    private static readonly double[] MoveWeights = [2, 1, 2, 0.4, 1];

    /// <summary>
    /// Five servers, three always up; for eight seconds of cluster time, moves from the seed's mix
    /// on the leader; then all heal and one last command must reach all five. The safety monitor
    /// checks throughout (one leader per term, one command per index on every server). A leader that
    /// commits an earlier term's entries by counting replicas (against section 5.4.2) fails 85 of seeds 1-500.
    /// </summary>
    [Fact, LongTest]
    public async Task Figure8WithLossAndReordering()
    {
        const int n = 5;
        await using var h = new Harness(output, n, LeakCheck);
        Random rng = h.NewRandom();
        (string name, NetworkConditions network) = rng.Next(10) switch
        {
            < 2 => ("harsh", NetworkConditions.Harsh with { LongDelayOnReply = rng.Next(2) == 0 }),
            < 4 => ("unreliable", NetworkConditions.Unreliable),
            _ => ("reliable", NetworkConditions.Reliable),
        };
        double[] weights = [.. MoveWeights.Select(w => w * (0.25 + (1.5 * rng.NextDouble())))];
        h.Tlog($"figure 8: network {name}, moves {string.Join(", ", weights.Select((w, i) => $"{(Move)i} {w.ToString("0.00", CultureInfo.InvariantCulture)}"))}");
        h.SetNetwork(network);
        await h.CheckSingleLeaderAsync();

        // The servers down, longest first, and whether each crashed (else it was cut off).
        var down = new List<(int Id, bool Crashed)>();
        int nextCmd = 1000;
        TimeSpan end = h.Now + TimeSpan.FromSeconds(8);
        while (h.Now < end)
        {
            int leader = await LeaderAsync(h, n, down);
            Move move = down.Count == 2 || leader < 0 ? Move.Revive : Pick(rng, weights);
            if (move is Move.AppendThenCrash or Move.AppendThenCut or Move.Work)
            {
                for (int k = 1 + rng.Next(3); k > 0 && h.SubmitToServer(leader, nextCmd) >= 0; k--)
                {
                    nextCmd++;
                }
            }
            await SleepMs(move switch
            {
                Move.QuietThenCrash => rng.Next(40, 120),
                Move.Work => rng.Next(20, 80),
                Move.Revive => down.Count > 0 ? 0 : 10,
                _ => rng.Next(2),
            });
            if (move is Move.AppendThenCrash or Move.QuietThenCrash)
            {
                await h.CrashPeerAsync(leader);
                down.Add((leader, true));
            }
            else if (move == Move.AppendThenCut)
            {
                h.DisconnectPeer(leader);
                down.Add((leader, false));
            }
            else if (move == Move.Revive && down.Count > 0)
            {
                await BringBackAsync(h, down[0]);
                down.RemoveAt(0);
            }
        }

        h.SetNetwork(NetworkConditions.Reliable);
        foreach (var server in down)
        {
            await BringBackAsync(h, server);
        }
        h.Tlog($"figure 8: {nextCmd - 1000} commands accepted");

        // Servers back with high terms may unseat a leader or two, dropping what it was offered.
        int final = await CommitEverywhereAsync(h, n, nextCmd);
        var (_, index) = h.CheckCommitted(final);
        h.Tlog($"figure 8: all {n} servers agree on the {index + 1} commands committed");
    }

    /// <summary>A move, with chances in proportion to <paramref name="weights"/>.</summary>
    private static Move Pick(Random rng, double[] weights)
    {
        double x = rng.NextDouble() * weights.Sum();
        return (Move)Math.Max(0, Array.FindIndex(weights, w => (x -= w) < 0));
    }

    /// <summary>Waits up to 500 ms for a server that is up to lead; returns the one of the highest term, or -1.</summary>
    private static async Task<int> LeaderAsync(Harness h, int n, List<(int Id, bool Crashed)> down)
    {
        for (int waited = 0; waited < 500; waited += 10)
        {
            int[] leaders = [.. Enumerable.Range(0, n).Where(i => !down.Exists(d => d.Id == i) && h.Cm(i).Report().IsLeader)];
            if (leaders.Length > 0)
            {
                return leaders.MaxBy(i => h.Cm(i).Report().Term);
            }
            await SleepMs(10);
        }
        return -1;
    }

    /// <summary>Restarts or reconnects a server, whichever it needs.</summary>
    private static async Task BringBackAsync(Harness h, (int Id, bool Crashed) server)
    {
        if (server.Crashed)
        {
            await h.RestartPeerAsync(server.Id);
        }
        else
        {
            h.ReconnectPeer(server.Id);
        }
    }

    /// <summary>Offers fresh commands from <paramref name="firstCmd"/> on, each for a second, until one is committed by all; returns it.</summary>
    private static async Task<int> CommitEverywhereAsync(Harness h, int n, int firstCmd)
    {
        for (int cmd = firstCmd; cmd < firstCmd + 20; cmd++)
        {
            _ = Enumerable.Range(0, n).Any(i => h.SubmitToServer(i, cmd) >= 0); // The first server that takes it.
            for (int waited = 0; waited < 1000 && h.CommittedBy(cmd) < n; waited += 10)
            {
                await SleepMs(10);
            }
            if (h.CommittedBy(cmd) == n)
            {
                return cmd;
            }
        }
        Assert.Fail("no command was committed by all servers within 20 s of healing the cluster");
        return -1;
    }
}
