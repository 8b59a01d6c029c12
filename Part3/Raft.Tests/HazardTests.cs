// Tests beyond upstream's: each provokes, on purpose and without luck, an interleaving in which
// upstream's code goes wrong, and checks that this port does not.
using System.Collections.Concurrent;
using System.Threading.Channels;
using FluentAssertions;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static Raft.Harness;

namespace Raft;

public sealed class HazardTests(ITestOutputHelper output)
{
    /// <summary>Upstream's leaktest.CheckTimeout(t, 100*time.Millisecond).</summary>
    private static readonly TimeSpan LeakCheck = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// A leader's per-peer send task is held before it reads any state; meanwhile a newer leader
    /// deposes it. Released, the task must see that it no longer leads and send nothing, rather
    /// than a heartbeat for a term it has lost.
    /// The new leader also cuts the log below the peer's nextIndex, which upstream's task reads past.
    /// </summary>
    [Fact]
    public async Task DeposedLeaderSendTaskChecksStateFirst()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        var (leaderId, term) = await h.CheckSingleLeaderAsync();
        int otherId = (leaderId + 1) % 3;
        h.SubmitToServer(leaderId, 5);
        h.SubmitToServer(leaderId, 6);
        await WaitUntilAsync(() => NextIndex(h, leaderId, otherId) == 2, "both entries to reach the peer");

        ConsensusModule cm = h.Cm(leaderId);
        MuteFollowers(h, leaderId);
        using var gate = new HookGate(cm);
        await gate.HoldSendsAsync();

        // By hand, what a new leader of a later term would send.
        cm.AppendEntries(new AppendEntriesArgs { Term = term + 1, LeaderId = otherId, PrevLogIndex = -1, PrevLogTerm = -1, Entries = [new LogEntry(100, term + 1)], LeaderCommit = -1 });
        lock (cm.Mu)
        {
            cm.State.Should().Be(CMState.Follower);
            cm.Log.Should().HaveCount(1, "the log is now shorter than nextIndex says");
        }

        await gate.ReleaseAsync(() => KeepFollowing(cm, otherId, term + 1));
        gate.RepliesAfterRelease.Should().Be(0, "a deposed leader's held task must send nothing");
        h.ServerOf(leaderId).Faults().Should().BeEmpty();
    }

    /// <summary>
    /// A late AppendEntries reply with a newer term reaches a leader that has been stopped
    /// meanwhile. It must stay Dead: upstream's handler makes it a follower again, with an
    /// election timer, and persists into storage that its successor now owns.
    /// </summary>
    [Fact]
    public async Task DeadCMIgnoresLateReplies()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        var (leaderId, term) = await h.CheckSingleLeaderAsync();
        int otherId = (leaderId + 1) % 3;
        ConsensusModule cm = h.Cm(leaderId);
        // Only the held replies may reach the leader: nobody else can depose it before it stops.
        h.DisconnectPeer((leaderId + 2) % 3);
        MuteFollowers(h, leaderId);
        using var gate = new HookGate(cm);
        await gate.HoldSendsAsync();

        // The peer moves to a later term, so its replies to the held messages carry that term.
        h.Cm(otherId).AppendEntries(new AppendEntriesArgs { Term = term + 5, LeaderId = (leaderId + 2) % 3, PrevLogIndex = -1, PrevLogTerm = -1 });
        await gate.HoldRepliesFromAsync(otherId, onlyFirst: false);

        await h.CrashPeerAsync(leaderId);
        PersistentState stored = new Persister(h.Storage(leaderId)).Load();

        await gate.ReleaseAsync(() => { });
        lock (cm.Mu)
        {
            cm.State.Should().Be(CMState.Dead, "a late reply must not bring a stopped CM back");
            cm.CurrentTerm.Should().Be(term);
        }
        PersistentState after = new Persister(h.Storage(leaderId)).Load();
        (after.CurrentTerm, after.VotedFor).Should().Be((stored.CurrentTerm, stored.VotedFor), "a Dead CM never writes storage");
        after.Log.Should().Equal(stored.Log, "a Dead CM never writes storage");
    }

    /// <summary>
    /// Replies can arrive out of order: a success for an older, shorter message comes after the
    /// success for a newer one. nextIndex must not move back (upstream's does, and resends).
    /// </summary>
    [Fact]
    public async Task NextIndexNeverMovesBackOnSuccess()
    {
        await using var h = new Harness(output, 3, LeakCheck);

        var (leaderId, term) = await h.CheckSingleLeaderAsync();
        int otherId = (leaderId + 1) % 3;
        ConsensusModule cm = h.Cm(leaderId);
        // One peer is enough to watch nextIndex; it hears heartbeats by hand while sends are held.
        h.DisconnectPeer((leaderId + 2) % 3);
        MuteFollowers(h, leaderId);
        using var gate = new HookGate(cm);
        await gate.HoldSendsAsync(() => KeepFollowing(h.Cm(otherId), leaderId, term));
        h.SubmitToServer(leaderId, 5);
        // The held tasks now send 5 alone; the first reply from the peer is held.
        await gate.HoldRepliesFromAsync(otherId, onlyFirst: true);

        h.SubmitToServer(leaderId, 6);
        h.SubmitToServer(leaderId, 7);
        await WaitUntilAsync(() => NextIndex(h, leaderId, otherId) == 3, "a newer message's reply to move nextIndex to 3");

        // Nothing else may move nextIndex while the old reply is handled.
        h.DisconnectPeer(leaderId);
        await gate.ReleaseAsync(() => { });
        NextIndex(h, leaderId, otherId).Should().Be(3, "a reordered reply must not move nextIndex back");
    }

    /// <summary>
    /// A command that cannot be stored is refused by Submit itself, and the leader goes on as if
    /// it had never been offered. Upstream finds out only inside a later write, with its state
    /// half changed.
    /// </summary>
    [Fact]
    public async Task SubmitRefusesWhatCannotBePersisted()
    {
        CommandTypes.Register<DelegateCommand>("test.delegate");
        await using var h = new Harness(output, 3, LeakCheck);

        object[] bad = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, new DelegateCommand(() => 1), new Unregistered(1)];
        int index;
        do
        {
            // Again if the leader lost its place before the good command (-1): a loaded machine
            // can hold its heartbeats back past a follower's timeout. No log holds anything yet.
            var (leaderId, _) = await h.CheckSingleLeaderAsync();
            foreach (object cmd in bad)
            {
                var submit = () => h.SubmitToServer(leaderId, cmd);
                submit.Should().Throw<ArgumentException>().WithMessage("*persist*", $"{cmd} cannot be stored");
            }
            index = h.SubmitToServer(leaderId, 42);
        }
        while (index == -1);

        index.Should().Be(0, "nothing refused took a place in the log");
        await h.WaitCommittedAsync(42, 3);
        h.CheckCommittedN(42, 3);
    }

    /// <summary>
    /// When storage refuses a write, the CM stops for good instead of acting on a state it could
    /// not save; the failure is reported, and shutdown is still clean.
    /// </summary>
    [Fact]
    public async Task FailedPersistStopsTheCM()
    {
        var storage = new FailingStorage();
        var commits = Channel.CreateUnbounded<CommitEntry>();
        var server = new Server(0, [1, 2], storage, Task.CompletedTask, commits.Writer, NullLogger.Instance);
        server.Serve();
        ConsensusModule cm = server.Cm;

        // With no peer connected, the election timer fires and StartElection tries to persist.
        await WaitUntilAsync(() => { lock (cm.Mu) { return cm.State == CMState.Dead; } }, "the CM to stop after the failed write");
        // The CM is Dead before the exception has left its task; the task records it just after.
        await WaitUntilAsync(() => server.Faults().Count > 0, "the failure to be recorded");
        storage.Writes.Should().Be(1, "one write was tried, and none after it");
        server.Faults().Should().ContainSingle().Which.Should().BeOfType<IOException>()
            .Which.Message.Should().Contain("could not persist");

        await server.ShutdownAsync();
        await WaitUntilAsync(() => server.RunningTasks().Count == 0, "every task to end");
    }

    /// <summary>
    /// Calls queued at a server, or arriving while it shuts down, all get an answer; none is
    /// left waiting. Calls whose callers gave up leave no unobserved exception behind.
    /// </summary>
    // Runs alone: it watches the process-wide UnobservedTaskException event, which would also
    // show it the exceptions of any cluster running beside it.
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

    /// <summary>Makes the leader's next send task fail with an exception that is not a network fault.</summary>
    private static async Task BreakABackgroundTaskAsync(Harness h)
    {
        var (leaderId, _) = await h.CheckSingleLeaderAsync();
        var broke = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Cm(leaderId).SetPeerTaskHook((_, _) =>
        {
            broke.TrySetResult();
            throw new InvalidOperationException("a bug in a background task");
        });
        await broke.Task.WaitAsync(TimeSpan.FromSeconds(5));
        h.Cm(leaderId).SetPeerTaskHook(null);
    }

    /// <summary>The leader's nextIndex for <paramref name="peerId"/>, read under its lock.</summary>
    private static int NextIndex(Harness h, int leaderId, int peerId)
    {
        lock (h.Cm(leaderId).Mu)
        {
            return h.Cm(leaderId).NextIndexOf(peerId);
        }
    }

    /// <summary>A heartbeat by hand from leader <paramref name="leaderId"/> of <paramref name="term"/>, so <paramref name="cm"/> stays a follower.</summary>
    private static void KeepFollowing(ConsensusModule cm, int leaderId, int term) =>
        cm.AppendEntries(new AppendEntriesArgs { Term = term, LeaderId = leaderId, PrevLogIndex = -1, PrevLogTerm = -1, LeaderCommit = -1 });

    /// <summary>A registered command type that JSON cannot hold.</summary>
    private sealed record DelegateCommand(Func<int> Make);

    /// <summary>A command type nobody registered.</summary>
    private sealed record Unregistered(int X);

    /// <summary>Storage whose every write fails, counting the tries.</summary>
    private sealed class FailingStorage : IStorage
    {
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);

        public bool HasData => false;

        public (byte[]? Value, bool Found) Get(string key) => (null, false);

        public void Set(string key, byte[] value)
        {
            Interlocked.Increment(ref _writes);
            throw new IOException("disk full");
        }
    }

    /// <summary>
    /// Cuts the link from each other server to <paramref name="leaderId"/>, in that direction only.
    /// While a test holds the leader's sends its heartbeats stop, and a follower whose timer runs
    /// out could depose it with a RequestVote; now no call reaches it, yet it still reaches them.
    /// </summary>
    private static void MuteFollowers(Harness h, int leaderId)
    {
        for (int j = 0; j < 3; j++)
        {
            if (j != leaderId)
            {
                h.ServerOf(j).DisconnectPeer(leaderId);
            }
        }
    }

    /// <summary>
    /// Holds a CM's per-peer AppendEntries tasks at its test seam, and lets them go. While a task
    /// is held, nothing it does after the seam has happened yet.
    /// </summary>
    private sealed class HookGate : IDisposable
    {
        private const int Open = 0;
        private const int HoldingSends = 1;
        private const int HoldingReplies = 2;

        private readonly ConsensusModule _cm;
        private readonly TaskCompletionSource _sendGate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _replyGate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _sendHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _replyHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile int _mode = Open;
        private volatile bool _released;
        private int _replyPeer = -1;
        private bool _onlyFirstReply;
        private int _repliesTaken;
        private int _heldCount;
        private int _repliesAfterRelease;
        private readonly CancellationTokenSource _stopMeanwhile = new();
        private Task _meanwhile = Task.CompletedTask;

        public HookGate(ConsensusModule cm)
        {
            _cm = cm;
            cm.SetPeerTaskHook(async (peer, point) =>
            {
                if (point == "send")
                {
                    if (_mode == HoldingSends)
                    {
                        await HoldAsync(_sendGate, _sendHeld);
                    }
                    return;
                }
                if (_released)
                {
                    Interlocked.Increment(ref _repliesAfterRelease);
                }
                if (_mode == HoldingReplies && peer == Volatile.Read(ref _replyPeer)
                    && (Interlocked.Increment(ref _repliesTaken) == 1 || !_onlyFirstReply))
                {
                    await HoldAsync(_replyGate, _replyHeld);
                }
            });
        }

        /// <summary>Replies that reached the seam after <see cref="ReleaseAsync"/>.</summary>
        public int RepliesAfterRelease => Volatile.Read(ref _repliesAfterRelease);

        /// <summary>
        /// Holds every send task before it reads the CM's state. Returns once one is held and no
        /// task that got past the seam earlier is still running, so every message in flight
        /// from now on comes from a held task. <paramref name="meanwhile"/>, if given, runs every
        /// few milliseconds from now until <see cref="ReleaseAsync"/> is done: for what the held
        /// leader would have done, such as heartbeats by hand.
        /// </summary>
        public async Task HoldSendsAsync(Action? meanwhile = null)
        {
            if (meanwhile is not null)
            {
                _meanwhile = RepeatAsync(meanwhile, _stopMeanwhile.Token);
            }
            _mode = HoldingSends;
            await _sendHeld.Task.WaitAsync(TimeSpan.FromSeconds(5));
            await WaitUntilAsync(
                () => _cm.RunningTasks().Count(n => n.StartsWith("AppendEntries to", StringComparison.Ordinal)) == Volatile.Read(ref _heldCount),
                "the send tasks that started before the hold to finish");
        }

        /// <summary>
        /// Lets held sends go, and holds the replies from <paramref name="peerId"/> (or only the
        /// first of them) that reach the seam from now on; returns once one is held.
        /// </summary>
        public async Task HoldRepliesFromAsync(int peerId, bool onlyFirst)
        {
            _onlyFirstReply = onlyFirst;
            Volatile.Write(ref _replyPeer, peerId);
            _mode = HoldingReplies;
            _sendGate.TrySetResult();
            await _replyHeld.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }

        /// <summary>
        /// Lets every held task go and waits until they have left the seam; <paramref name="meanwhile"/>
        /// runs every few milliseconds while it waits, and a little after, while they finish.
        /// </summary>
        public async Task ReleaseAsync(Action meanwhile)
        {
            _mode = Open;
            _released = true;
            _sendGate.TrySetResult();
            _replyGate.TrySetResult();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (Volatile.Read(ref _heldCount) > 0)
            {
                DateTime.UtcNow.Should().BeBefore(deadline, "the held tasks must finish");
                meanwhile();
                await SleepMs(2);
            }
            for (int i = 0; i < 10; i++)
            {
                meanwhile();
                await SleepMs(2);
            }
            await _stopMeanwhile.CancelAsync();
            await _meanwhile;
        }

        public void Dispose()
        {
            _cm.SetPeerTaskHook(null);
            _stopMeanwhile.Cancel();
            _stopMeanwhile.Dispose();
        }

        private static async Task RepeatAsync(Action action, CancellationToken ct)
        {
            await Task.Yield();
            while (!ct.IsCancellationRequested)
            {
                action();
                await SleepMs(2);
            }
        }

        private async Task HoldAsync(TaskCompletionSource gate, TaskCompletionSource held)
        {
            Interlocked.Increment(ref _heldCount);
            held.TrySetResult();
            try
            {
                await gate.Task;
            }
            finally
            {
                Interlocked.Decrement(ref _heldCount);
            }
        }
    }
}
