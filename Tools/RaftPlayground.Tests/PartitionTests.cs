// Partitions through the JSON API: servers in groups that only talk among themselves, the links
// the page draws, what Raft does on each side, and the heal.
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

[Collection("cluster")]
public sealed class PartitionTests
{
    private static PlaygroundOptions FreePorts(int servers) => new() { Servers = servers, Port = 0, KvPortBase = 0 };

    private static readonly TimeSpan ElectionLimit = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task TestLeaderInMinorityMajorityElectsAndCommits()
    {
        await using var p = await Playground.StartAsync(FreePorts(5));
        using var api = new ApiClient(p.Address);
        ServerView old = await api.WaitForLeaderAsync(ElectionLimit);
        await api.KvAsync("put", "before", "1");
        int follower = (old.Id + 1) % 5;
        int[] minority = [.. new[] { old.Id, follower }.Order()];
        int[] majority = [.. Enumerable.Range(0, 5).Except(minority)];

        var (status, body) = await api.PostAsync("network/partition", new { groups = new[] { minority } });
        status.Should().Be(200, body.ToString());
        // Groups are listed by their smallest id.
        int[][] groups = [.. new[] { minority, majority }.OrderBy(g => g[0])];
        body.GetProperty("message").GetString().Should().Be($"partitioned: {Cluster.Describe(groups)}");

        PlaygroundState cut = await api.StateAsync();
        cut.Groups.Should().BeEquivalentTo(groups, o => o.WithStrictOrdering());
        cut.Links.Should().HaveCount(10);
        foreach (LinkView link in cut.Links)
        {
            bool sameSide = minority.Contains(link.A) == minority.Contains(link.B);
            link.State.Should().Be(sameSide ? "up" : "cut", $"{link.A}-{link.B}");
        }
        int[] minorityCommits = [.. minority.Select(i => cut.Cards[i].CommitIndex)];

        // The majority elects a leader of a higher term and commits; the old leader, alone with one follower, cannot.
        ServerView? fresh = null;
        await Poll.UntilAsync(async () =>
        {
            PlaygroundState s = await api.StateAsync();
            fresh = s.Cards.FirstOrDefault(c => majority.Contains(c.Id) && c.Role == "Leader" && c.Term > old.Term);
            return fresh is not null;
        }, ElectionLimit, "a new leader in the majority");
        KvAnswer put = await api.KvAsync("put", "during", "2");
        put.Server.Should().BeOneOf(majority);
        await Poll.UntilAsync(async () => (await api.StateAsync()).Cards.Where(c => majority.Contains(c.Id)).All(c => c.Data!.ContainsKey("during")),
            TimeSpan.FromSeconds(5), "the majority to apply during=2");
        PlaygroundState after = await api.StateAsync();
        minority.Select(i => after.Cards[i].CommitIndex).Should().Equal(minorityCommits, "the minority commits nothing new");
        minority.Should().OnlyContain(i => !after.Cards[i].Data!.ContainsKey("during"));

        // Healed, the old leader learns the higher term and every log comes to agree.
        (status, body) = await api.PostAsync("network/heal");
        status.Should().Be(200, body.ToString());
        (await api.StateAsync()).Links.Should().OnlyContain(l => l.State == "up");
        await Poll.UntilAsync(async () =>
        {
            PlaygroundState s = await api.StateAsync();
            return s.Groups is null && s.Cards.All(c => c.Data!.GetValueOrDefault("during") == "2")
                && s.Logs.All(l => l.Runs.SequenceEqual(s.Logs[0].Runs)) && s.Cards.Count(c => c.Role == "Leader") == 1;
        }, TimeSpan.FromSeconds(5), "every server to agree after the heal");
    }

    [Fact]
    public async Task TestLinksFollowStatusAndGroups()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        int[][] zeroAlone = [[0]];
        (await api.PostAsync("network/partition", new { groups = zeroAlone })).Status.Should().Be(200);
        (await api.PostAsync("servers/1/disconnect")).Status.Should().Be(200);
        // A link with a disconnected or crashed end is down, partition or not.
        Links(await api.StateAsync()).Should().Equal("0-1 down", "0-2 cut", "1-2 down");

        // A server comes back into its own group: reconnected 1 talks to 2, not to 0; so does a restarted one.
        (await api.PostAsync("servers/1/reconnect")).Status.Should().Be(200);
        Links(await api.StateAsync()).Should().Equal("0-1 cut", "0-2 cut", "1-2 up");
        (await api.PostAsync("servers/2/crash")).Status.Should().Be(200);
        Links(await api.StateAsync()).Should().Equal("0-1 cut", "0-2 down", "1-2 down");
        (await api.PostAsync("servers/2/restart")).Status.Should().Be(200);
        Links(await api.StateAsync()).Should().Equal("0-1 cut", "0-2 cut", "1-2 up");

        var cluster = p.Cluster;
        (await api.PostAsync("network/heal")).Status.Should().Be(200);
        Links(await api.StateAsync()).Should().Equal("0-1 up", "0-2 up", "1-2 up");
        var (status, body) = await api.PostAsync("network/heal");
        status.Should().Be(200);
        body.GetProperty("message").GetString().Should().Be("there was no partition to heal");
        cluster.Groups().Should().BeNull();
    }

    [Fact]
    public async Task TestPartitionCutsTheRaftServersConnections()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        ServerView leader = await api.WaitForLeaderAsync(ElectionLimit);
        int alone = (leader.Id + 1) % 3;

        // A follower left out of the only group named: it becomes a candidate again and again,
        // its term climbing, while the other two keep their leader in its term.
        int[][] others = [[.. Enumerable.Range(0, 3).Where(i => i != alone)]];
        (await api.PostAsync("network/partition", new { groups = others })).Status.Should().Be(200);
        await Poll.UntilAsync(async () => (await api.StateAsync()).Cards[alone].Term >= leader.Term + 2, ElectionLimit, $"server {alone}'s term to climb on its own");
        PlaygroundState s = await api.StateAsync();
        s.Cards[leader.Id].Should().Match<ServerView>(c => c.Role == "Leader" && c.Term == leader.Term, "server {0}'s elections never reach the others", alone);
        s.Cards[alone].Role.Should().NotBe("Leader");
    }

    private static IEnumerable<string> Links(PlaygroundState s) => s.Links.Select(l => $"{l.A}-{l.B} {l.State}");
}
