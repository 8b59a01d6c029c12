// Tests beyond upstream's: a server takes its clock from a TimeProvider, so a test (or a tool
// that slows a cluster down) can run the timers and the network on a clock of its own.
using FluentAssertions;
using Xunit;
using static Raft.MessageEventKind;

namespace Raft;

public sealed class ClockTests(ITestOutputHelper output)
{
    /// <summary>
    /// A fresh cluster on a clock that does not move: half a second of real time, longer than any
    /// election timeout, and no server starts an election or sends anything.
    /// </summary>
    [Fact]
    public async Task NothingHappensWhileTheClockStandsStill()
    {
        var clock = new ManualClock();
        await using var h = new Harness(output, 3, clock: clock);
        var log = new MessageRecorder(() => clock.Now);
        log.Watch(h, 3);

        await Harness.SleepMs(500);

        for (int i = 0; i < 3; i++)
        {
            var (_, term, isLeader) = h.Cm(i).Report();
            term.Should().Be(0, $"server {i} must not have timed out");
            isLeader.Should().BeFalse();
        }
        log.Events.Should().BeEmpty();
    }

    /// <summary>
    /// The same cluster elects a leader once its clock moves, and no server stands for election
    /// before 150 ms of that clock, the shortest election timeout, have passed.
    /// </summary>
    [Fact]
    public async Task ElectionFollowsTheClock()
    {
        var clock = new ManualClock();
        await using var h = new Harness(output, 3, clock: clock);
        var log = new MessageRecorder(() => clock.Now);
        log.Watch(h, 3);

        (await clock.StepUntilAsync(() => LeaderOf(h, 3) >= 0, TimeSpan.FromSeconds(10))).Should().BeTrue("a leader must be elected");
        h.Tlog($"leader {LeaderOf(h, 3)} elected at {clock.Now.TotalMilliseconds} ms on the test's clock");

        var requests = log.Events.Where(e => e.Event.Kind == Sent && e.Event.Method == "RequestVote").ToList();
        requests.Should().NotBeEmpty();
        requests.Should().OnlyContain(e => e.At >= TimeSpan.FromMilliseconds(150), "no election timeout is shorter than 150 ms");
    }

    /// <summary>
    /// A leader's heartbeats go by the cluster's clock: while 100 ms of it pass over 0.6 s or
    /// more of real time, the leader sends a follower at most one heartbeat per 50 ms of it (on
    /// the real clock it would be twelve or more); and they keep coming as the clock moves on.
    /// </summary>
    [Fact, LongTest]
    public async Task HeartbeatsFollowTheClock()
    {
        var clock = new ManualClock();
        await using var h = new Harness(output, 3, clock: clock);
        var log = new MessageRecorder(() => clock.Now);
        log.Watch(h, 3);
        (await clock.StepUntilAsync(() => LeaderOf(h, 3) >= 0, TimeSpan.FromSeconds(10))).Should().BeTrue("a leader must be elected");
        int leader = LeaderOf(h, 3);
        int follower = (leader + 1) % 3;
        int Heartbeats() => log.Events.Count(e => e.Event.Kind == Sent && e.Event.From == leader && e.Event.To == follower && e.Event.Method == "AppendEntries");

        int before = Heartbeats();
        await clock.StepUntilAsync(() => false, TimeSpan.FromMilliseconds(100), wallMsPerStep: 6);
        int during = Heartbeats() - before;
        h.Tlog($"{during} heartbeats to {follower} in 100 ms of the test's clock");
        // At most three ticks 50 ms apart fit in 100 ms, and one round may have begun just before.
        during.Should().BeLessThanOrEqualTo(4);

        int now = Heartbeats();
        (await clock.StepUntilAsync(() => Heartbeats() >= now + 2, TimeSpan.FromSeconds(10))).Should().BeTrue("heartbeats go on as the clock moves");
    }

    /// <summary>The one server that thinks it leads, or -1 (none yet, or more than one).</summary>
    private static int LeaderOf(Harness h, int n)
    {
        int[] leaders = [.. Enumerable.Range(0, n).Where(i => h.Cm(i).Report().IsLeader)];
        return leaders.Length == 1 ? leaders[0] : -1;
    }
}
