// The simulated network on its own, with stand-ins for the servers at either end: what it does to
// each call, what it tells its observer, and what it writes in the log.
using FluentAssertions;
using Microsoft.Extensions.Logging;
using Xunit;
using static Lab.MessageEventKind;

namespace Lab.Tests;

public sealed class NetworkTests
{
    /// <summary>Upstream's network: every call arrives 1-5 ms after it was sent, none is lost, and the observer sees each step in order.</summary>
    [Fact]
    public async Task ReliableCallsArriveWithinOneToFiveMilliseconds()
    {
        var (events, arrivals) = await RunAsync(NetworkConditions.Reliable, calls: 200);

        arrivals.Should().HaveCount(200).And.OnlyContain(ms => ms >= 1 && ms <= 5);
        arrivals.Distinct().Count().Should().BeGreaterThan(150, "delays are drawn to the microsecond");
        foreach (var journey in events.GroupBy(e => e.Id))
        {
            journey.Select(e => e.Kind).Should().Equal(Sent, Delayed, Delivered, Replied, ReplyDelivered);
        }
    }

    /// <summary>Upstream's RAFT_UNRELIABLE_RPC: about one call in ten lost, one in ten held 75 ms.</summary>
    [Fact]
    public async Task UnreliableLosesAndHoldsAboutOneInTen()
    {
        var (events, arrivals) = await RunAsync(NetworkConditions.Unreliable, calls: 1000);

        events.Count(e => e.Kind == Lost).Should().BeInRange(60, 140);
        events.Count(e => e.Kind == Held).Should().BeInRange(60, 140);
        arrivals.Count(ms => ms == 75).Should().Be(events.Count(e => e.Kind == Held));
    }

    /// <summary>A message held for a long delay is overtaken by one sent after it.</summary>
    [Fact]
    public async Task AHeldMessageIsOvertaken()
    {
        List<int> order = await Simulation.RunAsync(1, async sim =>
        {
            var network = Network.For(sim);
            var arrived = new List<int>();
            network.SetConditions(NetworkConditions.Reliable with { LongDelayChance = 1, LongDelayMin = TimeSpan.FromMilliseconds(100), LongDelayMax = TimeSpan.FromMilliseconds(100) });
            Task<object?> first = Call(network, 0, 1, "first", arrived, tag: 1);
            network.SetConditions(NetworkConditions.Reliable);
            Task<object?> second = Call(network, 0, 1, "second", arrived, tag: 2);
            await Task.WhenAll(first, second);
            return arrived;
        });

        order.Should().Equal(2, 1);
    }

    /// <summary>With LongDelayOnReply, the call arrives on time and its reply comes back late: the receiver acts before the sender knows.</summary>
    [Fact]
    public async Task LongDelayOnReplyHoldsTheReplyAfterTheHandler()
    {
        var (events, arrivals) = await RunAsync(NetworkConditions.Reliable with
        {
            LongDelayChance = 1,
            LongDelayOnReply = true,
            LongDelayMin = TimeSpan.FromMilliseconds(300),
            LongDelayMax = TimeSpan.FromMilliseconds(300),
        }, calls: 5);

        arrivals.Should().OnlyContain(ms => ms <= 5, "the call itself is not held");
        events.Where(e => e.Kind == ReplyHeld).Should().HaveCount(5).And.OnlyContain(e => e.Delay == TimeSpan.FromMilliseconds(300));
    }

    /// <summary>A message dropped while it is held is lost at once, not at the end of its delay; one that has ended cannot be dropped.</summary>
    [Fact]
    public async Task ADroppedMessageIsLostAtOnce()
    {
        var (lostAt, reason, droppedAgain) = await Simulation.RunAsync(1, async sim =>
        {
            var network = Network.For(sim);
            network.SetConditions(NetworkConditions.Reliable with { LongDelayChance = 1, LongDelayMin = TimeSpan.FromSeconds(1), LongDelayMax = TimeSpan.FromSeconds(1) });
            MessageEvent? end = null;
            network.Observer = e => end = e.Kind is Lost or ReplyDelivered or ReplyLost ? e : end;
            Task<object?> call = Call(network, 0, 1, "held", []);
            await Task.Delay(TimeSpan.FromMilliseconds(10), sim.Clock);
            network.Drop(1).Should().BeTrue();
            (await call).Should().BeNull("the network lost it");
            return (sim.Clock.Now, end!.Reason, network.Drop(1));
        });

        lostAt.Should().Be(TimeSpan.FromMilliseconds(10));
        reason.Should().Be("dropped in flight");
        droppedAgain.Should().BeFalse("it has ended");
    }

    /// <summary>A call on a connection that closes on its way is lost, as a pending call of net/rpc fails when its client closes.</summary>
    [Fact]
    public async Task ACallIsLostWhenItsConnectionCloses()
    {
        string? reason = await Simulation.RunAsync(1, async sim =>
        {
            var network = Network.For(sim);
            string? why = null;
            network.Observer = e => why = e.Kind == Lost ? e.Reason : why;
            using var closed = new CancellationTokenSource();
            Task<object?> call = network.HookFor(0)(1, "X.Call", "args", a => Task.FromResult<object>("reply"), closed.Token);
            closed.Cancel();
            (await call).Should().BeNull();
            return why;
        });

        reason.Should().Be("its connection closed");
    }

    /// <summary>Partitions and one-way cuts: calls and replies cross only within a side and along uncut links; a healed network carries everything again.</summary>
    [Fact]
    public async Task PartitionsAndCutsStopCalls()
    {
        var results = await Simulation.RunAsync(1, async sim =>
        {
            var network = Network.For(sim);
            var got = new List<string>();
            async Task TryAsync(int from, int to) => got.Add($"{from}->{to}:{(await Call(network, from, to, "x", []) is null ? "lost" : "ok")}");
            network.Partition([0, 1], [2]);
            await TryAsync(0, 1);
            await TryAsync(0, 2);
            await TryAsync(2, 1);
            network.Heal();
            network.Cut(1, 0);
            await TryAsync(1, 0);
            await TryAsync(0, 1);
            network.Heal();
            await TryAsync(2, 0);
            return got;
        });

        // 0 -> 1 with 1 -> 0 cut: the call arrives, but its reply cannot come back.
        results.Should().Equal("0->1:ok", "0->2:lost", "2->1:lost", "1->0:lost", "0->1:lost", "2->0:ok");
    }

    /// <summary>On the harsh network, with drops, closed connections and receivers that fail, every message ends exactly once.</summary>
    [Fact]
    public async Task EveryMessageEndsExactlyOnce()
    {
        var ends = await Simulation.RunAsync(1, async sim =>
        {
            var network = Network.For(sim);
            network.SetConditions(NetworkConditions.Harsh with { LongDelayMax = TimeSpan.FromMilliseconds(400) });
            network.SetConditions(1, NetworkConditions.Harsh with { LongDelayOnReply = true });
            var kinds = new Dictionary<long, List<MessageEventKind>>();
            network.Observer = e => (kinds.TryGetValue(e.Id, out var k) ? k : kinds[e.Id] = []).Add(e.Kind);
            Random random = sim.NewRandom();
            var calls = new List<Task<object?>>();
            for (int i = 0; i < 300; i++)
            {
                using var closed = new CancellationTokenSource();
                bool fails = random.Next(10) == 0;
                calls.Add(network.HookFor(i % 3)((i + 1) % 3, "X.Call", i, a => fails ? throw new InvalidOperationException("receiver failed") : Task.FromResult<object>(a), closed.Token));
                if (random.Next(10) == 0)
                {
                    network.Drop(i + 1);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(3)), sim.Clock);
            }
            await Task.WhenAll(calls);
            network.InFlightCount.Should().Be(0);
            return kinds;
        });

        ends.Should().HaveCount(300);
        MessageEventKind[] endings = [Lost, ReplyDelivered, ReplyLost];
        foreach (List<MessageEventKind> journey in ends.Values)
        {
            journey[0].Should().Be(Sent);
            journey.Count(endings.Contains).Should().Be(1, $"one end for {string.Join(", ", journey)}");
            endings.Should().Contain(journey[^1], "nothing comes after the end");
        }
    }

    /// <summary>A gate holds the one message it matches until released, and lets every other pass.</summary>
    [Fact]
    public async Task AGateHoldsOneMessageUntilReleased()
    {
        var (heldAt, arrivals) = await Simulation.RunAsync(1, async sim =>
        {
            var network = Network.For(sim);
            MessageGate gate = network.Hold(e => e.Args is "hold me");
            var arrived = new List<int>();
            Task<object?> held = Call(network, 0, 1, "hold me", arrived, tag: 1);
            Task<object?> other = Call(network, 0, 1, "pass", arrived, tag: 2);
            await other;
            MessageEvent m = await gate.Held;
            await Task.Delay(TimeSpan.FromMilliseconds(50), sim.Clock);
            gate.Release();
            await held;
            return (m.Args, arrived);
        });

        heldAt.Should().Be("hold me");
        arrivals.Should().Equal(2, 1);
    }

    /// <summary>With debug logging on, both ends of a call write a line with its number, which TestLogViz pairs.</summary>
    [Fact]
    public async Task BothEndsOfACallLogItsNumber()
    {
        var lines = await Simulation.RunAsync(1, async sim =>
        {
            var written = new List<string>();
            var log = new ClusterLog(written.Add, sim.Clock);
            var network = new Network(sim.Clock, log, new Random(5));
            await Call(network, 0, 2, "args", []);
            network.SetConditions(NetworkConditions.Reliable with { ReplyLoss = 1 });
            await Call(network, 2, 1, "args", []);
            return written;
        });

        lines.Should().HaveCount(5);
        lines[0].Should().MatchRegex(@"^00:00:00\.00\d{4} \[2\] net: #1 RequestVote from 0 arrives after \d\.\d{3} ms$");
        lines[1].Should().MatchRegex(@"^00:00:00\.00\d{4} \[0\] net: #1 RequestVote reply from 2 after \d\.\d{3} ms$");
        lines[2].Should().MatchRegex(@"\[1\] net: #2 RequestVote from 2 arrives after");
        lines[3].Should().EndWith("[1] drop reply to RequestVote", "the receiver says so, as upstream's proxy does");
        lines[4].Should().MatchRegex(@"\[2\] net: #2 RequestVote to 1 failed after \d\.\d{3} ms: lost by the network$");
    }

    /// <summary>Makes <paramref name="calls"/> calls from 0 to 1 on a network like <paramref name="conditions"/>; returns every event, and each delivered call's travel time in ms.</summary>
    private static Task<(List<MessageEvent> Events, List<double> Arrivals)> RunAsync(NetworkConditions conditions, int calls) =>
        Simulation.RunAsync(1, async sim =>
        {
            var network = Network.For(sim);
            network.SetConditions(conditions);
            var events = new List<MessageEvent>();
            var arrivals = new List<double>();
            var sentAt = new Dictionary<long, TimeSpan>();
            network.Observer = e =>
            {
                events.Add(e);
                if (e.Kind == Sent)
                {
                    sentAt[e.Id] = sim.Clock.Now;
                }
                else if (e.Kind == Delivered)
                {
                    arrivals.Add((sim.Clock.Now - sentAt[e.Id]).TotalMilliseconds);
                }
            };
            await Task.WhenAll(Enumerable.Range(0, calls).Select(i => Call(network, 0, 1, i, [])));
            return (events, arrivals);
        });

    /// <summary>One RequestVote-like call through <paramref name="network"/>; the receiver adds <paramref name="tag"/> to <paramref name="arrived"/>.</summary>
    private static Task<object?> Call(Network network, int from, int to, object args, List<int> arrived, int tag = 0) =>
        network.HookFor(from)(to, "ConsensusModule.RequestVote", args, a =>
        {
            arrived.Add(tag);
            return Task.FromResult<object>(a);
        }, CancellationToken.None);
}
