// Checks that the kv scenario completes against a real Part5Kv cluster and reports what it should.
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace RaftBench;

public sealed class KvTests(ITestOutputHelper output)
{
    [Fact]
    public async Task KvScenarioCompletesWithoutErrors()
    {
        // Not a timing assertion: one and four clients for half a second each must all get answers.
        // The limits are far above a commit's few milliseconds, so a busy machine slows the run
        // without turning calls into errors (with upstream's 50 ms per attempt, a slow commit is
        // sent again and then refused as a duplicate). What a busy machine can still do is delay
        // heartbeats past a follower's election timeout: a call whose commit the deposed leader
        // loses is then an error, which the result shows beside the election.
        KvScenario.CallLimit = TimeSpan.FromSeconds(10);
        KvScenario.AttemptTimeout = TimeSpan.FromSeconds(5);
        List<KvResult> results = await KvScenario.RunAsync([1, 4], TimeSpan.FromMilliseconds(500), ["put", "get"]);

        results.Select(r => (r.Op, r.Clients)).Should().Equal(("put", 1), ("get", 1), ("put", 4), ("get", 4));
        foreach (KvResult r in results)
        {
            output.WriteLine($"{r.Op} with {r.Clients} client(s): {r.Ops} answered, {r.Errors} errors, {r.Elections} elections, p50 {r.P50:F2} ms, max {r.Max:F1} ms");
            r.Ops.Should().BePositive($"{r.Op} with {r.Clients} client(s) got answers");
            if (r.Elections == 0)
            {
                r.Errors.Should().Be(0, $"{r.Op} with {r.Clients} client(s) met no election, so every call should have been answered");
            }
            r.PerSecond.Should().HaveCount(1).And.Equal(r.Ops);
            r.P50.Should().BePositive().And.BeLessThanOrEqualTo(r.Max);
            r.StorageWrites.Should().BePositive("puts and gets both go through the Raft log");
        }

        // The shape --json writes: field names as the records spell them.
        using JsonDocument doc = JsonDocument.Parse(JsonSerializer.Serialize(new { kv = results }));
        JsonElement first = doc.RootElement.GetProperty("kv")[0];
        foreach (string field in new[] { "Op", "Clients", "Seconds", "Ops", "OpsPerSecond", "Errors", "P50", "P90", "P99", "Max", "PerSecond", "StorageWrites", "StorageBytes", "LargestWriteBytes", "Elections" })
        {
            first.TryGetProperty(field, out _).Should().BeTrue($"the JSON has {field}");
        }
    }
}
