// A check that the benchmark's burst completes: every server delivers every command.
using FluentAssertions;
using Xunit;

namespace RaftBench;

public sealed class BurstTests
{
    [Fact]
    public async Task BurstOf2000Completes()
    {
        // Not a timing assertion: this only proves the commit path never stalls under a burst.
        BurstResult result = await Scenarios.BurstAsync(2_000);

        result.Delivered.Should().Equal(2_000, 2_000, 2_000);
        result.CommandsPerSecond.Should().BePositive();
    }

    [Fact]
    public async Task LatencyAndElectionScenariosComplete()
    {
        LatencyResult latency = await Scenarios.LatencyAsync(20);
        latency.Count.Should().Be(20);
        latency.P50.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(latency.Max);

        ElectionResult election = await Scenarios.ElectionAsync(2);
        election.Clusters.Should().Be(2);
        election.P50.Should().BeGreaterThan(0);
    }
}
