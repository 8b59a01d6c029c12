// A cluster for the tests: servers wired together in one process, on the lab's simulation unless
// RAFT_REAL_TIME is set, with faults on demand.
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using FluentAssertions;
using Lab;
using Xunit;
using Xunit.Sdk;

namespace Raft;

/// <summary>
/// A cluster of <c>n</c> servers, all connected, that a test can partition and heal. Use it as
/// <c>await using var h = new Harness(output, 3);</c>: disposal shuts the cluster down. By default
/// the rest of the test runs on a simulation (see Lab/README.md): one thread, cluster time, every
/// random choice from a seed that the log's first line names, so RAFT_SEED replays the run exactly.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    /// <summary>Upstream's leaktest.CheckTimeout(t, 100*time.Millisecond).</summary>
    public static readonly TimeSpan LeakCheck = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long <see cref="CheckSingleLeaderAsync"/> waits for an election, in cluster time.
    /// Upstream gives up after a handful of looks (under 1.2 s); on the real clock beside other
    /// tests' clusters an election can take longer. A passing test never waits for it.
    /// </summary>
    private static readonly TimeSpan LeaderPatience = TimeSpan.FromSeconds(5);

    /// <summary>Guards <see cref="_commits"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>Every server of the cluster, by id.</summary>
    private readonly Server[] _cluster;

    /// <summary>Each server's stable storage; it survives the server's crash.</summary>
    private readonly MapStorage[] _storage;

    /// <summary>Each server's commit channel, unbounded (upstream's are unbuffered): a collector waiting for the harness lock never holds up a CM.</summary>
    private readonly Channel<CommitEntry>[] _commitChans;

    /// <summary>The commits each server has reported so far, in order, as its collector task read them.</summary>
    private readonly List<CommitEntry>[] _commits;

    /// <summary>The collector task of each server's commit channel; it ends when the channel is completed.</summary>
    private readonly Task[] _collectors;

    /// <summary>
    /// Whether each server is connected to its peers; a disconnected server is partitioned:
    /// nothing passes to or from it.
    /// </summary>
    private readonly bool[] _connected;

    /// <summary>Whether each server is alive: false from its crash until its restart. Connected implies alive.</summary>
    private readonly bool[] _alive;

    /// <summary>Every server ever created, for the leak check.</summary>
    private readonly List<(int Id, Server Server)> _everCreated = [];

    /// <summary>The number of servers.</summary>
    private readonly int _n;

    /// <summary>The test's log, shared by all servers and <see cref="Tlog"/>.</summary>
    private readonly ClusterLog _log;

    /// <summary>The servers' logger: it checks Raft's safety properties on the way to the log.</summary>
    private readonly SafetyMonitor _monitor;

    /// <summary>
    /// Upstream's leaktest.CheckTimeout: when set, every background task of the cluster must end
    /// within this time of shutdown, or the test fails naming the ones still running.
    /// </summary>
    private readonly TimeSpan? _leakCheck;

    /// <summary>The simulation the test runs on, or null with RAFT_REAL_TIME.</summary>
    private readonly Simulation? _sim;

    /// <summary>Whether this harness started <see cref="_sim"/>, and so ends it at shutdown.</summary>
    private readonly bool _ownsSimulation;

    /// <summary>When the cluster was created, a timestamp of <see cref="Clock"/>.</summary>
    private readonly long _startedAt;

    /// <summary>Set by the first shutdown; a second is a no-op.</summary>
    private bool _shutdown;

    /// <summary>
    /// The harness of the test running on this async flow. Set by the constructor, which runs
    /// inside the test method, so it tells the test's own exceptions from any other test's.
    /// </summary>
    private static readonly AsyncLocal<Harness?> CurrentTest = new();

    /// <summary>The first assertion the test itself failed, if any (see <see cref="NoteTestFailure"/>).</summary>
    private volatile Exception? _testFailure;

    /// <summary>Where the run's recording goes at shutdown: the test's output.</summary>
    private readonly ITestOutputHelper _output;

    /// <summary>Records the run for TestLogViz's player when RAFT_RECORD asks (see Lab/Recorder.cs); null otherwise.</summary>
    private readonly Recorder? _recorder;

    /// <summary>Creates a cluster of <paramref name="n"/> servers connected to each other.</summary>
    public Harness(ITestOutputHelper output, int n, TimeSpan? leakCheck = null)
    {
        if (!RunMode.RealTime)
        {
            _ownsSimulation = Simulation.Current is null;
            _sim = Simulation.Current ?? new Simulation(RunMode.NextSeed());
            _sim.Adopt();
            _sim.DescribeWaiting = () => string.Join(", ", RunningTasks());
        }
        Clock = (TimeProvider?)_sim?.Clock ?? TimeProvider.System;
        _startedAt = Clock.GetTimestamp();
        _log = new ClusterLog(output.WriteLine, Clock);
        Tlog(_sim is null ? "real time (RAFT_REAL_TIME is set)" : $"seed {_sim.Seed} (RAFT_SEED={_sim.Seed} replays this run)");
        _monitor = new SafetyMonitor(_log);
        Network = _sim is null ? new Network(Clock, _log) : Network.For(_sim, _log);
        _output = output;
        if (_sim is not null && RunMode.Recording)
        {
            _recorder = new Recorder(_sim, n, ViewOf, a => a is AppendEntriesArgs { Entries.Length: 0 },
                                     r => r switch { RequestVoteReply v => v.VoteGranted, AppendEntriesReply a => a.Success, _ => null });
            _log.Recorder = Network.Recorder = _monitor.Recorder = _recorder;
        }
        _leakCheck = leakCheck;
        CurrentTest.Value = this;
        AppDomain.CurrentDomain.FirstChanceException += NoteTestFailure;
        var ns = new Server[n];
        var connected = new bool[n];
        var commitChans = new Channel<CommitEntry>[n];
        var commits = new List<CommitEntry>[n];
        var alive = new bool[n];
        var storage = new MapStorage[n];
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Create all servers, each with the ids of the others as its peers.
        for (int i = 0; i < n; i++)
        {
            int[] peerIds = [.. Enumerable.Range(0, n).Where(p => p != i)];
            commitChans[i] = Channel.CreateUnbounded<CommitEntry>();
            commits[i] = [];
            storage[i] = new MapStorage();
            ns[i] = new Server(i, peerIds, storage[i], ready.Task, commitChans[i].Writer, _monitor, Clock, _sim?.NewRandom());
            ns[i].Serve();
            ns[i].Proxy().Hook = Network.HookFor(i);
            alive[i] = true;
            _everCreated.Add((i, ns[i]));
        }

        // Connect every server to every other.
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (i != j)
                {
                    ns[i].ConnectToPeer(j, ns[j].GetListenAddr());
                }
            }
            connected[i] = true;
        }
        ready.SetResult();

        _cluster = ns;
        _storage = storage;
        _commitChans = commitChans;
        _commits = commits;
        _connected = connected;
        _alive = alive;
        _n = n;
        _collectors = [.. Enumerable.Range(0, n).Select(i => CollectCommitsAsync(i, commitChans[i].Reader))];
    }

    /// <summary>The cluster's clock: the simulation's, or the system's with RAFT_REAL_TIME.</summary>
    public TimeProvider Clock { get; }

    /// <summary>The network between the servers, for tests beyond upstream's that fault or watch messages.</summary>
    public Network Network { get; }

    /// <summary>The cluster's time since it was created.</summary>
    public TimeSpan Now => Clock.GetElapsedTime(_startedAt);

    /// <summary>A random of the test's own: from the simulation's seed, so a replay draws the same numbers.</summary>
    public Random NewRandom() => _sim?.NewRandom() ?? new Random();

    public async ValueTask DisposeAsync() => await ShutdownAsync();

    /// <summary>
    /// Shuts every server down, then waits for the cluster's background tasks to end: within the
    /// leak-check time if the test set one (failing the test otherwise), else within a second.
    /// A simulated test goes on off the simulation from here.
    /// </summary>
    public async Task ShutdownAsync()
    {
        if (_shutdown)
        {
            return;
        }
        _shutdown = true;
        AppDomain.CurrentDomain.FirstChanceException -= NoteTestFailure;
        // The recording ends where the test's own steps end: shutdown is not part of the story.
        string? recording = _recorder?.ToLine(TestContext.Current.Test?.TestDisplayName ?? "");

        var problems = new List<string>();
        try
        {
            for (int i = 0; i < _n; i++)
            {
                _cluster[i].DisconnectAll();
                _connected[i] = false;
            }
            for (int i = 0; i < _n; i++)
            {
                if (_alive[i])
                {
                    _alive[i] = false;
                    await UntilAsync(_cluster[i].ShutdownAsync());
                }
            }
            // Safe now: a stopped server's commit sender has ended, so nothing writes to these any more.
            for (int i = 0; i < _n; i++)
            {
                _commitChans[i].Writer.TryComplete();
            }
            await UntilAsync(Task.WhenAll(_collectors));
            IReadOnlyList<string> running = await WaitForTasksAsync(_leakCheck ?? TimeSpan.FromSeconds(1));
            CheckAfterShutdown(problems, [.. _everCreated.SelectMany(s => s.Server.Faults())], running);
        }
        catch (Exception e)
        {
            problems.Add($"shutting the cluster down failed: {e}");
        }
        finally
        {
            // Whatever happened, the log is closed: xunit fails the test host if a line comes later.
            foreach (string problem in problems)
            {
                Tlog($"shutdown: {problem}");
            }
            if (recording is not null)
            {
                _output.WriteLine(recording);
            }
            _log.Close();
        }
        if (_ownsSimulation)
        {
            await _sim!.LeaveAsync();
        }
        FailOnProblems(problems);
    }

    /// <summary>Disconnects server <paramref name="id"/> from all the others.</summary>
    public void DisconnectPeer(int id)
    {
        Tlog($"Disconnect {id}");
        _cluster[id].DisconnectAll();
        for (int j = 0; j < _n; j++)
        {
            if (j != id)
            {
                _cluster[j].DisconnectPeer(id);
            }
        }
        _connected[id] = false;
    }

    /// <summary>Connects server <paramref name="id"/> to all the others.</summary>
    public void ReconnectPeer(int id)
    {
        Tlog($"Reconnect {id}");
        for (int j = 0; j < _n; j++)
        {
            if (j != id && _alive[j])
            {
                _cluster[id].ConnectToPeer(j, _cluster[j].GetListenAddr());
                _cluster[j].ConnectToPeer(id, _cluster[id].GetListenAddr());
            }
        }
        _connected[id] = true;
    }

    /// <summary>
    /// "Crashes" server <paramref name="id"/>: disconnects it and shuts it down. Its storage is kept;
    /// its commits are forgotten, as a client's state would be, and reported again after a restart.
    /// </summary>
    public async Task CrashPeerAsync(int id)
    {
        Tlog($"Crash {id}");
        DisconnectPeer(id);
        _alive[id] = false;
        await UntilAsync(_cluster[id].ShutdownAsync());

        // The stopped server writes no more commits; once its collector has taken the last of
        // them, nothing can land in the list after it is cleared.
        _commitChans[id].Writer.TryComplete();
        await UntilAsync(_collectors[id]);
        lock (_mu)
        {
            _commits[id].Clear();
        }
    }

    /// <summary>"Restarts" server <paramref name="id"/>: a new server, built from its storage alone, with a new commit channel (no late commit of its predecessor's mixes in).</summary>
    public async Task RestartPeerAsync(int id)
    {
        _alive[id].Should().BeFalse($"id={id} is alive in RestartPeer");
        Tlog($"Restart {id}");

        int[] peerIds = [.. Enumerable.Range(0, _n).Where(p => p != id)];
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _commitChans[id] = Channel.CreateUnbounded<CommitEntry>();
        _collectors[id] = CollectCommitsAsync(id, _commitChans[id].Reader);
        _cluster[id] = new Server(id, peerIds, _storage[id], ready.Task, _commitChans[id].Writer, _monitor, Clock, _sim?.NewRandom());
        _cluster[id].Serve();
        _cluster[id].Proxy().Hook = Network.HookFor(id);
        _everCreated.Add((id, _cluster[id]));
        ReconnectPeer(id);
        ready.SetResult();
        _alive[id] = true;
        await SleepMs(20);
    }

    /// <summary>Makes server <paramref name="id"/> drop its outgoing calls after the next <paramref name="n"/>.</summary>
    public void PeerDropCallsAfterN(int id, int n)
    {
        Tlog($"peer {id} drop calls after {n}");
        _cluster[id].Proxy().DropCallsAfterN(n);
    }

    /// <summary>Ends the faults injected into server <paramref name="id"/>'s outgoing calls.</summary>
    public void PeerDontDropCalls(int id)
    {
        Tlog($"peer {id} don't drop calls");
        _cluster[id].Proxy().DontDropCalls();
        Network.DropReplies(id, false);
    }

    /// <summary>Beyond upstream: waits until <paramref name="cmd"/> is in the given servers' logs, committed or not; fails after 5 s.</summary>
    public Task WaitUntilInLogsAsync(int cmd, params int[] ids) =>
        WaitUntilAsync(() => ids.All(id => InLog(id, cmd)), $"cmd={cmd} to reach the logs of servers [{string.Join(' ', ids)}]");

    /// <summary>
    /// Beyond upstream: waits until <paramref name="n"/> connected servers have committed
    /// <paramref name="cmd"/> and every connected server has reported as many commits as the others,
    /// which CheckCommitted asks too: commands submitted together reach each server's collector
    /// one by one, so one server may still be short of the later ones; fails after 5 s.
    /// </summary>
    public Task WaitCommittedAsync(int cmd, int n) =>
        WaitUntilAsync(() => CommittedBy(cmd) >= n && CommitsAgreeInLength(), $"cmd={cmd} to be committed by {n} servers");

    /// <summary>Beyond upstream: how many connected servers have committed <paramref name="cmd"/> so far.</summary>
    public int CommittedBy(int cmd)
    {
        lock (_mu)
        {
            return Enumerable.Range(0, _n).Count(i => _connected[i] && _commits[i].Exists(c => c.Command is int v && v == cmd));
        }
    }

    /// <summary>Whether every connected server has reported the same number of commits.</summary>
    private bool CommitsAgreeInLength()
    {
        lock (_mu)
        {
            return Enumerable.Range(0, _n).Where(i => _connected[i]).Select(i => _commits[i].Count).Distinct().Count() <= 1;
        }
    }

    /// <summary>Beyond upstream: server <paramref name="id"/>'s calls reach its peers, but it never gets their replies.</summary>
    public void PeerDropReplies(int id)
    {
        Tlog($"peer {id} drop replies");
        Network.DropReplies(id);
    }

    /// <summary>Beyond upstream: gives every server, now and after a restart, the network <paramref name="conditions"/>.</summary>
    public void SetNetwork(NetworkConditions conditions)
    {
        Tlog($"network: {conditions}");
        Network.SetConditions(conditions);
    }

    /// <summary>Beyond upstream: cuts the link one way only, so <paramref name="from"/> can no longer call <paramref name="to"/>.</summary>
    public void CutLink(int from, int to)
    {
        Tlog($"Cut link {from} -> {to}");
        _cluster[from].DisconnectPeer(to);
    }

    /// <summary>Server <paramref name="id"/>'s CM, for tests that look inside it as upstream's do.</summary>
    internal ConsensusModule Cm(int id) => _cluster[id].Cm;

    /// <summary>Server <paramref name="id"/> itself, for tests beyond upstream's that drive its proxy.</summary>
    internal Server ServerOf(int id) => _cluster[id];

    /// <summary>Server <paramref name="id"/>'s stable storage.</summary>
    internal MapStorage Storage(int id) => _storage[id];

    /// <summary>
    /// Checks that exactly one connected server thinks it is the leader, and returns its id and
    /// term. Looks every 150 ms while no leader has been elected yet, for up to <see cref="LeaderPatience"/>.
    /// </summary>
    public async Task<(int LeaderId, int LeaderTerm)> CheckSingleLeaderAsync()
    {
        long start = Clock.GetTimestamp();
        while (true)
        {
            int leaderId = -1;
            int leaderTerm = -1;
            for (int i = 0; i < _n; i++)
            {
                if (_connected[i])
                {
                    var (_, term, isLeader) = _cluster[i].Cm.Report();
                    if (isLeader)
                    {
                        if (leaderId < 0)
                        {
                            leaderId = i;
                            leaderTerm = term;
                        }
                        else
                        {
                            Assert.Fail($"both {leaderId} and {i} think they're leaders");
                        }
                    }
                }
            }
            if (leaderId >= 0)
            {
                return (leaderId, leaderTerm);
            }
            if (Clock.GetElapsedTime(start) >= LeaderPatience)
            {
                break;
            }
            await SleepMs(150);
        }

        Assert.Fail("leader not found");
        return (-1, -1);
    }

    /// <summary>Checks that no connected server thinks it is the leader.</summary>
    public void CheckNoLeader()
    {
        for (int i = 0; i < _n; i++)
        {
            if (_connected[i])
            {
                var (_, _, isLeader) = _cluster[i].Cm.Report();
                isLeader.Should().BeFalse($"server {i} leader; want none");
            }
        }
    }

    /// <summary>
    /// Checks that every connected server committed <paramref name="cmd"/> (a unique int) at the same
    /// index, agreeing on every command before it. Returns how many servers did, and the index.
    /// </summary>
    public (int Count, int Index) CheckCommitted(int cmd)
    {
        lock (_mu)
        {
            // Every connected server must have reported the same number of commits.
            int commitsLen = -1;
            for (int i = 0; i < _n; i++)
            {
                if (_connected[i])
                {
                    if (commitsLen >= 0 && _commits[i].Count != commitsLen)
                    {
                        Assert.Fail($"commits[{i}] = {Format(_commits[i])}, commitsLen = {commitsLen}");
                    }
                    commitsLen = _commits[i].Count;
                }
            }

            // Walk the commits in order, checking agreement, until cmd turns up.
            for (int c = 0; c < commitsLen; c++)
            {
                int cmdAtC = -1;
                for (int i = 0; i < _n; i++)
                {
                    if (_connected[i])
                    {
                        int cmdOfN = (int)_commits[i][c].Command;
                        if (cmdAtC >= 0)
                        {
                            cmdOfN.Should().Be(cmdAtC, $"servers must agree at commits[{i}][{c}]");
                        }
                        cmdAtC = cmdOfN;
                    }
                }
                if (cmdAtC == cmd)
                {
                    // Every server must have committed it at the same log index.
                    int index = -1;
                    int nc = 0;
                    for (int i = 0; i < _n; i++)
                    {
                        if (_connected[i])
                        {
                            if (index >= 0 && _commits[i][c].Index != index)
                            {
                                Assert.Fail($"got Index={_commits[i][c].Index}, want {index} at commits[{i}][{c}]");
                            }
                            index = _commits[i][c].Index;
                            nc++;
                        }
                    }
                    return (nc, index);
                }
            }

            Assert.Fail($"cmd={cmd} not found in commits");
            return (-1, -1);
        }
    }

    /// <summary>Checks that exactly <paramref name="n"/> connected servers committed <paramref name="cmd"/>.</summary>
    public void CheckCommittedN(int cmd, int n)
    {
        var (nc, _) = CheckCommitted(cmd);
        nc.Should().Be(n, $"cmd={cmd} should be committed by {n} servers");
    }

    /// <summary>Checks that no connected server has committed <paramref name="cmd"/>.</summary>
    public void CheckNotCommitted(int cmd)
    {
        lock (_mu)
        {
            for (int i = 0; i < _n; i++)
            {
                if (_connected[i])
                {
                    for (int c = 0; c < _commits[i].Count; c++)
                    {
                        int gotCmd = (int)_commits[i][c].Command;
                        gotCmd.Should().NotBe(cmd, $"found {cmd} at commits[{i}][{c}], expected none");
                    }
                }
            }
        }
    }

    /// <summary>Submits <paramref name="cmd"/> to server <paramref name="serverId"/>; its log index, or -1 if not the leader.</summary>
    public int SubmitToServer(int serverId, object cmd) => _cluster[serverId].Submit(cmd);

    /// <summary>Writes a test's own line to the log, marked [TEST].</summary>
    public void Tlog(string message) => _log.Write($"[TEST] {message}");

    /// <summary>Waits <paramref name="n"/> milliseconds of the cluster's time.</summary>
    public static async Task SleepMs(int n)
    {
        Simulation? sim = Simulation.Current;
        sim?.ThrowIfFailed();
        await Task.Delay(TimeSpan.FromMilliseconds(n), (TimeProvider?)sim?.Clock ?? TimeProvider.System);
        sim?.ThrowIfFailed();
    }

    /// <summary>Beyond upstream: waits until the cluster's time is <paramref name="at"/> (see <see cref="Now"/>), to the tick.</summary>
    public Task SleepUntilAsync(TimeSpan at) => ExactDelay.DelayAsync(Clock, at - Now);

    /// <summary>
    /// Beyond upstream: waits until <paramref name="condition"/> holds, looking every millisecond;
    /// fails the test after <paramref name="limit"/> (5 s of cluster time unless given), saying what did not happen.
    /// </summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? limit = null)
    {
        TimeSpan patience = limit ?? TimeSpan.FromSeconds(5);
        TimeProvider clock = (TimeProvider?)Simulation.Current?.Clock ?? TimeProvider.System;
        long start = clock.GetTimestamp();
        while (!condition())
        {
            if (clock.GetElapsedTime(start) >= patience)
            {
                Assert.Fail($"waited {patience.TotalSeconds:0.#} s for {what}");
            }
            await SleepMs(1);
        }
    }

    /// <summary>Reads one of server <paramref name="i"/>'s commit channels into its list, until the channel is completed.</summary>
    private async Task CollectCommitsAsync(int i, ChannelReader<CommitEntry> commits)
    {
        await Task.Yield(); // Runs apart from here, never inside the caller.
        // Not ReadAllAsync, whose awaits leave for the thread pool, and so leave a simulation.
        while (await commits.WaitToReadAsync())
        {
            while (commits.TryRead(out CommitEntry? c))
            {
                lock (_mu)
                {
                    Tlog($"collectCommits({i}) got {c}");
                    _monitor.Committed(i, c.Index, c.Command);
                    _commits[i].Add(c);
                }
            }
        }
    }

    /// <summary>A list of commits as one line.</summary>
    private static string Format(List<CommitEntry> commits) => $"[{string.Join(' ', commits)}]";

    /// <summary>Whether <paramref name="cmd"/> is in server <paramref name="id"/>'s log.</summary>
    private bool InLog(int id, int cmd) => _cluster[id].Status().Log.Any(e => e.Command is int c && c == cmd);

    /// <summary>Awaits <paramref name="task"/>, or the simulation's failure if it comes first (a stuck run), so a test never hangs.</summary>
    private async Task UntilAsync(Task task)
    {
        if (_sim is not null)
        {
            await Task.WhenAny(task, _sim.Failed);
            _sim.ThrowIfFailed();
        }
        await task;
    }

    /// <summary>The tasks of the cluster still running, by server.</summary>
    private IEnumerable<string> RunningTasks() =>
        _everCreated.SelectMany(s => s.Server.RunningTasks().Select(name => $"server {s.Id}: {name}"));

    /// <summary>Waits up to <paramref name="limit"/> for all tasks to end; returns those still running.</summary>
    private async Task<IReadOnlyList<string>> WaitForTasksAsync(TimeSpan limit)
    {
        long start = Clock.GetTimestamp();
        while (true)
        {
            string[] running = [.. RunningTasks()];
            if (running.Length == 0 || Clock.GetElapsedTime(start) >= limit)
            {
                return running;
            }
            await SleepMs(5);
        }
    }

    /// <summary>Adds what shutdown found wrong: broken safety, work that left the simulation, tasks that failed, and with a leak check, tasks still running.</summary>
    private void CheckAfterShutdown(List<string> problems, IReadOnlyList<Exception> faults, IReadOnlyList<string> running)
    {
        problems.AddRange(_monitor.Violations);
        problems.AddRange((_sim?.Escapes ?? []).Select(e => $"the simulation was left: {e}"));
        if (faults.Count > 0)
        {
            problems.Add($"no background task may fail, but {faults.Count} did:{Environment.NewLine}{string.Join(Environment.NewLine, faults)}");
        }
        if (_leakCheck is { } limit && running.Count > 0)
        {
            problems.Add($"every background task must end within {limit.TotalMilliseconds} ms of shutdown; still running: {string.Join(", ", running)}");
        }
    }

    /// <summary>
    /// Fails the test with what shutdown found, unless the test has failed already: then the
    /// test's own failure is the one reported, and shutdown's findings are at the end of its log.
    /// </summary>
    private void FailOnProblems(List<string> problems)
    {
        if (problems.Count > 0 && _testFailure is null)
        {
            Assert.Fail(string.Join(Environment.NewLine, problems));
        }
    }

    /// <summary>
    /// Notes the first assertion the test fails. Disposal runs after the test's exception was
    /// thrown but cannot see it; this handler sees every exception as it is thrown.
    /// </summary>
    private void NoteTestFailure(object? sender, FirstChanceExceptionEventArgs e)
    {
        if (e.Exception is IAssertionException && CurrentTest.Value == this)
        {
            _testFailure ??= e.Exception;
            _recorder?.Failure(e.Exception.Message);
        }
    }

    /// <summary>What the recording keeps of server <paramref name="id"/> now; null while the cluster is being built.</summary>
    private ServerView? ViewOf(int id)
    {
        if (_cluster is null)
        {
            return null;
        }
        CMStatus st = _cluster[id].Cm.Status();
        bool leads = st.State == CMState.Leader;
        return new ServerView(st.State.ToString(), st.CurrentTerm, st.VotedFor, !_alive[id] ? "crashed" : _connected[id] ? "connected" : "disconnected",
                              [.. st.Log.Select(e => (e.Term, e.Command))],
                              st.CommitIndex, st.LastApplied, leads ? st.NextIndex : null, leads ? st.MatchIndex : null,
                              st.State is CMState.Follower or CMState.Candidate ? st.ElectionResetEvent : null, st.ElectionTimeout);
    }
}
