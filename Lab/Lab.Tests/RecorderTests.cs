// The recorder on its own: stand-in servers whose state a test changes, calls through the lab's
// network, and the one-line recording a harness writes at the end.
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace Lab.Tests;

public sealed class RecorderTests
{
    /// <summary>Each message step and each change of a server is an event at its moment; an unchanged server adds nothing.</summary>
    [Fact]
    public async Task RecordsMessagesAndWhatChangedWhenItChanged()
    {
        JsonElement rec = await RecordAsync(seed: 3);

        rec.GetProperty("format").GetString().Should().Be(Recorder.FormatName);
        rec.GetProperty("version").GetInt32().Should().Be(Recorder.Version);
        rec.GetProperty("seed").GetInt32().Should().Be(3);
        rec.GetProperty("servers").GetInt32().Should().Be(2);
        var events = rec.GetProperty("events").EnumerateArray().ToList();

        // Both servers as they started, then server 1 only when it changed.
        var states = events.Where(e => e.GetProperty("type").GetString() == "server").ToList();
        states.Select(e => e.GetProperty("id").GetInt32()).Should().Equal(0, 1, 1, 1);
        states[2].GetProperty("term").GetInt32().Should().Be(1);
        states[2].GetProperty("log").GetProperty("from").GetInt32().Should().Be(0);
        states[2].GetProperty("log").GetProperty("entries").GetRawText().Should().Be("""[[1,"x"]]""");
        // The log is cut where it changed: only what follows is written.
        states[3].GetProperty("log").GetProperty("from").GetInt32().Should().Be(1);
        states[3].GetProperty("log").GetProperty("entries").GetRawText().Should().Be("""[[1,"y"]]""");
        states[3].GetProperty("timerStartMs").GetDouble().Should().Be(states[3].GetProperty("t").GetDouble());

        var steps = events.Where(e => e.GetProperty("type").GetString() == "message").Select(e => e.GetProperty("step").GetString()).ToList();
        steps.Should().Equal("sent", "delayed", "delivered", "replied", "reply-delivered");
        var sent = events.First(e => e.GetProperty("type").GetString() == "message");
        sent.GetProperty("args").GetString().Should().Be("hello");
        sent.GetProperty("heartbeat").GetBoolean().Should().BeFalse();
        double delay = events.Single(e => e.TryGetProperty("step", out var s) && s.GetString() == "delayed").GetProperty("delayMs").GetDouble();
        double delivered = events.Single(e => e.TryGetProperty("step", out var s) && s.GetString() == "delivered").GetProperty("t").GetDouble();
        delivered.Should().BeApproximately(sent.GetProperty("t").GetDouble() + delay, 0.002);
        events.Single(e => e.TryGetProperty("step", out var s) && s.GetString() == "replied").GetProperty("ok").GetBoolean().Should().BeTrue();

        // A partition cuts both ways; healing mends it; a second heal changes nothing and is not recorded.
        events.Where(e => e.GetProperty("type").GetString() == "links").Select(e => e.GetProperty("cut").GetRawText())
            .Should().Equal("[[0,1],[1,0]]", "[]");
        events.Where(e => e.GetProperty("type").GetString() == "step").Select(e => e.GetProperty("text").GetString()).Should().Equal("before the call");
        events.Single(e => e.GetProperty("type").GetString() == "violation").GetProperty("servers").GetRawText().Should().Be("[0,1]");
        events.Single(e => e.GetProperty("type").GetString() == "failure").GetProperty("text").GetString().Should().Be("first");
        rec.GetProperty("endMs").GetDouble().Should().BeGreaterThanOrEqualTo(delivered);
    }

    /// <summary>A seed is its recording: two runs of one seed write the same line.</summary>
    [Fact]
    public async Task OneSeedRecordsTheSameRunTwice()
    {
        string first = await RecordLineAsync(11);
        string second = await RecordLineAsync(11);

        second.Should().Be(first);
        (await RecordLineAsync(12)).Should().NotBe(first, "another seed draws other delays");
    }

    /// <summary>What a reader refuses, each in one line that says why.</summary>
    [Theory]
    [InlineData("{\"format\":\"raft-recording\",\"version\":1,\"servers\":3,\"events\":[{\"t\":0", "not whole JSON (truncated?)")]
    [InlineData("not json", "not whole JSON")]
    [InlineData("{\"format\":\"raft-recording\",\"version\":2,\"servers\":3,\"events\":[]}", "version 2, and this TestLogViz reads version 1 only")]
    [InlineData("{\"version\":1,\"servers\":3,\"events\":[]}", "not a recording")]
    [InlineData("[1,2]", "not a recording")]
    [InlineData("{\"format\":\"raft-recording\",\"servers\":3,\"events\":[]}", "says no version")]
    [InlineData("{\"format\":\"raft-recording\",\"version\":1}", "no \"servers\" or no \"events\"")]
    public void RefusesWhatItCannotPlay(string json, string why)
    {
        string? problem = Recorder.Problem(json);

        problem.Should().Contain(why).And.NotContain("\n");
    }

    [Fact]
    public async Task AcceptsWhatItRecorded()
    {
        string line = await RecordLineAsync(5);

        line.Should().StartWith(Recorder.LinePrefix).And.NotContain("\n");
        Recorder.Problem(line[Recorder.LinePrefix.Length..]).Should().BeNull();
    }

    /// <summary>Off unless asked: RAFT_RECORD, or a tool's choice for its own runs.</summary>
    [Fact]
    public async Task RecordingIsOffUnlessAsked()
    {
        bool fromEnvironment = Environment.GetEnvironmentVariable("RAFT_RECORD") is "1";
        RunMode.Recording.Should().Be(fromEnvironment);
        (await ChooseAsync(true)).Should().BeTrue();
        (await ChooseAsync(false)).Should().BeFalse();
        RunMode.Recording.Should().Be(fromEnvironment, "a choice holds only on the flow that made it");

        static async Task<bool> ChooseAsync(bool record)
        {
            await Task.Yield();
            RunMode.UseRecording(record);
            return RunMode.Recording;
        }
    }

    private static async Task<JsonElement> RecordAsync(int seed)
    {
        string line = await RecordLineAsync(seed);
        return JsonDocument.Parse(line[Recorder.LinePrefix.Length..]).RootElement.Clone();
    }

    /// <summary>
    /// Two stand-in servers: 0 calls 1 once; 1 takes an entry, then another and restarts its
    /// timer when the call reaches it. Returns the recording's line.
    /// </summary>
    private static Task<string> RecordLineAsync(int seed) =>
        Simulation.RunAsync(seed, async sim =>
        {
            var states = new ServerView[]
            {
                new("Leader", 1, 0, "connected", [], -1, -1, new Dictionary<int, int> { [1] = 0 }, new Dictionary<int, int> { [1] = -1 }, null, TimeSpan.Zero),
                new("Follower", 0, -1, "connected", [], -1, -1, null, null, 0, TimeSpan.FromMilliseconds(200)),
            };
            var recorder = new Recorder(sim, 2, id => states[id], a => a is "heartbeat", r => r is "ok" ? true : null);
            var network = Network.For(sim);
            var log = new ClusterLog(_ => { }, sim.Clock) { Recorder = recorder };
            network.Recorder = recorder;

            recorder.Look();
            states[1] = states[1] with { Term = 1, Log = [(1, "x")] };
            log.Write("[TEST] before the call");
            await network.HookFor(0)(1, "ConsensusModule.RequestVote", "hello", a =>
            {
                states[1] = states[1] with { Log = [(1, "x"), (1, "y")], TimerStart = sim.Clock.GetTimestamp() };
                return Task.FromResult<object>("ok");
            }, CancellationToken.None);
            network.Partition([0], [1]);
            network.Heal();
            network.Heal();
            recorder.Violation("two leaders", [0, 1], null);
            recorder.Failure("first");
            recorder.Failure("second");
            string line = recorder.ToLine("Stand-ins");
            log.Write("[TEST] after the end: not recorded");
            return line;
        });
}
