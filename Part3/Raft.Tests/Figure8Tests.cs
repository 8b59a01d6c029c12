// Beyond upstream: the scenario of Figure 8 of the Raft paper, played many times over while servers
// crash, restart, leave and come back, on a network the seed picks (harsh, lossy or reliable).
using System.Globalization;
using Lab;
using Xunit;
using static Raft.Harness;

namespace Raft;

public sealed class Figure8Tests(ITestOutputHelper output)
{
    /// <summary>Upstream's leaktest.CheckTimeout(t, 100*time.Millisecond).</summary>
    private static readonly TimeSpan LeakCheck = TimeSpan.FromMilliseconds(100);

    /// <summary>How a server is doing, as the test drives it.</summary>
    private enum Health
    {
        Up,
        Crashed,
        Disconnected,
    }

    /// <summary>
    /// What a round does to the leader. Figure 8 is built of these: a leader fails just after it
    /// appends, so its newest entry is on a minority (twice: the rival gets a conflicting one); the
    /// oldest one comes back; a new leader with nothing of its own term sends old entries out and
    /// fails right after (a leader that commits them by counting replicas applies them here); the
    /// rival comes back and wins.
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
    /// Five servers. For eight seconds of cluster time, round after round: a move drawn from the
    /// seed's mix is made on the leader, and down servers come back, at least three always up.
    /// Then everything heals and one last command must be committed by all five. The harness's
    /// safety monitor checks all along that no term has two leaders and that no two servers, in
    /// any incarnation, ever apply different commands at one index; at the end all five must
    /// agree on every commit. With a leader that commits an earlier term's entries by counting
    /// replicas (against section 5.4.2), about one seed in five ends in a violation (93 of seeds 1-500).
    /// </summary>
    [Fact, LongTest]
    public async Task Figure8WithLossAndReordering()
    {
        const int n = 5;
        await using var h = new Harness(output, n, LeakCheck);
        Random rng = h.NewRandom();
        (string name, NetworkConditions network) = rng.Next(10) switch
        {
            < 2 => ("harsh", NetworkConditions.Harsh),
            < 4 => ("unreliable", NetworkConditions.Unreliable),
            _ => ("reliable", NetworkConditions.Reliable),
        };
        double[] weights = [.. MoveWeights.Select(w => w * (0.25 + (1.5 * rng.NextDouble())))];
        h.Tlog($"figure 8: network {name}, moves {string.Join(", ", weights.Select((w, i) => $"{(Move)i} {w.ToString("0.00", CultureInfo.InvariantCulture)}"))}");
        h.SetNetwork(network);
        await h.CheckSingleLeaderAsync();

        var health = new Health[n];
        var down = new List<int>();
        int nextCmd = 1000;
        int faults = 0;
        TimeSpan end = h.Now + TimeSpan.FromSeconds(8);
        while (h.Now < end)
        {
            int leader = await LeaderAsync(h, health);
            Move move = down.Count == 2 || leader < 0 ? Move.Revive : Pick(rng, weights);
            switch (move)
            {
                case Move.AppendThenCrash or Move.AppendThenCut:
                    nextCmd = SubmitBurst(h, rng, leader, nextCmd);
                    await SleepMs(rng.Next(2));
                    await FaultAsync(h, health, down, leader, crash: move == Move.AppendThenCrash);
                    faults++;
                    break;
                case Move.QuietThenCrash:
                    await SleepMs(rng.Next(40, 120));
                    if (health[leader] == Health.Up)
                    {
                        await FaultAsync(h, health, down, leader, crash: true);
                        faults++;
                    }
                    break;
                case Move.Work:
                    nextCmd = SubmitBurst(h, rng, leader, nextCmd);
                    await SleepMs(rng.Next(20, 80));
                    break;
                case Move.Revive when down.Count > 0:
                    await BringBackAsync(h, health, down[0]);
                    down.RemoveAt(0);
                    break;
                default:
                    await SleepMs(10);
                    break;
            }
        }

        h.SetNetwork(NetworkConditions.Reliable);
        for (int i = 0; i < n; i++)
        {
            await BringBackAsync(h, health, i);
        }
        h.Tlog($"figure 8: {nextCmd - 1000} commands accepted, {faults} leaders crashed or cut off");

        // Servers that were cut off come back with high terms and may unseat a leader or two, and
        // a command offered to a leader that then loses its post may be dropped: offer a new one
        // until one is committed by all five.
        int final = await CommitEverywhereAsync(h, n, nextCmd);
        var (_, index) = h.CheckCommitted(final);
        h.Tlog($"figure 8: all {n} servers agree on the {index + 1} commands committed");
    }

    /// <summary>A move, with chances in proportion to <paramref name="weights"/>.</summary>
    private static Move Pick(Random rng, double[] weights)
    {
        double x = rng.NextDouble() * weights.Sum();
        int i = 0;
        while (i < weights.Length - 1 && (x -= weights[i]) >= 0)
        {
            i++;
        }
        return (Move)i;
    }

    /// <summary>Offers <paramref name="leader"/> one to three commands; returns the next command's number.</summary>
    private static int SubmitBurst(Harness h, Random rng, int leader, int nextCmd)
    {
        for (int k = 1 + rng.Next(3); k > 0 && h.SubmitToServer(leader, nextCmd) >= 0; k--)
        {
            nextCmd++;
        }
        return nextCmd;
    }

    /// <summary>Crashes <paramref name="leader"/> or cuts it off.</summary>
    private static async Task FaultAsync(Harness h, Health[] health, List<int> down, int leader, bool crash)
    {
        if (crash)
        {
            await h.CrashPeerAsync(leader);
            health[leader] = Health.Crashed;
        }
        else
        {
            h.DisconnectPeer(leader);
            health[leader] = Health.Disconnected;
        }
        down.Add(leader);
    }

    /// <summary>Waits up to 500 ms for an up server to lead; returns the one of the highest term, or -1.</summary>
    private static async Task<int> LeaderAsync(Harness h, Health[] health)
    {
        for (int waited = 0; waited < 500; waited += 10)
        {
            int leader = -1, leaderTerm = -1;
            for (int i = 0; i < health.Length; i++)
            {
                if (health[i] == Health.Up && h.Cm(i).Report() is (_, int term, true) && term > leaderTerm)
                {
                    (leader, leaderTerm) = (i, term);
                }
            }
            if (leader >= 0)
            {
                return leader;
            }
            await SleepMs(10);
        }
        return -1;
    }

    /// <summary>Restarts or reconnects server <paramref name="id"/>, whichever it needs.</summary>
    private static async Task BringBackAsync(Harness h, Health[] health, int id)
    {
        if (health[id] == Health.Crashed)
        {
            await h.RestartPeerAsync(id);
        }
        else if (health[id] == Health.Disconnected)
        {
            h.ReconnectPeer(id);
        }
        health[id] = Health.Up;
    }

    /// <summary>Offers fresh commands from <paramref name="firstCmd"/> on until one is committed by all; returns it.</summary>
    private static async Task<int> CommitEverywhereAsync(Harness h, int n, int firstCmd)
    {
        TimeSpan deadline = h.Now + TimeSpan.FromSeconds(20);
        for (int cmd = firstCmd; h.Now < deadline; cmd++)
        {
            for (int i = 0; i < n; i++)
            {
                if (h.SubmitToServer(i, cmd) >= 0)
                {
                    break;
                }
            }
            TimeSpan waitEnd = h.Now + TimeSpan.FromSeconds(1);
            while (h.Now < waitEnd)
            {
                if (h.CommittedBy(cmd) == n)
                {
                    return cmd;
                }
                await SleepMs(10);
            }
        }
        Assert.Fail("no command was committed by all servers within 20 s of healing the cluster");
        return -1;
    }
}
