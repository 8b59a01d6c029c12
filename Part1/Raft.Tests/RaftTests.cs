// The tests of this part, one for each of upstream's, with the same names and scenarios.
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
}
