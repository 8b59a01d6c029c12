// Tests beyond upstream's: each provokes, on purpose and without luck, an interleaving in which
// upstream's code goes wrong, and checks that this port does not. The network's gates hold a
// message or a reply for as long as a test needs; where a test needs an event at an exact moment,
// only the simulation can place it, and with RAFT_REAL_TIME that test is skipped.
using System.Collections.Concurrent;
using FluentAssertions;
using Lab;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static Raft.Harness;

namespace Raft;

public sealed class HazardTests(ITestOutputHelper output)
{
    /// <summary>
    /// A leader's heartbeat round has started its per-peer send tasks, and before they run, a
    /// newer leader deposes it. The tasks must see that it no longer leads and send nothing,
    /// rather than a heartbeat for a term it has lost (upstream's tasks do not look).
    /// The new leader also cuts the log below the peer's nextIndex, which upstream's task reads past.
    /// </summary>
    [Fact]
    public async Task DeposedLeaderSendTaskChecksStateFirst()
    {
        Assert.SkipWhen(RunMode.RealTime, "needs the simulation to depose the leader between its heartbeat and the sends");
        await using var h = NewReliableCluster();

        var (leaderId, term) = await h.CheckSingleLeaderAsync();
        int otherId = (leaderId + 1) % 3;
        h.SubmitToServer(leaderId, 5);
        h.SubmitToServer(leaderId, 6);
        await WaitUntilAsync(() => NextIndex(h, leaderId, otherId) == 2, "both entries to reach the peer");
        await SleepMs(20); // The commit's own round goes out; from here on the rounds are heartbeats.
        var sends = new List<TimeSpan>();
        h.Network.Observer = e =>
        {
            if (e.Kind == MessageEventKind.Sent && e.From == leaderId && e.Method == "AppendEntries")
            {
                sends.Add(h.Now);
            }
        };
        await WaitUntilAsync(() => sends.Count > 0, "a heartbeat from the leader");

        // The next round starts 50 ms after the last one. A wait set now for that instant ends just
        // after the heartbeat's timer, set earlier: the round has started its send tasks, none has run.
        await h.SleepUntilAsync(sends[^1] + TimeSpan.FromMilliseconds(50));
        h.Cm(leaderId).RunningTasks().Count(t => t.StartsWith("AppendEntries to", StringComparison.Ordinal)).Should().Be(2, "the round's send tasks have started and not run");
        int sent = sends.Count;
        h.Cm(leaderId).AppendEntries(new AppendEntriesArgs { Term = term + 1, LeaderId = otherId, PrevLogIndex = -1, PrevLogTerm = -1, Entries = [new LogEntry(100, term + 1)], LeaderCommit = -1 });
        CMStatus status = h.Cm(leaderId).Status();
        status.State.Should().Be(CMState.Follower);
        status.Log.Should().HaveCount(1, "the log is now shorter than nextIndex says");

        await SleepMs(20);
        sends.Count.Should().Be(sent, "a deposed leader's send tasks must send nothing");
        h.ServerOf(leaderId).Faults().Should().BeEmpty();
    }

    /// <summary>
    /// A candidate's vote, granted in one election, reaches it only after it has started the next.
    /// It must not count: upstream's part1 and part2 compare the reply with the election's own
    /// term, so a candidate cut off from everyone becomes leader on a vote from the past.
    /// </summary>
    [Fact]
    public async Task LateVoteFromAnEarlierElectionIsNotCounted()
    {
        await using var h = NewReliableCluster();

        var (leaderId, _) = await h.CheckSingleLeaderAsync();
        MessageGate gate = h.Network.Hold(e => e.Method == "RequestVote" && e.From != leaderId && e.Reply is RequestVoteReply { VoteGranted: true }, reply: true);
        h.DisconnectPeer(leaderId);
        MessageEvent held = await gate.Held;
        int candidateId = held.From, voterId = held.To, heldTerm = ((RequestVoteArgs)held.Args).Term;

        // Nobody can reach the candidate now, so no election of its own can succeed.
        h.Network.Cut(candidateId, voterId);
        h.Network.Cut(voterId, candidateId);
        await WaitUntilAsync(() => h.Cm(candidateId).Status().CurrentTerm > heldTerm, "the candidate to start a later election");
        bool delivered = false;
        h.Network.Observer = e => delivered |= e.Id == held.Id && e.Kind == MessageEventKind.ReplyDelivered;
        gate.Release();
        await WaitUntilAsync(() => delivered, "the late vote to reach the candidate");

        h.Cm(candidateId).Status().State.Should().Be(CMState.Candidate, $"a vote for term {heldTerm} must not make a leader of a later term");
    }

    /// <summary>
    /// A reply carries a term newer than its request's, but by the time it arrives the leader has
    /// moved to a newer one still. It must not take the term back (upstream issue #14: the reply
    /// was compared with the request's term, and becomeFollower set whatever term it was given).
    /// </summary>
    [Fact]
    public async Task LateReplyNeverLowersTheTerm()
    {
        await using var h = NewReliableCluster();

        var (leaderId, term) = await h.CheckSingleLeaderAsync();
        int followerId = (leaderId + 1) % 3, otherId = (leaderId + 2) % 3;
        MessageGate gate = h.Network.Hold(e => e.From == leaderId && e.Reply is AppendEntriesReply { Term: var t } && t > term, reply: true);
        h.Cm(followerId).RequestVote(new RequestVoteArgs { Term = term + 1, CandidateId = otherId });
        MessageEvent held = await gate.Held;

        h.Cm(leaderId).RequestVote(new RequestVoteArgs { Term = term + 2, CandidateId = otherId });
        bool delivered = false;
        h.Network.Observer = e => delivered |= e.Id == held.Id && e.Kind == MessageEventKind.ReplyDelivered;
        gate.Release();
        await WaitUntilAsync(() => delivered, "the late reply to reach the old leader");
        await SleepMs(1);

        h.Cm(leaderId).Status().CurrentTerm.Should().BeGreaterThanOrEqualTo(term + 2, $"a reply of term {term + 1} must not take the term back");
    }

    /// <summary>
    /// A reply with a newer term reaches a leader that has been stopped meanwhile. It must stay
    /// Dead: upstream's handler makes it a follower again, with an election timer.
    /// </summary>
    [Fact]
    public async Task DeadCMIgnoresLateReplies()
    {
        await using var h = NewReliableCluster();

        var (leaderId, term) = await h.CheckSingleLeaderAsync();
        int otherId = (leaderId + 1) % 3;
        MessageGate gate = h.Network.Hold(
            e => e.From == leaderId && e.To == otherId && e.Reply is AppendEntriesReply { Term: > 0 } r && r.Term > term, reply: true);
        // The peer moves to a later term, so its reply to the leader's next heartbeat carries it.
        h.Cm(otherId).AppendEntries(new AppendEntriesArgs { Term = term + 5, LeaderId = (leaderId + 2) % 3 });
        MessageEvent held = await gate.Held;

        await h.Cm(leaderId).StopAsync();
        bool replied = false;
        h.Network.Observer = e => replied |= e.Id == held.Id && e.Kind == MessageEventKind.ReplyDelivered;
        gate.Release();
        await WaitUntilAsync(() => replied, "the held reply to reach the stopped leader");
        await SleepMs(10);

        CMStatus status = h.Cm(leaderId).Status();
        status.State.Should().Be(CMState.Dead, "a late reply must not bring a stopped CM back");
        status.CurrentTerm.Should().Be(term);
    }

    /// <summary>
    /// Replies can arrive out of order: a success for an older, shorter message comes after the
    /// success for a newer one. nextIndex must not move back (upstream's does, and resends).
    /// </summary>
    [Fact]
    public async Task NextIndexNeverMovesBackOnSuccess()
    {
        await using var h = NewReliableCluster();

        var (leaderId, _) = await h.CheckSingleLeaderAsync();
        int otherId = (leaderId + 1) % 3;
        // The reply to the first message that carries 5 to the peer is held on its way back.
        MessageGate gate = h.Network.Hold(
            e => e.From == leaderId && e.To == otherId && e.Args is AppendEntriesArgs { Entries.Length: > 0 }, reply: true);
        h.SubmitToServer(leaderId, 5);
        MessageEvent held = await gate.Held;

        h.SubmitToServer(leaderId, 6);
        h.SubmitToServer(leaderId, 7);
        await WaitUntilAsync(() => NextIndex(h, leaderId, otherId) == 3, "a newer message's reply to move nextIndex to 3");

        bool replied = false;
        h.Network.Observer = e => replied |= e.Id == held.Id && e.Kind == MessageEventKind.ReplyDelivered;
        gate.Release();
        await WaitUntilAsync(() => replied, "the held reply to reach the leader");
        await SleepMs(1);
        NextIndex(h, leaderId, otherId).Should().Be(3, "a reordered reply must not move nextIndex back");
    }

    /// <summary>
    /// Calls queued at a server, or arriving while it shuts down, all get an answer; none is
    /// left waiting. Calls whose callers gave up leave no unobserved exception behind.
    /// </summary>
    // Runs alone: it watches the process-wide UnobservedTaskException event, which would also
    // show it the exceptions of any cluster running beside it. In real time, not on the simulation:
    // no cluster and no clock, only the endpoint's shutdown against calls from the thread pool.
    [Fact(DisableParallelization = true)]
    public async Task ShutdownAnswersEveryQueuedCall()
    {
        var unobserved = new ConcurrentQueue<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) =>
        {
            if (e.Exception.InnerExceptions.Any(x => x is RpcException))
            {
                unobserved.Enqueue(e.Exception);
            }
        };
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            var quit = new CancellationTokenSource();
            var tasks = new TaskTracker(0, NullLogger.Instance, quit.Token);
            var never = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
            var endpoint = new RpcEndpoint("inproc://test", async (_, _, ct) => await never.Task.WaitAsync(ct), tasks, quit.Token);
            RpcClient patient = endpoint.Dial();
            RpcClient impatient = endpoint.Dial();

            var calls = new List<Task<object>>();
            for (int i = 0; i < 500; i++)
            {
                calls.Add(patient.CallAsync("Test.Call", i));
                _ = impatient.CallAsync("Test.Call", i).ContinueWith(t => t.Exception, TaskScheduler.Default);
            }
            impatient.Close();

            // Server.ShutdownAsync's order: close, then cancel the serving tasks.
            endpoint.Close();
            quit.Cancel();
            Task all = Task.WhenAll(calls);
            await FluentActions.Awaiting(() => all.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken)).Should().ThrowAsync<RpcException>();
            calls.Should().OnlyContain(c => c.IsFaulted && c.Exception!.InnerException is RpcException);
            await tasks.WhenAllAsync().WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Task<object> late = endpoint.Dial().CallAsync("Test.Call", 0);
            late.IsFaulted.Should().BeTrue("a closed endpoint takes no new call");
            _ = late.Exception;

            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            unobserved.Should().BeEmpty();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }
    }

    /// <summary>
    /// A test that fails keeps its own failure, even when shutdown finds something wrong too;
    /// a test that passes is failed by what shutdown finds.
    /// </summary>
    [Fact]
    public async Task DisposalNeverHidesTheTestsOwnFailure()
    {
        Exception? own = await CaptureAsync(async h =>
        {
            await BreakABackgroundTaskAsync(h);
            Assert.Fail("the test's own failure");
        });
        own.Should().NotBeNull();
        own!.Message.Should().Contain("the test's own failure");

        Exception? fromShutdown = await CaptureAsync(BreakABackgroundTaskAsync);
        fromShutdown.Should().NotBeNull();
        fromShutdown!.Message.Should().Contain("no background task may fail");
    }

    /// <summary>
    /// Three servers on upstream's normal network (nothing lost, 1-5 ms), whatever RAFT_UNRELIABLE_RPC says:
    /// each test here builds its interleaving one message at a time, and a lost one would undo it.
    /// </summary>
    private Harness NewReliableCluster()
    {
        var h = new Harness(output, 3, LeakCheck);
        h.SetNetwork(NetworkConditions.Reliable);
        return h;
    }

    /// <summary>Runs <paramref name="body"/> on a cluster of its own, as a test would, and returns what escaped.</summary>
    private async Task<Exception?> CaptureAsync(Func<Harness, Task> body)
    {
        // A separate async method, so the harness's view of "the running test" is this one's.
        try
        {
            await using var h = new Harness(output, 3);
            await body(h);
        }
        catch (Exception e)
        {
            return e;
        }
        return null;
    }

    /// <summary>The leader's nextIndex for <paramref name="peerId"/>.</summary>
    private static int NextIndex(Harness h, int leaderId, int peerId) => h.Cm(leaderId).Status().NextIndex[peerId];

    /// <summary>Makes the leader's next send fail with an exception that is not a network fault: a bug in a background task.</summary>
    private static async Task BreakABackgroundTaskAsync(Harness h)
    {
        var (leaderId, _) = await h.CheckSingleLeaderAsync();
        var broke = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        RpcProxy proxy = h.ServerOf(leaderId).Proxy();
        var network = proxy.Hook;
        proxy.Hook = (_, _, _, _, _) =>
        {
            broke.TrySetResult();
            throw new InvalidOperationException("a bug in a background task");
        };
        await broke.Task;
        proxy.Hook = network;
    }
}
