// A simulated cluster for the tests: servers wired together in one process, with faults on demand.
using System.Runtime.ExceptionServices;
using FluentAssertions;
using Xunit;
using Xunit.Sdk;

namespace Raft;

/// <summary>
/// A cluster of <c>n</c> servers, all connected, that a test can partition and heal. Use it as
/// <c>await using var h = new Harness(output, 3);</c>: disposal shuts the cluster down.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    /// <summary>
    /// How long <see cref="CheckSingleLeaderAsync"/> waits for an election. Upstream gives up after
    /// a handful of looks (under 1.2 s), but beside other tests' clusters an election can take
    /// longer: late timers split the vote again and again. A passing test never waits for it.
    /// </summary>
    private static readonly TimeSpan LeaderPatience = TimeSpan.FromSeconds(5);

    /// <summary>Every server of the cluster, by id.</summary>
    private readonly Server[] _cluster;

    /// <summary>
    /// Whether each server is connected to its peers; a disconnected server is partitioned:
    /// nothing passes to or from it.
    /// </summary>
    private readonly bool[] _connected;

    /// <summary>The number of servers.</summary>
    private readonly int _n;

    /// <summary>The test's log, shared by all servers and <see cref="Tlog"/>.</summary>
    private readonly TestLog _log;

    /// <summary>The servers' logger: it checks Raft's safety properties on the way to the log.</summary>
    private readonly SafetyMonitor _monitor;

    /// <summary>
    /// Upstream's leaktest.CheckTimeout: when set, every background task of the cluster must end
    /// within this time of shutdown, or the test fails naming the ones still running.
    /// </summary>
    private readonly TimeSpan? _leakCheck;

    /// <summary>Every server's clock: the system's, unless the test brings a clock of its own (ClockTests).</summary>
    private readonly TimeProvider _clock;

    /// <summary>Set by the first shutdown; a second is a no-op.</summary>
    private bool _shutdown;

    /// <summary>
    /// The harness of the test running on this async flow. Set by the constructor, which runs
    /// inside the test method, so it tells the test's own exceptions from any other test's.
    /// </summary>
    private static readonly AsyncLocal<Harness?> CurrentTest = new();

    /// <summary>The first assertion the test itself failed, if any (see <see cref="NoteTestFailure"/>).</summary>
    private volatile Exception? _testFailure;

    /// <summary>Creates a cluster of <paramref name="n"/> servers connected to each other, on <paramref name="clock"/> if given.</summary>
    public Harness(ITestOutputHelper output, int n, TimeSpan? leakCheck = null, TimeProvider? clock = null)
    {
        _log = new TestLog(output);
        _monitor = new SafetyMonitor(_log);
        _leakCheck = leakCheck;
        _clock = clock ?? TimeProvider.System;
        CurrentTest.Value = this;
        AppDomain.CurrentDomain.FirstChanceException += NoteTestFailure;
        var ns = new Server[n];
        var connected = new bool[n];
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Create all servers, each with the ids of the others as its peers.
        for (int i = 0; i < n; i++)
        {
            int[] peerIds = [.. Enumerable.Range(0, n).Where(p => p != i)];
            ns[i] = new Server(i, peerIds, ready.Task, _monitor, _clock);
            ns[i].Serve();
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
        _connected = connected;
        _n = n;
    }

    public async ValueTask DisposeAsync() => await ShutdownAsync();

    /// <summary>
    /// Shuts every server down, then waits for the cluster's background tasks to end: within the
    /// leak-check time if the test set one (failing the test otherwise), else within a second.
    /// </summary>
    public async Task ShutdownAsync()
    {
        if (_shutdown)
        {
            return;
        }
        _shutdown = true;
        AppDomain.CurrentDomain.FirstChanceException -= NoteTestFailure;

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
                await _cluster[i].ShutdownAsync();
            }
            IReadOnlyList<string> running = await WaitForTasksAsync(_leakCheck ?? TimeSpan.FromSeconds(1));
            CheckAfterShutdown(problems, [.. _cluster.SelectMany(s => s.Faults())], running);
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
            await _log.CloseAsync();
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
            if (j != id)
            {
                _cluster[id].ConnectToPeer(j, _cluster[j].GetListenAddr());
                _cluster[j].ConnectToPeer(id, _cluster[id].GetListenAddr());
            }
        }
        _connected[id] = true;
    }

    /// <summary>Server <paramref name="id"/>'s CM, for tests that look inside it as upstream's do.</summary>
    internal ConsensusModule Cm(int id) => _cluster[id].Cm;

    /// <summary>Server <paramref name="id"/> itself, for tests beyond upstream's that drive its proxy.</summary>
    internal Server ServerOf(int id) => _cluster[id];

    /// <summary>
    /// Checks that exactly one connected server thinks it is the leader, and returns its id and
    /// term. Looks every 150 ms while no leader has been elected yet, for up to <see cref="LeaderPatience"/>.
    /// </summary>
    public async Task<(int LeaderId, int LeaderTerm)> CheckSingleLeaderAsync()
    {
        var deadline = DateTime.UtcNow + LeaderPatience;
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
            if (DateTime.UtcNow >= deadline)
            {
                break;
            }
            await SleepMs(150);
        }

        // The pool's state tells a starved process (late timers, spurious elections) from a Raft bug.
        ThreadPool.GetAvailableThreads(out int available, out _);
        ThreadPool.GetMaxThreads(out int max, out _);
        Assert.Fail($"leader not found (thread pool: {ThreadPool.ThreadCount} threads, {max - available} busy, {ThreadPool.PendingWorkItemCount} work items queued)");
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

    /// <summary>Writes a test's own line to the log, marked [TEST].</summary>
    public void Tlog(string message) => _log.Write($"[TEST] {message}");

    /// <summary>Waits <paramref name="n"/> milliseconds, without blocking a thread.</summary>
    public static Task SleepMs(int n) => Task.Delay(n);

    /// <summary>
    /// Beyond upstream: waits until <paramref name="condition"/> holds, looking every millisecond;
    /// fails the test after <paramref name="limit"/> (5 s unless given), saying what did not happen.
    /// </summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? limit = null)
    {
        TimeSpan patience = limit ?? TimeSpan.FromSeconds(5);
        var deadline = DateTime.UtcNow + patience;
        while (!condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"waited {patience.TotalSeconds:0.#} s for {what}");
            }
            await SleepMs(1);
        }
    }

    /// <summary>Waits up to <paramref name="limit"/> for all tasks to end; returns those still running.</summary>
    private async Task<IReadOnlyList<string>> WaitForTasksAsync(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            string[] running = [.. _cluster.SelectMany((s, i) => s.RunningTasks().Select(name => $"server {i}: {name}"))];
            if (running.Length == 0 || DateTime.UtcNow >= deadline)
            {
                return running;
            }
            await Task.Delay(5);
        }
    }

    /// <summary>Adds what shutdown found wrong: broken safety, tasks that failed, and with a leak check, tasks still running.</summary>
    private void CheckAfterShutdown(List<string> problems, IReadOnlyList<Exception> faults, IReadOnlyList<string> running)
    {
        problems.AddRange(_monitor.Violations);
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
        }
    }
}
