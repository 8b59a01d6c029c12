// The live updates' size: the stream a page receives at 1x with five servers and a KV load.
using System.Diagnostics;
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

[Collection("cluster")]
public sealed class StreamTests(ITestOutputHelper output)
{
    /// <summary>The stream's budget (issue 19): a page must be able to keep up over any network a learner uses.</summary>
    private const double BudgetBytesPerSecond = 200_000;

    [Fact]
    public async Task TestEventStreamStaysLeanUnderKvLoad()
    {
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 5, Port = 0, KvPortBase = 0 });
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(TimeSpan.FromSeconds(5));
        CancellationToken ct = TestContext.Current.CancellationToken;

        // Four console clients putting as fast as the cluster commits, on 50 keys, while the stream is read.
        using var load = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int puts = 0;
        async Task LoadAsync(int client)
        {
            for (int i = 0; !load.IsCancellationRequested; i++)
            {
                var (status, _) = await api.PostAsync("kv/put", new { key = $"key{(client * 13 + i) % 50}", value = $"value {client}.{i}" });
                status.Should().Be(200);
                Interlocked.Increment(ref puts);
            }
        }
        Task[] clients = [.. Enumerable.Range(0, 4).Select(c => Task.Run(() => LoadAsync(c), ct))];

        using var events = await api.Http.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead, ct);
        await using Stream stream = await events.Content.ReadAsStreamAsync(ct);
        // The first update carries every log and store whole; the steady rate is what follows it.
        var first = new StreamReader(stream);
        long total = 0, updates = 0, largest = 0, size = 0;
        var clock = Stopwatch.StartNew();
        TimeSpan span = TimeSpan.FromSeconds(2);
        string? line;
        bool skippedFirst = false;
        var parts = new Dictionary<string, long>();
        while (clock.Elapsed < span && (line = await first.ReadLineAsync(ct)) is not null)
        {
            if (line.Length == 0)
            {
                if (!skippedFirst)
                {
                    skippedFirst = true;
                    clock.Restart();
                    total = 0;
                }
                else
                {
                    updates++;
                    largest = Math.Max(largest, size);
                }
                size = 0;
                continue;
            }
            size += line.Length + 1;
            total += line.Length + 1;
            if (skippedFirst && line.StartsWith("data: ", StringComparison.Ordinal))
            {
                // Where the bytes go, field by field.
                using var doc = JsonDocument.Parse(line[6..]);
                foreach (JsonProperty field in doc.RootElement.EnumerateObject())
                {
                    parts[field.Name] = parts.GetValueOrDefault(field.Name) + field.Value.GetRawText().Length;
                }
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        await load.CancelAsync();
        await Task.WhenAll(clients.Select(c => c.ContinueWith(_ => { }, TaskScheduler.Default)));

        double rate = total / seconds;
        output.WriteLine($"{updates} updates in {seconds:0.0} s: {rate / 1000:0.0} KB/s, largest {largest / 1000.0:0.0} KB; {puts} puts ({puts / seconds:0} a second)");
        output.WriteLine(string.Join(", ", parts.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value / seconds / 1000:0.0} KB/s")));
        updates.Should().BeGreaterThan(4);
        puts.Should().BeGreaterThan(20, "the load ran");
        rate.Should().BeLessThan(BudgetBytesPerSecond);
    }
}
