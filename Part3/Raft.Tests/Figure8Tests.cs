// Beyond upstream: the scenario of Figure 8 of the Raft paper, played many times over on a network
// that loses and reorders messages, while servers crash, restart, leave and come back.
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
    /// Five servers on the harsh network (request and reply loss, reordering holds of up to 2.2 s).
    /// For about four seconds, every live server is offered a command and the leader, if any,
    /// is often crashed or cut off, while at least three servers stay up. Then everything heals
    /// and one last command must be committed by all five. The harness's safety monitor checks
    /// all along that no term has two leaders and that no two servers, in any incarnation, ever
    /// apply different commands at one index; at the end all five must agree on every commit.
    /// </summary>
    [Fact, LongTest]
    public async Task Figure8WithLossAndReordering()
    {
        const int n = 5;
        await using var h = new Harness(output, n, LeakCheck);
        Random rng = h.NewRandom();
        h.SetNetwork(NetworkConditions.Harsh);
        await h.CheckSingleLeaderAsync();

        var health = new Health[n];
        int nextCmd = 1000;
        int crashes = 0, disconnects = 0;
        TimeSpan end = h.Now + TimeSpan.FromSeconds(4);
        while (h.Now < end)
        {
            // Every live server is offered commands; whoever leads takes a few.
            int leader = -1;
            for (int i = 0; i < n; i++)
            {
                int burst = 1 + rng.Next(3);
                while (health[i] == Health.Up && burst > 0 && h.SubmitToServer(i, nextCmd) >= 0)
                {
                    leader = i;
                    nextCmd++;
                    burst--;
                }
            }

            // Mostly short pauses, now and then one long enough for an election to finish.
            await SleepMs(rng.Next(100) < 10 ? rng.Next(100, 500) : rng.Next(0, 14));

            if (leader >= 0 && rng.Next(2) == 0)
            {
                if (rng.Next(2) == 0)
                {
                    await h.CrashPeerAsync(leader);
                    health[leader] = Health.Crashed;
                    crashes++;
                }
                else
                {
                    h.DisconnectPeer(leader);
                    health[leader] = Health.Disconnected;
                    disconnects++;
                }
            }

            if (health.Count(x => x == Health.Up) < 3)
            {
                int[] down = [.. Enumerable.Range(0, n).Where(i => health[i] != Health.Up)];
                await BringBackAsync(h, health, down[rng.Next(down.Length)]);
            }
        }

        h.SetNetwork(NetworkConditions.Reliable);
        for (int i = 0; i < n; i++)
        {
            await BringBackAsync(h, health, i);
        }
        h.Tlog($"figure 8: {nextCmd - 1000} commands accepted, {crashes} crashes, {disconnects} disconnections");

        // Servers that were cut off come back with high terms and may unseat a leader or two, and
        // a command offered to a leader that then loses its post may be dropped: offer a new one
        // until one is committed by all five.
        int final = await CommitEverywhereAsync(h, n, nextCmd);
        var (_, index) = h.CheckCommitted(final);
        h.Tlog($"figure 8: all {n} servers agree on the {index + 1} commands committed");
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
