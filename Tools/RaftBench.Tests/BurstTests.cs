// Checks that the benchmark's scenarios complete: every server delivers every command, also when
// the leader changes midway (a deposed leader's lost commands are given to the new one).
using FluentAssertions;
using Xunit;

namespace RaftBench;

public sealed class BurstTests
{
    [Fact]
    public async Task BurstOf2000Completes()
    {
        // Not a timing assertion: this only proves the commit path never stalls under a burst.
        BurstResult result = await RaftScenarios.BurstAsync(2_000);

        result.Delivered.Should().Equal(2_000, 2_000, 2_000);
        result.CommandsPerSecond.Should().BePositive();
    }

    [Fact]
    public async Task BurstSurvivesLeaderChange()
    {
        // The leader is cut off before command 1,001, so it accepts commands 1,001 to 2,000 that it
        // can never commit; the other two elect a new leader, which must be given all of them again.
        BurstResult result = await RaftScenarios.BurstAsync(2_000, disconnectLeaderAt: 1_001);

        result.Delivered.Should().Equal(2_000, 2_000, 2_000);
        result.LeaderChanges.Should().BeGreaterThanOrEqualTo(1);
        result.Resubmitted.Should().BeGreaterThanOrEqualTo(1_000);
    }

    [Fact]
    public async Task LatencySurvivesLeaderChange()
    {
        // Command 11 goes to a leader cut off a moment before; the new leader must deliver it.
        LatencyResult latency = await RaftScenarios.LatencyAsync(20, disconnectLeaderAt: 11);

        latency.Count.Should().Be(20);
        latency.LeaderChanges.Should().BeGreaterThanOrEqualTo(1);
        latency.Resubmitted.Should().BeGreaterThanOrEqualTo(1);
        latency.Max.Should().BeGreaterThanOrEqualTo(150, "command 11 waited for an election, and election timeouts start at 150 ms");
    }

    [Fact]
    public async Task LatencyAndElectionScenariosComplete()
    {
        LatencyResult latency = await RaftScenarios.LatencyAsync(20);
        latency.Count.Should().Be(20);
        latency.P50.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(latency.Max);

        ElectionResult election = await RaftScenarios.ElectionAsync(2);
        election.Clusters.Should().Be(2);
        election.P50.Should().BeGreaterThan(0);
    }
}
