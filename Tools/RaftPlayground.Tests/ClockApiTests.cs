// The cluster's clock through the JSON API: paused means nothing moves; steps move cluster time
// by what they say; slowed down, the KV console's requests take longer and still succeed.
using System.Globalization;
using System.Text.RegularExpressions;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

[Collection("cluster")]
public sealed class ClockApiTests
{
    [Fact]
    public async Task TestPauseStepAndSlowMotionThroughTheApi()
    {
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 3, Port = 0, KvPortBase = 0 });
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(TimeSpan.FromSeconds(5));

        // Paused: cluster time, terms, logs and messages stand still.
        (await api.PostAsync("clock/pause")).Status.Should().Be(200);
        PlaygroundState before = await api.SettledStateAsync(TimeSpan.FromSeconds(5));
        before.Clock.Paused.Should().BeTrue();
        await Task.Delay(300, TestContext.Current.CancellationToken);
        PlaygroundState after = await api.StateAsync();
        after.Clock.TimeMs.Should().Be(before.Clock.TimeMs, "no cluster time passes while paused");
        after.Cards.Select(c => (c.Term, c.Role, c.CommitIndex, c.TimerMs)).Should().Equal(before.Cards.Select(c => (c.Term, c.Role, c.CommitIndex, c.TimerMs)));
        after.Messages.Shown.Should().Equal(before.Messages.Shown, "no message moves while paused");

        // A step of 10 ms moves cluster time by exactly that; bad steps are refused with their reason.
        var (status, answer) = await api.PostAsync("clock/step", new { ms = 10 });
        status.Should().Be(200, answer.ToString());
        (await api.StateAsync()).Clock.TimeMs.Should().BeApproximately(before.Clock.TimeMs + 10, 0.02);
        foreach (var (body, reason) in new[]
        {
            ("{\"ms\":0}", "bad step of 0 ms"),
            ("{\"ms\":20000}", "bad step of 20000 ms"),
            ("{\"to\":\"nowhere\"}", "a step needs {\"to\": \"timer\"}"),
            ("{\"to\":\"timer\",\"ms\":5}", "a step needs"),
        })
        {
            (status, answer) = await api.PostAsync("clock/step", body);
            status.Should().Be(400, body);
            answer.GetProperty("error").GetString().Should().Contain(reason);
        }

        // Steps to the next timer until a message is on its way; a step to the next message moves it on.
        // Ten in a row: each must arrive at exactly the moment its step went to (one tick short, it would not).
        int arrived = 0;
        for (int i = 0; i < 400 && arrived < 10; i++)
        {
            PlaygroundState now = await api.StateAsync();
            if (!now.Messages.Shown.Any(m => m.Stage is "sending" or "replying" && m.DueMs > now.Clock.TimeMs))
            {
                (await api.PostAsync("clock/step", new { to = "timer" })).Status.Should().Be(200);
                continue;
            }
            (status, answer) = await api.PostAsync("clock/step", new { to = "message" });
            if (status == 409)
            {
                continue; // it arrived on its own (it was due already) before the step looked
            }
            status.Should().Be(200, answer.ToString());
            // "stepped 2.282 ms to 5289.214 ms of cluster time: message 46 (AppendEntries 0→1) arrives"
            string said = answer.GetProperty("message").GetString()!;
            Match named = Regex.Match(said, @": (the reply to )?message (\d+) \(");
            named.Success.Should().BeTrue(said);
            long id = long.Parse(named.Groups[2].Value, CultureInfo.InvariantCulture);
            string onItsWay = named.Groups[1].Success ? "replying" : "sending";
            await Poll.UntilAsync(async () => (await api.StateAsync()).Messages.Shown.All(m => m.Id != id || m.Stage != onItsWay),
                TimeSpan.FromSeconds(5), $"message {id} to be handed over after \"{said}\"");
            arrived++;
        }
        arrived.Should().Be(10, "stepping timer by timer, messages are sent");

        // Resumed at 1/50: a Put takes at least one network delay (1 ms of cluster time, 50 ms of real time), and succeeds.
        (await api.PostAsync("clock/resume")).Status.Should().Be(200);
        (await api.PostAsync("clock/speed", new { speed = 0.02 })).Status.Should().Be(200);
        (await api.StateAsync()).Clock.Speed.Should().Be(0.02);
        await api.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        KvAnswer put = await api.KvAsync("put", "b", "2");
        System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds.Should().BeGreaterThanOrEqualTo(50, "at 1/50 even the quickest commit takes 50 ms of real time");
        put.ElapsedMs.Should().BeInRange(1, 50, "the answer's time is cluster time: a commit is a few network delays");
        (await api.PostAsync("clock/speed", new { speed = 1 })).Status.Should().Be(200);
        await api.KvAsync("get", "b");
    }
}
