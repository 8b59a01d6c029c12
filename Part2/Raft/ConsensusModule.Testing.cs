// What the tests and tools see of a CM beyond upstream's raft.go, kept apart so that
// ConsensusModule.cs holds Raft only: a seam that can hold the per-peer tasks, read-only views of
// the state, and the health of the CM's tasks. Nothing here changes what the CM does.
namespace Raft;

public sealed partial class ConsensusModule
{
    /// <summary>
    /// A test seam, null in normal runs: when set, each per-peer AppendEntries task awaits it with
    /// the peer's id and "send" (before it reads the leader's state) or "reply" (once a reply is
    /// in), so a test can hold the task at that point and change the world meanwhile.
    /// </summary>
    private volatile Func<int, string, Task>? _peerTaskHook;

    /// <summary>Sets the test seam <see cref="_peerTaskHook"/>; null removes it.</summary>
    internal void SetPeerTaskHook(Func<int, string, Task>? hook) => _peerTaskHook = hook;

    /// <summary>Waits for the test seam, if a test set one; see <see cref="_peerTaskHook"/>.</summary>
    private Task PeerTaskHookAsync(int peerId, string point) =>
        _peerTaskHook is { } hook ? hook(peerId, point) : Task.CompletedTask;

    // The state, for the tests, which look inside a CM as upstream's do (cm.mu, cm.state,
    // cm.votedFor); the tools, built on Part3, read it too. Read it only while holding Mu.

    /// <summary>The CM's lock; a test holds it while it reads or calls what follows.</summary>
    internal Lock Mu => _mu;

    internal CMState State => _state;

    internal int CurrentTerm => _currentTerm;

    internal int VotedFor => _votedFor;

    /// <summary>The log itself, not a copy.</summary>
    internal IReadOnlyList<LogEntry> Log => _log;

    /// <summary>The next log index the leader will send to <paramref name="peerId"/>.</summary>
    internal int NextIndexOf(int peerId) => _nextIndex[peerId];

    /// <summary>The timeout of the election countdown started last.</summary>
    internal TimeSpan ElectionTimeoutDuration => _electionTimeout;

    /// <summary>When the election countdown last restarted, a timestamp of the CM's clock.</summary>
    internal long ElectionResetEvent => _electionResetEvent;

    /// <summary>Names of this CM's tasks still running; for the tests' leak check.</summary>
    internal IReadOnlyList<string> RunningTasks() => _tasks.Running();

    /// <summary>Unexpected exceptions in this CM's tasks; a test fails if there are any.</summary>
    internal IReadOnlyList<Exception> Faults() => _tasks.Faults();
}
