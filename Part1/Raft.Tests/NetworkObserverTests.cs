// Tests beyond upstream's: the simulated network reports each message's journey to an observer,
// and a tool can drop a chosen message on its way.
using System.Collections.Concurrent;
using System.Diagnostics;
using FluentAssertions;
using Xunit;
using static Raft.Harness;
using static Raft.MessageEventKind;

namespace Raft;

public sealed class NetworkObserverTests(ITestOutputHelper output)
{
    /// <summary>
    /// The first candidate's RequestVote round, seen step by step on a clock that moves only when
    /// the test moves it: each request is sent, delayed, delivered, answered and its reply
    /// delivered, no sooner than its delay allows.
    /// </summary>
    [Fact]
    public async Task ObserverSeesEachStepOfARequestVoteRound()
    {
        var clock = new ManualClock();
        await using var h = new Harness(output, 3, clock: clock);
        for (int i = 0; i < 3; i++)
        {
            h.ServerOf(i).Proxy().Conditions = NetworkConditions.Reliable;
        }
        var log = new MessageRecorder(() => clock.Now);
        log.Watch(h, 3);

        MessageEvent? first = null;
        List<long> Round() => [.. log.Events.Select(e => e.Event)
            .Where(e => e.Kind == Sent && first is not null && e.From == first.From && e.Args is RequestVoteArgs a && a.Term == ((RequestVoteArgs)first.Args).Term)
            .Select(e => e.Id)];
        bool complete = await clock.StepUntilAsync(() =>
        {
            first ??= log.Events.Select(e => e.Event).FirstOrDefault(e => e.Kind == Sent && e.Method == "RequestVote");
            return first is not null && Round() is { Count: 2 } round && round.All(log.HasEnded);
        }, TimeSpan.FromSeconds(10));
        complete.Should().BeTrue("the first candidate's two requests must come back");

        var args = (RequestVoteArgs)first!.Args;
        int candidate = first.From;
        args.CandidateId.Should().Be(candidate);
        List<long> ids = Round();
        ids.Select(id => log.Of(id)[0].Event.To).Should().BeEquivalentTo(Enumerable.Range(0, 3).Where(i => i != candidate));
        foreach (long id in ids)
        {
            var steps = log.Of(id);
            steps.Select(s => s.Event.Kind).Should().Equal(Sent, Delayed, Delivered, Replied, ReplyDelivered);
            var (sentAt, _) = steps[0];
            var (_, delayed) = steps[1];
            var (deliveredAt, _) = steps[2];
            delayed.Delay.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(1)).And.BeLessThanOrEqualTo(TimeSpan.FromMilliseconds(5));
            (deliveredAt - sentAt).Should().BeGreaterThanOrEqualTo(delayed.Delay, "a message arrives no sooner than its delay");

            var reply = (RequestVoteReply)steps[3].Event.Reply!;
            steps[4].Event.Reply.Should().BeSameAs(reply);
            reply.Term.Should().Be(args.Term);
            // With no other candidate in this term, the receiver grants the vote. Two servers
            // can time out in the same tick, and then a receiver may have voted for the other.
            int receiver = steps[0].Event.To;
            bool contested = log.Events.Any(e => e.Event.Kind == Sent && e.Event.From != candidate && e.Event.Args is RequestVoteArgs a && a.Term == args.Term);
            if (!contested)
            {
                reply.VoteGranted.Should().BeTrue($"server {receiver} had no other candidate to vote for in term {args.Term}");
            }
        }
    }

    /// <summary>
    /// A message held for a long delay is dropped by its id: it is lost at once, with the clock
    /// standing still, and never reaches its receiver's handler.
    /// </summary>
    [Fact]
    public async Task DroppedMessageIsLostAtOnce()
    {
        var clock = new ManualClock();
        await using var h = new Harness(output, 3, clock: clock);
        var holdAll = NetworkConditions.Reliable with { LongDelayChance = 1, LongDelayMin = TimeSpan.FromSeconds(1), LongDelayMax = TimeSpan.FromSeconds(1) };
        for (int i = 0; i < 3; i++)
        {
            h.ServerOf(i).Proxy().Conditions = holdAll;
        }
        var log = new MessageRecorder(() => clock.Now);
        log.Watch(h, 3);

        MessageEvent? held = null;
        (await clock.StepUntilAsync(() => (held = log.Events.Select(e => e.Event).FirstOrDefault(e => e.Kind == Held)) is not null, TimeSpan.FromSeconds(10)))
            .Should().BeTrue("a candidate's request must be held");
        held!.Delay.Should().Be(TimeSpan.FromSeconds(1));

        log.Observer.Drop(held.Id).Should().BeTrue();
        await WaitUntilAsync(() => log.HasEnded(held.Id), "the dropped message to end without the clock moving");

        log.Of(held.Id).Select(s => s.Event.Kind).Should().Equal(Sent, Held, Lost);
        log.Of(held.Id)[^1].Event.Reason.Should().Be("dropped in flight");
        log.Observer.Drop(held.Id).Should().BeFalse("it has ended");
    }

    /// <summary>
    /// With <see cref="NetworkConditions.LongDelayOnReply"/>, a long delay holds the reply: the
    /// receiver acts on the call at once (its term moves), and its sender hears back only later.
    /// </summary>
    [Fact]
    public async Task LongDelayOnReplyHoldsTheReplyAfterTheHandler()
    {
        var clock = new ManualClock();
        await using var h = new Harness(output, 3, clock: clock);
        var hold = TimeSpan.FromMilliseconds(300);
        var holdReplies = NetworkConditions.Reliable with { LongDelayChance = 1, LongDelayMin = hold, LongDelayMax = hold, LongDelayOnReply = true };
        for (int i = 0; i < 3; i++)
        {
            h.ServerOf(i).Proxy().Conditions = holdReplies;
        }
        var log = new MessageRecorder(() => clock.Now);
        log.Watch(h, 3);

        MessageEvent? replyHeld = null;
        (await clock.StepUntilAsync(() => (replyHeld = log.Events.Select(e => e.Event).FirstOrDefault(e => e.Kind == ReplyHeld)) is not null, TimeSpan.FromSeconds(10)))
            .Should().BeTrue("a reply must be held");
        replyHeld!.Delay.Should().Be(hold);
        var args = (RequestVoteArgs)replyHeld.Args;
        h.Cm(replyHeld.To).Report().Term.Should().BeGreaterThanOrEqualTo(args.Term, "the receiver handled the call before its reply was held");
        log.HasEnded(replyHeld.Id).Should().BeFalse();

        (await clock.StepUntilAsync(() => log.HasEnded(replyHeld.Id), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5))).Should().BeTrue();
        var steps = log.Of(replyHeld.Id);
        steps.Select(s => s.Event.Kind).Should().Equal(Sent, Delayed, Delivered, Replied, ReplyHeld, ReplyDelivered);
        (steps[5].At - steps[4].At).Should().BeGreaterThanOrEqualTo(hold);
    }

    /// <summary>
    /// On a harsh network, with servers cut off and back, calls and replies dropped by the
    /// servers' own faults and messages dropped by id as they travel: every message observed
    /// starts with Sent, takes only steps that can follow each other, and ends exactly once, by
    /// the time the cluster has shut down.
    /// </summary>
    [Fact]
    public async Task EveryMessageEndsExactlyOnce()
    {
        await using var h = new Harness(output, 5);
        var clock = Stopwatch.StartNew();
        var log = new MessageRecorder(() => clock.Elapsed);
        log.Watch(h, 5);
        for (int i = 0; i < 5; i++)
        {
            // Harsh's long delays, held before the handler on some servers and after it on others.
            h.ServerOf(i).Proxy().Conditions = NetworkConditions.Harsh with { LongDelayOnReply = i % 2 == 1, LongDelayMax = TimeSpan.FromMilliseconds(400) };
        }

        var random = new Random(1);
        for (int round = 0; round < 60; round++)
        {
            await Harness.SleepMs(20);
            if (log.Events.LastOrDefault(e => e.Event.Kind == Sent) is { Event: { } sent })
            {
                log.Observer.Drop(sent.Id);
            }
            int id = random.Next(5);
            switch (round % 15)
            {
                case 3:
                    h.DisconnectPeer(id);
                    break;
                case 6:
                    h.ReconnectPeer(id);
                    break;
                case 9:
                    h.ServerOf(id).Proxy().DropReplies();
                    break;
                case 11:
                    h.ServerOf(id).Proxy().DropCallsAfterN(2);
                    break;
                case 14:
                    for (int i = 0; i < 5; i++)
                    {
                        h.ReconnectPeer(i);
                        h.ServerOf(i).Proxy().DontDropCalls();
                    }
                    break;
            }
        }
        await h.ShutdownAsync();

        // A sender hears of a reply handed back just before shutdown on a task of its own.
        await WaitUntilAsync(() => log.Observer.InFlightCount == 0, "every message to end once its servers stop");
        var next = new Dictionary<MessageEventKind, MessageEventKind[]>
        {
            [Sent] = [Delayed, Held, Lost],
            [Delayed] = [Delivered, Lost],
            [Held] = [Delivered, Lost],
            [Delivered] = [Replied, ReplyLost],
            [Replied] = [ReplyHeld, ReplyDelivered, ReplyLost],
            [ReplyHeld] = [ReplyDelivered, ReplyLost],
        };
        var journeys = log.Events.GroupBy(e => e.Event.Id).ToList();
        journeys.Should().NotBeEmpty();
        foreach (var journey in journeys)
        {
            MessageEventKind[] kinds = [.. journey.Select(e => e.Event.Kind)];
            string path = string.Join(" ", kinds);
            kinds[0].Should().Be(Sent, path);
            for (int k = 1; k < kinds.Length; k++)
            {
                next.GetValueOrDefault(kinds[k - 1], []).Should().Contain(kinds[k], $"message {journey.Key}: {path}");
            }
            next.Should().NotContainKey(kinds[^1], $"message {journey.Key} must end: {path}");
        }
        output.WriteLine($"{journeys.Count} messages; journeys: {string.Join("; ", journeys.GroupBy(j => string.Join(" ", j.Select(e => e.Event.Kind)) + " (" + j.Last().Event.Reason + ")").OrderByDescending(g => g.Count()).Select(g => $"{g.Count()}x {g.Key}"))}");
    }

    /// <summary>
    /// An observer taken off the servers while messages are held still hears how each of them
    /// ends: no message it saw is left on its way.
    /// </summary>
    [Fact]
    public async Task RemovedObserverHearsItsMessagesEnd()
    {
        var clock = new ManualClock();
        await using var h = new Harness(output, 3, clock: clock);
        var holdAll = NetworkConditions.Reliable with { LongDelayChance = 1, LongDelayMin = TimeSpan.FromMilliseconds(200), LongDelayMax = TimeSpan.FromMilliseconds(200) };
        for (int i = 0; i < 3; i++)
        {
            h.ServerOf(i).Proxy().Conditions = holdAll;
        }
        var log = new MessageRecorder(() => clock.Now);
        log.Watch(h, 3);
        (await clock.StepUntilAsync(() => log.Events.Any(e => e.Event.Kind == Held), TimeSpan.FromSeconds(10))).Should().BeTrue();

        for (int i = 0; i < 3; i++)
        {
            h.ServerOf(i).Proxy().Observer = null;
        }
        (await clock.StepUntilAsync(() => log.Observer.InFlightCount == 0, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5))).Should().BeTrue();
        log.Events.GroupBy(e => e.Event.Id).Should().OnlyContain(j => log.HasEnded(j.Key));
    }
}

/// <summary>An observer for the tests: keeps every step it is told of, with the time on the test's clock.</summary>
internal sealed class MessageRecorder
{
    private readonly ConcurrentQueue<(TimeSpan At, MessageEvent Event)> _events = new();

    public MessageRecorder(Func<TimeSpan> now)
    {
        Observer = new MessageObserver(e => _events.Enqueue((now(), e)));
    }

    public MessageObserver Observer { get; }

    /// <summary>Every step so far, in the order told.</summary>
    public IReadOnlyList<(TimeSpan At, MessageEvent Event)> Events => [.. _events];

    /// <summary>Sets this observer on each of the harness's <paramref name="n"/> servers.</summary>
    public void Watch(Harness h, int n)
    {
        for (int i = 0; i < n; i++)
        {
            h.ServerOf(i).Proxy().Observer = Observer;
        }
    }

    /// <summary>The steps of message <paramref name="id"/> so far.</summary>
    public IReadOnlyList<(TimeSpan At, MessageEvent Event)> Of(long id) => [.. _events.Where(e => e.Event.Id == id)];

    /// <summary>Whether message <paramref name="id"/> has ended: lost, or its reply delivered or lost.</summary>
    public bool HasEnded(long id) => _events.Any(e => e.Event.Id == id && e.Event.Kind is Lost or ReplyDelivered or ReplyLost);
}
