// What every test here shares: waiting for a state without fixed sleeps.
using System.Net.Http.Json;
using System.Text.Json;
using FluentAssertions;
using TestLogViz;
using Xunit;

namespace RaftPlayground;

/// <summary>Talks to a playground's JSON API, and waits for the states the tests expect.</summary>
public sealed class ApiClient(Uri address) : IDisposable
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };

    public HttpClient Http => _http;

    /// <summary>GET /api/state.</summary>
    internal async Task<PlaygroundState> StateAsync() =>
        (await _http.GetFromJsonAsync<PlaygroundState>("api/state", JsonOptions))!;

    /// <summary>
    /// The state once the paused cluster stands still: the first one read that equals the one read
    /// 50 ms before it (cluster time, every server's term, role, log, commit and timer, the
    /// messages). Pausing stops the clock, but what its last timers set going (a message handed
    /// to its receiver, the handler's reply) still runs on the thread pool for a moment.
    /// </summary>
    internal async Task<PlaygroundState> SettledStateAsync(TimeSpan limit)
    {
        PlaygroundState state = await StateAsync();
        await Poll.UntilAsync(async () =>
        {
            await Task.Delay(50);
            PlaygroundState next = await StateAsync();
            bool same = Standing(next) == Standing(state);
            state = next;
            return same;
        }, limit, "the paused cluster to stand still");
        return state;
    }

    /// <summary>What must not change while the cluster is paused, as text to compare.</summary>
    private static string Standing(PlaygroundState s) =>
        JsonSerializer.Serialize(new
        {
            s.Clock.TimeMs,
            Cards = s.Cards.Select(c => new { c.Term, c.Role, c.LogLength, c.CommitIndex, c.TimerMs }),
            s.Messages.Shown,
        }, JsonOptions);

    /// <summary>POSTs to <paramref name="path"/> (under /api/) and returns the status and the JSON answer.</summary>
    public async Task<(int Status, JsonElement Body)> PostAsync(string path, object? body = null)
    {
        // Declared JSON, as the page declares it, even when the text is not: the playground refuses any other body.
        using HttpContent content = body is string raw ? new StringContent(raw, System.Text.Encoding.UTF8, "application/json") : JsonContent.Create(body ?? new { }, options: JsonOptions);
        using HttpResponseMessage resp = await _http.PostAsync($"api/{path}", content);
        string text = await resp.Content.ReadAsStringAsync();
        return ((int)resp.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>A KV console operation that must succeed; returns its answer.</summary>
    public async Task<KvAnswer> KvAsync(string op, string key, string? value = null, string? compare = null)
    {
        var (status, body) = await PostAsync($"kv/{op}", new { key, value, compare });
        status.Should().Be(200, body.ToString());
        KvAnswer answer = body.Deserialize<KvAnswer>(JsonOptions)!;
        answer.Ok.Should().BeTrue($"{op}({key}) must succeed: {answer.Error}");
        return answer;
    }

    /// <summary>Waits until exactly one connected server is the leader, and returns it.</summary>
    public async Task<ServerView> WaitForLeaderAsync(TimeSpan limit, int? not = null)
    {
        ServerView? leader = null;
        await Poll.UntilAsync(async () =>
        {
            var leaders = (await StateAsync()).Cards.Where(c => c.Role == "Leader" && c.Status == "connected" && c.Id != not).ToList();
            leader = leaders.Count == 1 ? leaders[0] : null;
            return leader is not null;
        }, limit, not is null ? "a single leader" : $"a leader other than {not}");
        return leader!;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Polling with a deadline: the only way the tests here wait for the cluster.</summary>
public static class Poll
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"waited {limit.TotalSeconds:0.#} s for {what}");
            }
            await Task.Delay(50);
        }
    }
}
