// The ready-made scenarios through the JSON API: each runs to its end on a live cluster, and the
// cluster shows, at the step that matters, what the scenario says it shows.
using System.Collections.Concurrent;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

[Collection("cluster")]
public sealed class ScenarioTests
{
    /// <summary>What the cluster looked like at the end of each step, by step number.</summary>
    private readonly ConcurrentDictionary<int, IReadOnlyList<ServerReading>> _atStep = new();

    /// <summary>The partition's groups at the end of each step, by step number.</summary>
    private readonly ConcurrentDictionary<int, IReadOnlyList<IReadOnlyList<int>>?> _groupsAtStep = new();

    private Playground? _playground;

    /// <summary>What a test does at the end of each step besides recording it.</summary>
    private Func<ScenarioView, Task>? _stepHook;

    /// <summary>A 5-server playground with short pauses (or <paramref name="pause"/>), whose scenarios record the cluster at the end of each step.</summary>
    private async Task<Playground> StartAsync(TimeSpan? pause = null)
    {
        _playground = await Playground.StartAsync(new PlaygroundOptions
        {
            Servers = 5,
            Port = 0,
            KvPortBase = 0,
            ScenarioPause = pause ?? TimeSpan.FromMilliseconds(50),
            ScenarioStepHook = view =>
            {
                _atStep[view.Step] = _playground!.Cluster.Read(new int[5]);
                _groupsAtStep[view.Step] = _playground.Cluster.Groups();
                return _stepHook?.Invoke(view) ?? Task.CompletedTask;
            },
        });
        return _playground;
    }

    /// <summary>Starts scenario <paramref name="name"/> and waits for its end, which must not be a failure.</summary>
    private static async Task<PlaygroundState> RunAsync(Playground p, ApiClient api, string name)
    {
        var (status, body) = await api.PostAsync($"scenarios/{name}");
        status.Should().Be(200, body.ToString());
        body.GetProperty("message").GetString().Should().Be($"scenario '{name}' started");
        PlaygroundState? done = null;
        await Poll.UntilAsync(async () => (done = await api.StateAsync()).Scenario is { Running: false }, TimeSpan.FromSeconds(60), $"scenario {name} to end");
        done!.Scenario!.Failed.Should().BeFalse(done.Scenario.Text);
        done.Scenario.Step.Should().Be(done.Scenario.Steps);
        // In the whole log: the state's last 100 lines may have moved past it on a busy machine.
        p.Log.LinesAfter(0, LiveLog.MaxLines).Should().Contain(l => l.Message.StartsWith($"Scenario {name} done: ", StringComparison.Ordinal));
        return done;
    }

    [Fact]
    public async Task TestScenarioMinorityLeader()
    {
        await using var p = await StartAsync();
        using var api = new ApiClient(p.Address);
        PlaygroundState end = await RunAsync(p, api, "minority-leader");

        // At step 6 the two cut off (the old leader and its follower) end in b=stale, uncommitted,
        // where the majority has committed b=fresh, an entry of a higher term. (Told by the
        // partition's groups, not by roles: on a loaded machine a role can change at any moment.)
        IReadOnlyList<ServerReading> split = _atStep[6];
        IReadOnlyList<int> minority = _groupsAtStep[6]!.Single(g => g.Count == 2);
        foreach (int id in minority)
        {
            ServerReading cut = split[id];
            int last = cut.Card.LogLength - 1;
            cut.Card.CommitIndex.Should().BeLessThan(last, "S{0}'s last entry, b=stale, is not committed", id);
            split.Where(r => !minority.Contains(r.Card.Id)).Should().Contain(r => r.Card.CommitIndex >= last && r.Terms[last] > cut.Terms[last],
                "the majority committed an entry of a higher term at index {0}", last);
        }

        // At the end every log agrees, the new leader's way.
        end.Logs.Should().OnlyContain(l => l.Runs.SequenceEqual(end.Logs[0].Runs));
        end.Cards.Should().OnlyContain(c => c.Data!["b"] == "fresh");
    }

    [Fact]
    public async Task TestScenarioFollowerBehind()
    {
        await using var p = await StartAsync();
        using var api = new ApiClient(p.Address);
        PlaygroundState end = await RunAsync(p, api, "follower-behind");

        // At step 3 (the 20 Puts done) the crashed follower is 20 entries behind the leader.
        IReadOnlyList<ServerReading> behind = _atStep[3];
        int follower = behind.Single(s => s.Card.Status == "crashed").Card.Id;
        behind.Max(s => s.Card.CommitIndex).Should().BeGreaterThanOrEqualTo(behind[follower].Card.LogLength - 1 + 20);
        end.Cards[follower].Data.Should().Contain("k20", "20");
        end.Cards[follower].LogLength.Should().Be(end.Cards.Max(c => c.LogLength));
    }

    [Fact]
    public async Task TestScenarioFigure7()
    {
        await using var p = await StartAsync();
        using var api = new ApiClient(p.Address);
        PlaygroundState end = await RunAsync(p, api, "figure-7");

        // At step 6 the crashed old leader holds three entries of its term that nobody else has,
        // at indices where the new leader has committed entries of a higher term.
        IReadOnlyList<ServerReading> before = _atStep[6];
        ServerReading old = before.Single(s => s.Card.Status == "crashed");
        int oldTerm = old.Terms[^1];
        int first = old.Card.LogLength - 3;
        old.Terms[first..].Should().Equal(oldTerm, oldTerm, oldTerm);
        old.Card.CommitIndex.Should().BeLessThan(first);
        before.Should().Contain(r => r.Card.CommitIndex >= first + 1 && r.Terms[first] > oldTerm && r.Terms[first + 1] > oldTerm,
            "the new leader committed c and d, of its higher term, at those indices");

        // At the end the old leader's log is the new leader's: its three entries were replaced.
        end.Logs.Should().OnlyContain(l => l.Runs.SequenceEqual(end.Logs[0].Runs));
        end.Cards.Should().OnlyContain(c => !c.Data!.ContainsKey("lost1") && c.Data["d"] == "2");
    }

    [Fact]
    public async Task TestScenarioStandsStillWhileTheClusterClockIsPaused()
    {
        await using var p = await StartAsync(TimeSpan.FromMilliseconds(50));
        using var api = new ApiClient(p.Address);

        // The cluster's clock paused at the end of step 1: the scenario's pause is in cluster time, so step 2 waits.
        var paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _stepHook = view =>
        {
            if (view.Step == 1)
            {
                p.Run.Pacer.Pause();
                paused.TrySetResult();
            }
            return Task.CompletedTask;
        };
        (await api.PostAsync("scenarios/follower-behind")).Status.Should().Be(200);
        await paused.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        // Half a second of real time, ten times the pause: nothing may move.
        await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
        PlaygroundState still = await api.StateAsync();
        still.Scenario!.Should().Match<ScenarioView>(v => v.Running && v.Step == 1);
        still.Cards.Should().OnlyContain(c => c.Status == "connected", "step 2's crash has not happened");

        p.Run.Pacer.Resume();
        await Poll.UntilAsync(async () => (await api.StateAsync()).Scenario is { Running: false }, TimeSpan.FromSeconds(60), "the scenario to end");
        (await api.StateAsync()).Scenario!.Failed.Should().BeFalse();
    }

    [Fact]
    public async Task TestScenarioRequestsAreChecked()
    {
        // Pauses of a minute: a scenario started here is still in its first pause when it is stopped.
        await using var p = await StartAsync(TimeSpan.FromMinutes(1));
        using var api = new ApiClient(p.Address);

        (await api.Http.GetStringAsync("api/scenarios", TestContext.Current.CancellationToken)).Should()
            .Contain("\"name\":\"minority-leader\"").And.Contain("\"name\":\"follower-behind\"").And.Contain("\"name\":\"figure-7\"");
        var (status, body) = await api.PostAsync("scenarios/split-brain");
        status.Should().Be(404);
        body.GetProperty("error").GetString().Should().Be("no scenario 'split-brain': use minority-leader, follower-behind, figure-7");
        (status, body) = await api.PostAsync("scenarios/stop");
        status.Should().Be(409);
        body.GetProperty("error").GetString().Should().Be("no scenario is running");

        // One at a time; a running one can be stopped, and says so.
        (await api.PostAsync("scenarios/follower-behind")).Status.Should().Be(200);
        (status, body) = await api.PostAsync("scenarios/figure-7");
        status.Should().Be(409);
        body.GetProperty("error").GetString().Should().Be("scenario 'follower-behind' is running: wait for it to end, or stop it first");
        (status, body) = await api.PostAsync("scenarios/stop");
        status.Should().Be(200, body.ToString());
        ScenarioView stopped = (await api.StateAsync()).Scenario!;
        stopped.Running.Should().BeFalse();
        stopped.Failed.Should().BeTrue();
        stopped.Text.Should().EndWith("stopped");
    }
}
