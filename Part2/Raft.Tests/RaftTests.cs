// The tests of this part, one for each of upstream's, with the same names and scenarios.
// Where upstream sleeps for a commit, these wait for it (WaitCommittedAsync), as RAFT_REAL_TIME needs.
using FluentAssertions;
using Xunit;
using static Raft.Harness;

namespace Raft;

public sealed class RaftTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TestElectionBasic()
    {
        await using var h = new Harness(output, 3);

        await h.CheckSingleLeaderAsync();
    }

    [Fact]
    public async Task TestElectionLeaderDisconnect()
    {
        await using var h = new Harness(output, 3);

        var (origLeaderId, origTerm) = await h.CheckSingleLeaderAsync();

        h.DisconnectPeer(origLeaderId);
        await SleepMs(350);

        var (newLeaderId, newTerm) = await h.CheckSingleLeaderAsync();
        newLeaderId.Should().NotBe(origLeaderId, "want new leader to be different from orig leader");
        newTerm.Should().BeGreaterThan(origTerm);
    }

    [Fact]
    public async Task TestElectionLeaderAndAnotherDisconnect()
    {
        await using var h = new Harness(output, 3);

        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();

        h.DisconnectPeer(origLeaderId);
        int otherId = (origLeaderId + 1) % 3;
        h.DisconnectPeer(otherId);

        // No quorum.
        await SleepMs(450);
        h.CheckNoLeader();

        // Reconnect one other server; now there is a quorum.
        h.ReconnectPeer(otherId);
        await h.CheckSingleLeaderAsync();
    }

    [Fact]
    public async Task TestDisconnectAllThenRestore()
    {
        await using var h = new Harness(output, 3);

        await SleepMs(100);
        // Cut every server off before any election can finish: nobody can win one.
        for (int i = 0; i < 3; i++)
        {
            h.DisconnectPeer(i);
        }
        await SleepMs(450);
        h.CheckNoLeader();

        // Put them all back together; now an election can succeed.
        for (int i = 0; i < 3; i++)
        {
            h.ReconnectPeer(i);
        }
        await h.CheckSingleLeaderAsync();
    }

    [Fact]
    public async Task TestElectionLeaderDisconnectThenReconnect()
    {
        await using var h = new Harness(output, 3);
        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();

        h.DisconnectPeer(origLeaderId);

        await SleepMs(350);
        var (newLeaderId, newTerm) = await h.CheckSingleLeaderAsync();

        h.ReconnectPeer(origLeaderId);
        await SleepMs(150);

        var (againLeaderId, againTerm) = await h.CheckSingleLeaderAsync();

        againLeaderId.Should().Be(newLeaderId, "the reconnected old leader must not take over");
        againTerm.Should().Be(newTerm);
    }

    [Fact]
    public async Task TestElectionLeaderDisconnectThenReconnect5()
    {
        await using var h = new Harness(output, 5, LeakCheck);

        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();

        h.DisconnectPeer(origLeaderId);
        await SleepMs(150);
        var (newLeaderId, newTerm) = await h.CheckSingleLeaderAsync();

        h.ReconnectPeer(origLeaderId);
        await SleepMs(150);

        var (againLeaderId, againTerm) = await h.CheckSingleLeaderAsync();

        againLeaderId.Should().Be(newLeaderId, "the reconnected old leader must not take over");
        againTerm.Should().Be(newTerm);
    }

    [Fact]
    public async Task TestElectionFollowerComesBack()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        var (origLeaderId, origTerm) = await h.CheckSingleLeaderAsync();

        int otherId = (origLeaderId + 1) % 3;
        h.DisconnectPeer(otherId);
        await SleepMs(650);
        h.ReconnectPeer(otherId);
        await SleepMs(150);

        // Which server leads now depends on the random timeouts, but the term must have moved
        // on: the returning follower's higher term forces a new election.
        var (_, newTerm) = await h.CheckSingleLeaderAsync();
        newTerm.Should().BeGreaterThan(origTerm);
    }

    [Fact, LongTest]
    public async Task TestElectionDisconnectLoop()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        for (int cycle = 0; cycle < 5; cycle++)
        {
            var (leaderId, _) = await h.CheckSingleLeaderAsync();

            h.DisconnectPeer(leaderId);
            int otherId = (leaderId + 1) % 3;
            h.DisconnectPeer(otherId);
            await SleepMs(310);
            h.CheckNoLeader();

            // Reconnect both.
            h.ReconnectPeer(otherId);
            h.ReconnectPeer(leaderId);

            // Give the cluster time to settle.
            await SleepMs(150);
        }
    }

    [Fact]
    public async Task TestCommitOneCommand()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();

        h.Tlog($"submitting 42 to {origLeaderId}");
        bool isLeader = h.SubmitToServer(origLeaderId, 42);
        isLeader.Should().BeTrue($"want id={origLeaderId} leader, but it's not");

        await h.WaitCommittedAsync(42, 3);
        h.CheckCommittedN(42, 3);
    }

    [Fact]
    public async Task TestSubmitNonLeaderFails()
    {
        await using var h = new Harness(output, 3);

        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();
        int sid = (origLeaderId + 1) % 3;
        h.Tlog($"submitting 42 to {sid}");
        bool isLeader = h.SubmitToServer(sid, 42);
        isLeader.Should().BeFalse($"want id={sid} !leader, but it is");
        await SleepMs(10);
    }

    [Fact]
    public async Task TestCommitMultipleCommands()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();

        int[] values = [42, 55, 81];
        foreach (int v in values)
        {
            h.Tlog($"submitting {v} to {origLeaderId}");
            bool isLeader = h.SubmitToServer(origLeaderId, v);
            isLeader.Should().BeTrue($"want id={origLeaderId} leader, but it's not");
            await SleepMs(100);
        }

        await h.WaitCommittedAsync(81, 3);
        var (nc, i1) = h.CheckCommitted(42);
        var (_, i2) = h.CheckCommitted(55);
        nc.Should().Be(3);
        i1.Should().BeLessThan(i2);

        var (_, i3) = h.CheckCommitted(81);
        i2.Should().BeLessThan(i3);
    }

    [Fact]
    public async Task TestCommitWithDisconnectionAndRecover()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        // With everyone connected, the leader takes two commands.
        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();
        h.SubmitToServer(origLeaderId, 5);
        h.SubmitToServer(origLeaderId, 6);

        await h.WaitCommittedAsync(6, 3);
        h.CheckCommittedN(6, 3);

        int dPeerId = (origLeaderId + 1) % 3;
        h.DisconnectPeer(dPeerId);
        await SleepMs(250);

        // Submit a new command; it is committed, but only by the two connected servers.
        h.SubmitToServer(origLeaderId, 7);
        await h.WaitCommittedAsync(7, 2);
        h.CheckCommittedN(7, 2);

        // Reconnect dPeerId and give it a moment: it catches up and commits 7 too.
        h.ReconnectPeer(dPeerId);
        await SleepMs(200);
        await h.CheckSingleLeaderAsync();

        await h.WaitCommittedAsync(7, 3);
        h.CheckCommittedN(7, 3);
    }

    [Fact]
    public async Task TestNoCommitWithNoQuorum()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        // With everyone connected, the leader takes two commands.
        var (origLeaderId, origTerm) = await h.CheckSingleLeaderAsync();
        h.SubmitToServer(origLeaderId, 5);
        h.SubmitToServer(origLeaderId, 6);

        await h.WaitCommittedAsync(6, 3);
        h.CheckCommittedN(6, 3);

        // Disconnect both followers.
        int dPeer1 = (origLeaderId + 1) % 3;
        int dPeer2 = (origLeaderId + 2) % 3;
        h.DisconnectPeer(dPeer1);
        h.DisconnectPeer(dPeer2);
        await SleepMs(250);

        h.SubmitToServer(origLeaderId, 8);
        await SleepMs(250);
        h.CheckNotCommitted(8);

        // Reconnect both followers: there is a quorum again.
        h.ReconnectPeer(dPeer1);
        h.ReconnectPeer(dPeer2);
        await SleepMs(600);

        // 8 is still not committed: the term has changed, and a leader commits an entry from an
        // earlier term only along with one of its own.
        h.CheckNotCommitted(8);

        // A new leader is elected. It may not be the old one, despite its longer log: the two
        // reconnected followers can elect each other.
        var (newLeaderId, againTerm) = await h.CheckSingleLeaderAsync();
        againTerm.Should().NotBe(origTerm);

        // New values are committed, though.
        h.SubmitToServer(newLeaderId, 9);
        h.SubmitToServer(newLeaderId, 10);
        h.SubmitToServer(newLeaderId, 11);

        foreach (int v in new[] { 9, 10, 11 })
        {
            await h.WaitCommittedAsync(v, 3);
            h.CheckCommittedN(v, 3);
        }
    }

    [Fact]
    public async Task TestCommitsWithLeaderDisconnects()
    {
        await using var h = new Harness(output, 5, LeakCheck);

        // With everyone connected, the leader takes two commands.
        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();
        h.SubmitToServer(origLeaderId, 5);
        h.SubmitToServer(origLeaderId, 6);

        await h.WaitCommittedAsync(6, 5);
        h.CheckCommittedN(6, 5);

        // Leader disconnected...
        h.DisconnectPeer(origLeaderId);
        await SleepMs(10);

        // The cut-off old leader still believes it leads, so it takes 7.
        h.SubmitToServer(origLeaderId, 7);

        await SleepMs(150);
        h.CheckNotCommitted(7);

        var (newLeaderId, _) = await h.CheckSingleLeaderAsync();

        // Submit 8 to the new leader.
        h.SubmitToServer(newLeaderId, 8);
        await h.WaitCommittedAsync(8, 4);
        h.CheckCommittedN(8, 4);

        // Reconnect the old leader and let the cluster settle. The old leader must not win.
        h.ReconnectPeer(origLeaderId);
        await SleepMs(600);

        var (finalLeaderId, _) = await h.CheckSingleLeaderAsync();
        finalLeaderId.Should().NotBe(origLeaderId);

        // One more command on the new leader: every server must commit 9.
        h.SubmitToServer(newLeaderId, 9);
        await h.WaitCommittedAsync(9, 5);
        h.CheckCommittedN(9, 5);
        h.CheckCommittedN(8, 5);

        // But 7 is not committed...
        h.CheckNotCommitted(7);
    }
}
