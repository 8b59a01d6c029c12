// Going back in time through the API: a run is its seed and its inputs, so a fork, a state of the
// past and a replayed recording all give the very state the run had.
using System.Net.Http.Json;
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

[Collection("cluster")]
public sealed class TimeTravelTests
{
    /// <summary>What must be the same in two runs of one seed and one set of inputs: every server's term, role, log, commit index, status and data.</summary>
    private static string Essence(PlaygroundState s) => JsonSerializer.Serialize(new
    {
        s.Clock.TimeMs,
        Servers = s.Cards.Select(c => new { c.Id, c.Term, c.Role, c.VotedFor, c.CommitIndex, c.LastApplied, c.Status, c.Data, c.TimerMs }),
        Logs = s.Logs.Select(l => l.Runs),
    });

    private static Task<Playground> StartAsync(int seed, ReplayFile? replay = null) =>
        Playground.StartAsync(new PlaygroundOptions { Servers = 5, Port = 0, KvPortBase = 0, Seed = seed, StartPaused = true, Replay = replay });

    /// <summary>Steps the paused clock by <paramref name="ms"/> of cluster time.</summary>
    private static async Task StepAsync(ApiClient api, double ms)
    {
        var (status, body) = await api.PostAsync("clock/step", new { ms });
        status.Should().Be(200, body.ToString());
    }

    /// <summary>The state at <paramref name="atMs"/>, from GET /api/state?atMs=.</summary>
    private static async Task<PlaygroundState> StateAtAsync(ApiClient api, double atMs) =>
        (await api.Http.GetFromJsonAsync<PlaygroundState>($"api/state?atMs={atMs}", new JsonSerializerOptions(JsonSerializerDefaults.Web), TestContext.Current.CancellationToken))!;

    /// <summary>A Put given while paused (it enters the run there and commits in the next 200 ms), then a crash of server 2.</summary>
    private static async Task PutAndCrashAsync(ApiClient api)
    {
        Task<KvAnswer> put = api.KvAsync("put", "a", "1");
        // Paused, the Put waits for cluster time: stepped on until it is committed.
        for (int i = 0; i < 50 && !put.IsCompleted; i++)
        {
            await StepAsync(api, 100);
            await Task.WhenAny(put, Task.Delay(20, TestContext.Current.CancellationToken));
        }
        (await put).Value.Should().Be("");
        (await api.PostAsync("servers/2/crash")).Status.Should().Be(200);
    }

    [Fact]
    public async Task TestForkBackToZeroGivesTheSameRun()
    {
        await using var p = await StartAsync(5);
        using var api = new ApiClient(p.Address);
        (await api.StateAsync()).Clock.Should().Match<ClockView>(c => c.TimeMs == 0 && c.Paused && c.Seed == 5 && c.Run == 1);

        await StepAsync(api, 1500);
        PlaygroundState first = await api.StateAsync();
        first.Clock.TimeMs.Should().Be(1500);
        first.Cards.Should().Contain(c => c.Role == "Leader", "a leader was elected by 1,500 ms");
        PlaygroundState at700 = await StateAtAsync(api, 700);
        at700.Clock.Should().Match<ClockView>(c => c.TimeMs == 700 && c.EndMs == 1500);

        var (status, body) = await api.PostAsync("clock/fork", new { atMs = 0 });
        status.Should().Be(200, body.ToString());
        (await api.StateAsync()).Clock.Should().Match<ClockView>(c => c.TimeMs == 0 && c.Paused && c.Run == 2);
        await StepAsync(api, 1500);
        string again = Essence(await api.StateAsync());
        again.Should().Be(Essence(first), $"\n{again}\n{Essence(first)}");
        Essence(await StateAtAsync(api, 700)).Should().Be(Essence(at700));

        // Inputs before the moment a fork goes back to are kept, at their moments; the rest is the discarded future.
        await PutAndCrashAsync(api);
        await StepAsync(api, 500);
        PlaygroundState withInputs = await api.StateAsync();
        withInputs.Cards[2].Status.Should().Be("crashed");
        withInputs.Cards.Where(c => c.Status == "connected").Should().OnlyContain(c => c.Data!["a"] == "1");
        (await api.PostAsync("clock/fork", new { atMs = withInputs.Clock.TimeMs - 400 })).Status.Should().Be(200);
        await StepAsync(api, 400);
        Essence(await api.StateAsync()).Should().Be(Essence(withInputs));

        // A fork to the middle stands there, paused, as the run was then.
        (await api.PostAsync("clock/fork", new { atMs = 700 })).Status.Should().Be(200);
        Essence(await api.StateAsync()).Should().Be(Essence(at700));
    }

    /// <summary>"Time out now" on a follower: within a tick it stands for election in a higher term; a leader refuses; a fork replays it.</summary>
    [Fact]
    public async Task TestTimeOutNowStartsAnElection()
    {
        await using var p = await StartAsync(5);
        using var api = new ApiClient(p.Address);
        await StepAsync(api, 1500);
        ServerView leader = (await api.StateAsync()).Cards.Single(c => c.Role == "Leader");
        int follower = (leader.Id + 1) % 5;

        var (status, body) = await api.PostAsync($"servers/{leader.Id}/timeout");
        status.Should().Be(409, body.ToString());
        body.GetProperty("error").GetString().Should().Contain("a leader runs no election timer");
        (status, body) = await api.PostAsync($"servers/{follower}/timeout");
        status.Should().Be(200, body.ToString());

        var (s, b) = await api.PostAsync("clock/step", new { to = "timer" });
        for (int i = 0; i < 5 && !b.GetProperty("message").GetString()!.Contains($"S{follower}'s election timer ran out", StringComparison.Ordinal); i++)
        {
            (s, b) = await api.PostAsync("clock/step", new { to = "timer" });
        }
        b.GetProperty("message").GetString().Should().Contain($"S{follower}'s election timer ran out: S{follower} stands for term {leader.Term + 1}");
        PlaygroundState after = await api.StateAsync();
        after.Clock.TimeMs.Should().BeLessThanOrEqualTo(1510, "a follower's ticker looks every 10 ms");
        await StepAsync(api, 300);
        PlaygroundState later = await api.StateAsync();
        later.Cards.Should().OnlyContain(c => c.Term > leader.Term, "the election went on in a higher term");

        // Back to the moment of the time-out (an input at 1,500 ms is kept by a fork to 1,500 ms), and on again.
        (await api.PostAsync("clock/fork", new { atMs = 1500 })).Status.Should().Be(200);
        await StepAsync(api, later.Clock.TimeMs - 1500);
        Essence(await api.StateAsync()).Should().Be(Essence(later), "the time-out is an input of the run, replayed at its moment");
    }

    [Fact]
    public async Task TestDownloadedRecordingReplaysToTheSameState()
    {
        string json;
        PlaygroundState end;
        await using (var p = await StartAsync(11))
        {
            using var api = new ApiClient(p.Address);
            await StepAsync(api, 800);
            await PutAndCrashAsync(api);
            await StepAsync(api, 700);
            end = await api.StateAsync();
            json = await api.Http.GetStringAsync("api/recording", TestContext.Current.CancellationToken);
        }
        using (var doc = JsonDocument.Parse(json))
        {
            doc.RootElement.GetProperty("format").GetString().Should().Be("raft-recording");
            doc.RootElement.GetProperty("seed").GetInt32().Should().Be(11);
            doc.RootElement.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("kind").GetString()).Should().Equal("kv", "crash");
            doc.RootElement.GetProperty("events").GetArrayLength().Should().BeGreaterThan(100);
        }

        var (replay, problem) = ReplayFile.Parse(json);
        problem.Should().BeNull();
        await using var again = await StartAsync(seed: 1, replay);
        using var api2 = new ApiClient(again.Address);
        again.Seed.Should().Be(11, "a replay runs the recording's seed");
        await StepAsync(api2, end.Clock.TimeMs);
        string replayed = Essence(await api2.StateAsync());
        replayed.Should().Be(Essence(end), $"\n{replayed}\n{Essence(end)}");
    }

    [Fact]
    public async Task TestTimeTravelRefusesWhatHasNotHappened()
    {
        await using var p = await StartAsync(3);
        using var api = new ApiClient(p.Address);
        await StepAsync(api, 300);
        foreach (var (body, code, reason) in new[]
        {
            ("{\"atMs\":301}", 409, "a fork goes back, not ahead"),
            ("{\"atMs\":-1}", 409, "cannot continue from -1 ms"),
            ("{}", 400, "a fork needs \"atMs\""),
            ("{\"atMs\":\"soon\"}", 400, "the body is not a moment"),
        })
        {
            var (status, answer) = await api.PostAsync("clock/fork", body);
            status.Should().Be(code, body);
            answer.GetProperty("error").GetString().Should().Contain(reason);
        }
        using (HttpResponseMessage ahead = await api.Http.GetAsync("api/state?atMs=5000", TestContext.Current.CancellationToken))
        {
            ((int)ahead.StatusCode).Should().Be(409);
            (await ahead.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Should().Contain("the run has reached 300 ms");
        }
        using (HttpResponseMessage bad = await api.Http.GetAsync("api/state?atMs=x", TestContext.Current.CancellationToken))
        {
            ((int)bad.StatusCode).Should().Be(400);
        }

        // A new cluster starts again at 0, of the seed asked for.
        var (s, b) = await api.PostAsync("cluster/new", new { seed = 42 });
        s.Should().Be(200, b.ToString());
        (await api.StateAsync()).Clock.Should().Match<ClockView>(c => c.TimeMs == 0 && c.Seed == 42 && c.Run == 2);
        (await api.PostAsync("cluster/new", "{\"seed\":-4}")).Status.Should().Be(400);
    }

    [Fact]
    public void TestReplayRefusesWhatIsNotAPlaygroundRecording()
    {
        ReplayFile.Parse("{\"format\":\"raft-recording\",\"version\":7,\"servers\":5,\"events\":[]}").Problem
            .Should().Contain("version 7").And.Contain("RaftPlayground reads version 1");
        ReplayFile.Parse("{\"format\":\"raft-recording\",\"version\":1,\"servers\":5,\"events\":[]}").Problem
            .Should().Contain("a recording of a test, not of the playground");
        ReplayFile.Parse("{\"format\":\"raft-recording\",\"vers").Problem.Should().Contain("not whole JSON");
        ReplayFile.Parse("""{"format":"raft-recording","version":1,"servers":5,"seed":1,"source":"RaftPlayground","events":[],"inputs":[{"atTicks":5,"kind":"heal"},{"atTicks":2,"kind":"heal"}]}""")
            .Problem.Should().Contain("input 2 is earlier");
    }
}
