// The consensus module: the Raft logic of one server. Part 3: persistence and optimizations.
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Raft;

/// <summary>A command the cluster has agreed on, as a CM reports it on its commit channel.</summary>
/// <param name="Index">The log index the command was committed at.</param>
/// <param name="Term">The entry's own term; upstream reports the server's current term, which can be later.</param>
public sealed record CommitEntry(object Command, int Index, int Term);

/// <summary>One entry of the replicated log: a client's command and the term it arrived in.</summary>
/// <param name="Command">Should be immutable (an int, a string, a record): entries are shared, never copied.</param>
public sealed partial record LogEntry(object Command, int Term)
{
    /// <summary>Prints as Go's %v does, {command term}, so logs read alike in both ports.</summary>
    public override string ToString() => $"{{{Command} {Term}}}";
}

/// <summary>The role a CM plays. Dead means stopped for good.</summary>
public enum CMState
{
    Follower,
    Candidate,
    Leader,
    Dead,
}

/// <summary>A CM's state at one moment (<see cref="ConsensusModule.Status"/>).</summary>
/// <remarks>A leader's NextIndex and MatchIndex stay as they were on a server that no longer leads.</remarks>
/// <param name="ElectionResetEvent">When the election countdown last restarted, a timestamp of the CM's clock.</param>
/// <param name="ElectionTimeout">The timeout of that countdown.</param>
public sealed record CMStatus(
    CMState State, int CurrentTerm, int VotedFor, IReadOnlyList<LogEntry> Log, int CommitIndex, int LastApplied,
    IReadOnlyDictionary<int, int> NextIndex, IReadOnlyDictionary<int, int> MatchIndex, long ElectionResetEvent, TimeSpan ElectionTimeout);

// The RPC messages (Figure 2 of the paper). Records with init-only properties: a message that
// crosses to another server cannot be changed by either side, so passing it is as safe as copying.

/// <summary>Arguments of RequestVote.</summary>
public sealed record RequestVoteArgs
{
    public int Term { get; init; }
    public int CandidateId { get; init; }
    public int LastLogIndex { get; init; }
    public int LastLogTerm { get; init; }
}

/// <summary>Reply to RequestVote.</summary>
public sealed record RequestVoteReply
{
    public int Term { get; init; }
    public bool VoteGranted { get; init; }
}

/// <summary>Arguments of AppendEntries; a heartbeat carries no entries.</summary>
public sealed record AppendEntriesArgs
{
    public int Term { get; init; }
    public int LeaderId { get; init; }

    public int PrevLogIndex { get; init; }
    public int PrevLogTerm { get; init; }
    public ImmutableArray<LogEntry> Entries { get; init; } = [];
    public int LeaderCommit { get; init; }

    /// <summary>Prints Entries as a list; a record would print only the type's name.</summary>
    private bool PrintMembers(System.Text.StringBuilder sb)
    {
        sb.Append(CultureInfo.InvariantCulture, $"Term = {Term}, LeaderId = {LeaderId}, PrevLogIndex = {PrevLogIndex}, PrevLogTerm = {PrevLogTerm}, ");
        sb.Append(CultureInfo.InvariantCulture, $"Entries = [{string.Join(' ', Entries)}], LeaderCommit = {LeaderCommit}");
        return true;
    }
}

/// <summary>Reply to AppendEntries.</summary>
public sealed record AppendEntriesReply
{
    public int Term { get; init; }
    public bool Success { get; init; }

    // On failure, where the follower's log stops matching: the leader skips back a term at a time (section 5.3).
    public int ConflictIndex { get; init; }
    public int ConflictTerm { get; init; }
}

/// <summary>A consensus module (CM): the part of one server that runs the Raft protocol.</summary>
public sealed class ConsensusModule
{
    /// <summary>Guards the mutable state below. Never held across an await.</summary>
    private readonly Lock _mu = new();

    /// <summary>This server's id.</summary>
    private readonly int _id;

    /// <summary>The ids of the other servers in the cluster.</summary>
    private readonly int[] _peerIds;

    /// <summary>The server hosting this CM; the CM sends its RPCs through it.</summary>
    private readonly Server _server;

    /// <summary>Where this CM persists its state; a restarted server reads it back from there.</summary>
    private readonly Persister _persister;

    /// <summary>Where this CM reports committed entries, in log order; the client hands it in.</summary>
    private readonly ChannelWriter<CommitEntry> _commitChan;

    /// <summary>
    /// Wakes the commit sender when the commit index may have moved. One slot, written with
    /// TryWrite: a full slot already promises a wake-up, and the sender re-reads the state each time.
    /// </summary>
    private readonly Channel<bool> _newCommitReadyChan = Channel.CreateBounded<bool>(1);

    /// <summary>The commit sender's task; <see cref="StopAsync"/> waits for it.</summary>
    private readonly Task _commitChanSender;

    /// <summary>Wakes the send loop to send now (a Submit, a new commit index); one slot and TryWrite, so Submit never blocks.</summary>
    private readonly Channel<bool> _triggerAEChan = Channel.CreateBounded<bool>(1);

    /// <summary>Where Dlog writes; upstream's DebugCM switch is this logger's Debug level.</summary>
    private readonly ILogger _logger;

    /// <summary>The clock of the election timer and the heartbeats: the system's, or a test's or a tool's own.</summary>
    private readonly TimeProvider _timeProvider;

    /// <summary>Draws the election timeouts: shared by default, seeded by a simulation that replays a run.</summary>
    private readonly Random _random;

    /// <summary>Cancelled when this CM stops; every loop of this CM ends on it.</summary>
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>The tasks this CM has started (Go's goroutines).</summary>
    private readonly TaskTracker _tasks;

    // Figure 2's persistent state, which every server keeps.

    /// <summary>The latest term this server has seen.</summary>
    private int _currentTerm;

    /// <summary>The candidate this server voted for in the current term, or -1.</summary>
    private int _votedFor;

    /// <summary>The log; entry i has log index i (indices start at 0 here, at 1 in the paper).</summary>
    private readonly List<LogEntry> _log = [];

    // Figure 2's volatile state, which every server keeps.

    /// <summary>The highest log index known to be committed.</summary>
    private int _commitIndex;

    /// <summary>The highest log index sent on the commit channel.</summary>
    private int _lastApplied;

    /// <summary>How much of the log, from its start, storage holds as it is now; the rest is yet to be written.</summary>
    private int _savedLogLength;

    /// <summary>The role this CM plays now.</summary>
    private CMState _state;

    /// <summary>When the election countdown last restarted (a timestamp of <see cref="_timeProvider"/>).</summary>
    private long _electionResetEvent;

    /// <summary>The timeout of the election countdown started last, for tools that draw it (see <see cref="Status"/>).</summary>
    private TimeSpan _electionTimeout;

    // Volatile Raft state on leaders.

    /// <summary>For each peer, the index of the next log entry to send it.</summary>
    private readonly Dictionary<int, int> _nextIndex = [];

    /// <summary>For each peer, the highest log index known to be replicated on it.</summary>
    private readonly Dictionary<int, int> _matchIndex = [];

    /// <summary>
    /// Creates a CM with the given id and peer ids, hosted by <paramref name="server"/>. The CM
    /// stays dormant until <paramref name="ready"/> completes, which the cluster signals once every
    /// peer is connected. Committed entries are written to <paramref name="commitChan"/>.
    /// </summary>
    public ConsensusModule(int id, IReadOnlyList<int> peerIds, Server server, IStorage storage, Task ready, ChannelWriter<CommitEntry> commitChan, ILogger logger, TimeProvider timeProvider, Random random)
    {
        _id = id;
        _peerIds = [.. peerIds];
        _server = server;
        _persister = new Persister(storage);
        _commitChan = commitChan;
        _logger = logger;
        _timeProvider = timeProvider;
        _random = random;
        _tasks = new TaskTracker(id, logger, _stopping.Token);
        _state = CMState.Follower;
        _votedFor = -1;
        _commitIndex = -1;
        _lastApplied = -1;

        if (storage.HasData)
        {
            RestoreFromStorage();
        }

        _tasks.Run("election timer", async () =>
        {
            // Nothing happens until the cluster is wired up; then the election countdown begins.
            await ready;
            lock (_mu)
            {
                _electionResetEvent = _timeProvider.GetTimestamp();
            }
            await RunElectionTimerAsync();
        });

        _commitChanSender = _tasks.Run("commit sender", CommitChanSenderAsync);
    }

    /// <summary>Reports this CM's id, its current term, and whether it thinks it is the leader.</summary>
    public (int Id, int Term, bool IsLeader) Report()
    {
        lock (_mu)
        {
            return (_id, _currentTerm, _state == CMState.Leader);
        }
    }

    /// <summary>
    /// Offers a command to this CM. On the leader, appends it to the log, wakes the send loop
    /// and returns its log index; elsewhere returns -1 and the client must try another server.
    /// Never blocks: the command's fate is reported later on the commit channel.
    /// </summary>
    /// <exception cref="ArgumentException">The command cannot be persisted (an unregistered type, NaN, a member JSON cannot hold).</exception>
    public int Submit(object command)
    {
        ArgumentNullException.ThrowIfNull(command);
        // Encoded now, outside the lock: a command that cannot be stored is refused before it is in the log.
        byte[] encoded = CommandTypes.Encode(command);

        lock (_mu)
        {
            Dlog($"Submit received by {_state}: {command}");
            if (_state == CMState.Leader)
            {
                int submitIndex = _log.Count;
                _log.Add(new LogEntry(command, _currentTerm) { Json = encoded });
                // Persisted by the send loop before it leaves, once per burst (upstream: once per command).
                Dlog($"... log={_log}");
                _triggerAEChan.Writer.TryWrite(true);
                return submitIndex;
            }
            return -1;
        }
    }

    /// <summary>
    /// Stops this CM for good and waits for its commit sender, so the caller may complete the
    /// commit channel afterwards; never hangs, even if nobody reads that channel any more. The
    /// other tasks end within moments (the tests check they do).
    /// </summary>
    public async Task StopAsync()
    {
        Dlog($"CM.Stop called");
        lock (_mu)
        {
            _state = CMState.Dead;
            Dlog($"becomes Dead");
        }
        // Outside the lock: cancelling may run a loop's continuation right here, and it takes the lock.
        _stopping.Cancel();
        _newCommitReadyChan.Writer.TryComplete();
        _triggerAEChan.Writer.TryComplete();
        await _commitChanSender;
    }

    /// <summary>Loads currentTerm, votedFor and the log, before any task runs: a restarted server is rebuilt from these bytes alone.</summary>
    /// <exception cref="InvalidDataException">Storage holds data, but not a whole, valid state.</exception>
    private void RestoreFromStorage()
    {
        PersistentState state = _persister.Load();
        _currentTerm = state.CurrentTerm;
        _votedFor = state.VotedFor;
        _log.AddRange(state.Log);
        _savedLogLength = _log.Count;
    }

    /// <summary>Saves currentTerm, votedFor and the log in one write (upstream's three can be torn by a crash).</summary>
    /// <exception cref="IOException">The storage refused the write; this CM is Dead from then on.</exception>
    private void PersistToStorage()
    {
        Debug.Assert(_mu.IsHeldByCurrentThread);
        if (_state == CMState.Dead)
        {
            // Storage belongs to whichever server runs on it next; a stopped CM never writes there.
            return;
        }
        try
        {
            _persister.Save(_currentTerm, _votedFor, _log, _savedLogLength);
        }
        catch (Exception e)
        {
            // The change in memory cannot be undone, so the CM stops acting on it: Dead, it does nothing more.
            _state = CMState.Dead;
            Dlog($"becomes Dead: persisting failed: {e.Message}");
            throw new IOException($"server {_id}: could not persist its state: {e.Message}", e);
        }
        _savedLogLength = _log.Count;
    }

    /// <summary>Whether Dlog writes anything; checked before a message is even built.</summary>
    internal bool DebugEnabled => _logger.IsEnabled(LogLevel.Debug);

    /// <summary>Logs a debugging message, prefixed with this server's id (upstream's dlog).</summary>
    internal void Dlog([InterpolatedStringHandlerArgument("")] ref DlogHandler message)
    {
        if (message.Build() is { } text)
        {
            _logger.LogDebug("[{Id}] {Message}", _id, text);
        }
    }

    /// <summary>The RequestVote RPC handler.</summary>
    public RequestVoteReply RequestVote(RequestVoteArgs args)
    {
        lock (_mu)
        {
            if (_state == CMState.Dead)
            {
                // As upstream: a dead server answers with an empty reply, which no candidate counts.
                return new RequestVoteReply();
            }
            var (lastLogIndex, lastLogTerm) = LastLogIndexAndTerm();
            Dlog($"RequestVote: {args} [currentTerm={_currentTerm}, votedFor={_votedFor}, log index/term=({lastLogIndex}, {lastLogTerm})]");

            if (args.Term > _currentTerm)
            {
                Dlog($"... term out of date in RequestVote");
                BecomeFollower(args.Term);
            }

            var voteGranted = false;
            // Grant only to a candidate whose log is at least as up to date as ours (section 5.4.1).
            if (_currentTerm == args.Term
                && (_votedFor == -1 || _votedFor == args.CandidateId)
                && (args.LastLogTerm > lastLogTerm
                    || (args.LastLogTerm == lastLogTerm && args.LastLogIndex >= lastLogIndex)))
            {
                voteGranted = true;
                _votedFor = args.CandidateId;
                _electionResetEvent = _timeProvider.GetTimestamp();
            }
            var reply = new RequestVoteReply { Term = _currentTerm, VoteGranted = voteGranted };
            PersistToStorage();
            Dlog($"... RequestVote reply: {reply}");
            return reply;
        }
    }

    /// <summary>The AppendEntries RPC handler.</summary>
    public AppendEntriesReply AppendEntries(AppendEntriesArgs args)
    {
        lock (_mu)
        {
            if (_state == CMState.Dead)
            {
                return new AppendEntriesReply();
            }
            Dlog($"AppendEntries: {args}");

            if (args.Term > _currentTerm)
            {
                Dlog($"... term out of date in AppendEntries");
                BecomeFollower(args.Term);
            }

            var success = false;
            int conflictIndex = 0;
            int conflictTerm = 0;
            if (args.Term == _currentTerm)
            {
                if (_state != CMState.Follower)
                {
                    BecomeFollower(args.Term);
                }
                _electionResetEvent = _timeProvider.GetTimestamp();

                // Does our log hold an entry at PrevLogIndex with term PrevLogTerm? Trivially so
                // when PrevLogIndex is -1: the new entries start the log.
                if (args.PrevLogIndex == -1
                    || (args.PrevLogIndex < _log.Count && args.PrevLogTerm == _log[args.PrevLogIndex].Term))
                {
                    success = true;

                    // Skip the entries we already have; stop at the first whose term differs
                    // from ours, or at the end of either list.
                    int logInsertIndex = args.PrevLogIndex + 1;
                    int newEntriesIndex = 0;

                    while (logInsertIndex < _log.Count
                        && newEntriesIndex < args.Entries.Length
                        && _log[logInsertIndex].Term == args.Entries[newEntriesIndex].Term)
                    {
                        logInsertIndex++;
                        newEntriesIndex++;
                    }

                    // Truncate only if something new remains: our log beyond a matching prefix
                    // may hold entries this (possibly stale) message does not know about.
                    if (newEntriesIndex < args.Entries.Length)
                    {
                        Dlog($"... inserting entries {args.Entries[newEntriesIndex..]} from index {logInsertIndex}");
                        _log.RemoveRange(logInsertIndex, _log.Count - logInsertIndex);
                        _log.AddRange(args.Entries[newEntriesIndex..]);
                        _savedLogLength = Math.Min(_savedLogLength, logInsertIndex);
                        Dlog($"... log is now: {_log}");
                    }

                    // Commit up to the leader's commit index, but no further than the last entry this
                    // message vouches for (Figure 2): upstream's log end is safe only with whole tails.
                    int newCommitIndex = Math.Min(args.LeaderCommit, args.PrevLogIndex + args.Entries.Length);
                    if (newCommitIndex > _commitIndex)
                    {
                        _commitIndex = newCommitIndex;
                        Dlog($"... setting commitIndex={_commitIndex}");
                        // TryWrite: never blocks under the lock (upstream's send here can).
                        _newCommitReadyChan.Writer.TryWrite(true);
                    }
                }
                else
                {
                    // No match at PrevLogIndex: tell the leader where to look next.
                    if (args.PrevLogIndex >= _log.Count)
                    {
                        // Our log is too short: resume right after its end.
                        conflictIndex = _log.Count;
                        conflictTerm = -1;
                    }
                    else
                    {
                        // Another term at PrevLogIndex: report it and our first index of it, for the leader to skip at once.
                        conflictTerm = _log[args.PrevLogIndex].Term;

                        int i;
                        for (i = args.PrevLogIndex - 1; i >= 0; i--)
                        {
                            if (_log[i].Term != conflictTerm)
                            {
                                break;
                            }
                        }
                        conflictIndex = i + 1;
                    }
                }
            }

            var reply = new AppendEntriesReply
            {
                Term = _currentTerm,
                Success = success,
                ConflictIndex = conflictIndex,
                ConflictTerm = conflictTerm,
            };
            // Only a changed log is written here (a new term was, by BecomeFollower); upstream writes on every call.
            if (_savedLogLength < _log.Count)
            {
                PersistToStorage();
            }
            Dlog($"AppendEntries reply: {reply}");
            return reply;
        }
    }

    /// <summary>A random election timeout between 150 and 300 ms.</summary>
    private TimeSpan ElectionTimeout()
    {
        // With RAFT_FORCE_MORE_REELECTION set, one timeout in three is exactly 150 ms, so servers
        // often time out together and split the vote: a stress test for elections.
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("RAFT_FORCE_MORE_REELECTION"))
            && _random.Next(3) == 0)
        {
            return TimeSpan.FromMilliseconds(150);
        }
        return TimeSpan.FromMilliseconds(150 + _random.Next(150));
    }

    /// <summary>
    /// One election countdown. It checks every 10 ms and ends when this CM stops being a
    /// follower or candidate, when the term moves on (another timer takes over), or when the
    /// timeout passes with no word from a leader, in which case it starts an election.
    /// </summary>
    private async Task RunElectionTimerAsync()
    {
        TimeSpan timeoutDuration = ElectionTimeout();
        int termStarted;
        lock (_mu)
        {
            termStarted = _currentTerm;
            _electionTimeout = timeoutDuration;
        }
        Dlog($"election timer started ({timeoutDuration.TotalMilliseconds}ms), term={termStarted}");

        using var ticker = new PeriodicTimer(TimeSpan.FromMilliseconds(10), _timeProvider);
        while (await ticker.WaitForNextTickAsync(_stopping.Token))
        {
            lock (_mu)
            {
                if (_state != CMState.Candidate && _state != CMState.Follower)
                {
                    Dlog($"in election timer state={_state}, bailing out");
                    return;
                }

                if (termStarted != _currentTerm)
                {
                    Dlog($"in election timer term changed from {termStarted} to {_currentTerm}, bailing out");
                    return;
                }

                // No leader heard from and no vote granted for a whole timeout: time to run.
                if (_timeProvider.GetElapsedTime(_electionResetEvent) >= timeoutDuration)
                {
                    StartElection();
                    return;
                }
            }
        }
    }

    /// <summary>Becomes a candidate in a new term and asks every peer for its vote.</summary>
    private void StartElection()
    {
        Debug.Assert(_mu.IsHeldByCurrentThread);
        _state = CMState.Candidate;
        _currentTerm += 1;
        int savedCurrentTerm = _currentTerm;
        _electionResetEvent = _timeProvider.GetTimestamp();
        _votedFor = _id;
        PersistToStorage();
        Dlog($"becomes Candidate (currentTerm={savedCurrentTerm}); log={_log}");

        int votesReceived = 1;

        foreach (int peerId in _peerIds)
        {
            _tasks.Run($"RequestVote to {peerId}", async () =>
            {
                int savedLastLogIndex, savedLastLogTerm;
                lock (_mu)
                {
                    (savedLastLogIndex, savedLastLogTerm) = LastLogIndexAndTerm();
                }

                var args = new RequestVoteArgs
                {
                    Term = savedCurrentTerm,
                    CandidateId = _id,
                    LastLogIndex = savedLastLogIndex,
                    LastLogTerm = savedLastLogTerm,
                };

                Dlog($"sending RequestVote to {peerId}: {args}");
                if (await _server.CallAsync<RequestVoteArgs, RequestVoteReply>(peerId, "ConsensusModule.RequestVote", args) is { } reply)
                {
                    lock (_mu)
                    {
                        Dlog($"received RequestVoteReply {reply}");

                        if (_state != CMState.Candidate)
                        {
                            Dlog($"while waiting for reply, state = {_state}");
                            return;
                        }

                        // Compared with the current term, not savedCurrentTerm: a late reply from an
                        // earlier election must neither count as a vote nor move the term (upstream's part3 fix).
                        if (reply.Term > _currentTerm)
                        {
                            Dlog($"term out of date in RequestVoteReply");
                            BecomeFollower(reply.Term);
                            return;
                        }
                        else if (reply.Term == _currentTerm && reply.VoteGranted)
                        {
                            votesReceived += 1;
                            if (votesReceived * 2 > _peerIds.Length + 1)
                            {
                                Dlog($"wins election with {votesReceived} votes");
                                StartLeader();
                                return;
                            }
                        }
                    }
                }
            });
        }

        // A fresh countdown, in case this election ends with no winner.
        _tasks.Run("election timer", RunElectionTimerAsync);
    }

    /// <summary>Becomes a follower in <paramref name="term"/> and restarts the election countdown.</summary>
    internal void BecomeFollower(int term)
    {
        Debug.Assert(_mu.IsHeldByCurrentThread);
        if (_state == CMState.Dead)
        {
            // Every caller checks first; this guard keeps a stopped CM stopped whatever comes.
            return;
        }
        Dlog($"becomes Follower with term={term}; log={_log}");
        _state = CMState.Follower;
        // Only a newer term clears the vote: forgetting it within the same term would let this
        // server vote twice in one term (upstream's part3 fix).
        if (term > _currentTerm)
        {
            _currentTerm = term;
            _votedFor = -1;
            PersistToStorage();
        }
        _electionResetEvent = _timeProvider.GetTimestamp();

        _tasks.Run("election timer", RunElectionTimerAsync);
    }

    /// <summary>Becomes the leader and starts the send loop: AppendEntries now, on each trigger, and at least every 50 ms.</summary>
    private void StartLeader()
    {
        Debug.Assert(_mu.IsHeldByCurrentThread);
        _state = CMState.Leader;

        foreach (int peerId in _peerIds)
        {
            _nextIndex[peerId] = _log.Count;
            _matchIndex[peerId] = -1;
        }
        Dlog($"becomes Leader; term={_currentTerm}, nextIndex={_nextIndex}, matchIndex={_matchIndex}; log={_log}");

        _tasks.Run("leader send loop", async () =>
        {
            var heartbeatTimeout = TimeSpan.FromMilliseconds(50);

            // Send at once, so followers hear of the new leader without delay.
            LeaderSendAEs();

            // One wait for a trigger lives across rounds, renewed once it fires (not a new one per heartbeat).
            Task<bool> triggered = WaitForTriggerAsync();
            while (true)
            {
                // Go's select: a trigger or the heartbeat timeout, whichever comes first. The timer is not
                // linked to _stopping (a delay cancelled under a waiting WhenAny wakes it from the thread
                // pool, out of a simulation): Stop wakes the loop through the trigger instead.
                using (var timer = new CancellationTokenSource())
                {
                    Task expired = Task.Delay(heartbeatTimeout, _timeProvider, timer.Token);
                    Task first = await Task.WhenAny(triggered, expired);
                    timer.Cancel(); // Stop the losing timer.
                    if (first == triggered)
                    {
                        if (!await triggered)
                        {
                            return; // The trigger channel was completed: the CM stopped.
                        }
                        _triggerAEChan.Reader.TryRead(out _);
                        triggered = WaitForTriggerAsync();
                    }
                }

                // A CM that is no longer the leader ends the loop.
                lock (_mu)
                {
                    if (_state != CMState.Leader)
                    {
                        return;
                    }
                }
                LeaderSendAEs();
            }
        });
    }

    /// <summary>Waits for a trigger, as a Task for WhenAny: AsTask() would wake it through the thread pool, out of a simulation.</summary>
    private async Task<bool> WaitForTriggerAsync() => await _triggerAEChan.Reader.WaitToReadAsync(_stopping.Token);

    /// <summary>Sends every peer one round of AppendEntries and handles their replies.</summary>
    private void LeaderSendAEs()
    {
        int savedCurrentTerm;
        lock (_mu)
        {
            if (_state != CMState.Leader)
            {
                return;
            }
            savedCurrentTerm = _currentTerm;
        }

        foreach (int peerId in _peerIds)
        {
            _tasks.Run($"AppendEntries to {peerId}", async () =>
            {
                int ni;
                AppendEntriesArgs args;
                lock (_mu)
                {
                    // This task may start after the CM stepped down or stopped: check again, as
                    // upstream does not, so a deposed leader never speaks for a term it lost.
                    // A new leader may also have cut the log, and nextIndex would point past its end.
                    if (_state != CMState.Leader || _currentTerm != savedCurrentTerm)
                    {
                        Dlog($"AppendEntries to {peerId} not sent: state={_state}, term={_currentTerm}");
                        return;
                    }

                    // Nothing leaves the leader before it is on disk: a follower may count on it.
                    if (_savedLogLength < _log.Count)
                    {
                        PersistToStorage();
                    }

                    ni = _nextIndex[peerId];
                    int prevLogIndex = ni - 1;
                    int prevLogTerm = prevLogIndex >= 0 ? _log[prevLogIndex].Term : -1;

                    // A copy of the tail: the message never shares the leader's list.
                    args = new AppendEntriesArgs
                    {
                        Term = savedCurrentTerm,
                        LeaderId = _id,
                        PrevLogIndex = prevLogIndex,
                        PrevLogTerm = prevLogTerm,
                        Entries = [.. _log.Skip(ni)],
                        LeaderCommit = _commitIndex,
                    };
                }
                Dlog($"sending AppendEntries to {peerId}: ni={ni}, args={args}");
                if (await _server.CallAsync<AppendEntriesArgs, AppendEntriesReply>(peerId, "ConsensusModule.AppendEntries", args) is { } reply)
                {
                    lock (_mu)
                    {
                        // A stopped CM acts on nothing: stepping down would bring it back to life
                        // (a new election timer).
                        if (_state == CMState.Dead)
                        {
                            return;
                        }

                        // Against the current term (upstream's part1 uses savedCurrentTerm): a reply
                        // older than a step-down that already happened must not trigger another.
                        if (reply.Term > _currentTerm)
                        {
                            Dlog($"term out of date in heartbeat reply");
                            BecomeFollower(reply.Term);
                            return;
                        }

                        // Only a reply from this leadership counts: same term as when the message
                        // was sent, and still leading it.
                        if (_state == CMState.Leader && _currentTerm == savedCurrentTerm && reply.Term == savedCurrentTerm)
                        {
                            if (reply.Success)
                            {
                                // Neither moves back: a late reply to an older, shorter message must
                                // not undo what a newer reply already confirmed (upstream's nextIndex
                                // does move back, and the next round resends what the peer has).
                                _nextIndex[peerId] = Math.Max(_nextIndex[peerId], ni + args.Entries.Length);
                                _matchIndex[peerId] = Math.Max(_matchIndex[peerId], _nextIndex[peerId] - 1);

                                // Commit the highest entry of this term held by a majority. Entries of
                                // earlier terms are committed only along with it (section 5.4.2).
                                int savedCommitIndex = _commitIndex;
                                for (int i = _commitIndex + 1; i < _log.Count; i++)
                                {
                                    if (_log[i].Term == _currentTerm)
                                    {
                                        int matchCount = 1;
                                        foreach (int p in _peerIds)
                                        {
                                            if (_matchIndex[p] >= i)
                                            {
                                                matchCount++;
                                            }
                                        }
                                        if (matchCount * 2 > _peerIds.Length + 1)
                                        {
                                            _commitIndex = i;
                                        }
                                    }
                                }
                                Dlog($"AppendEntries reply from {peerId} success: nextIndex := {_nextIndex}, matchIndex := {_matchIndex}; commitIndex := {_commitIndex}");
                                if (_commitIndex != savedCommitIndex)
                                {
                                    Dlog($"leader sets commitIndex := {_commitIndex}");
                                    // New entries are committed: deliver them to this leader's client,
                                    // and tell the followers now rather than at the next heartbeat.
                                    // TryWrite: never blocks under the lock (upstream's sends here can).
                                    _newCommitReadyChan.Writer.TryWrite(true);
                                    _triggerAEChan.Writer.TryWrite(true);
                                }
                            }
                            else
                            {
                                if (reply.ConflictTerm >= 0)
                                {
                                    // If we hold entries of the conflicting term, resume after our
                                    // last one; otherwise skip the follower's whole run of that term.
                                    int lastIndexOfTerm = -1;
                                    for (int i = _log.Count - 1; i >= 0; i--)
                                    {
                                        if (_log[i].Term == reply.ConflictTerm)
                                        {
                                            lastIndexOfTerm = i;
                                            break;
                                        }
                                    }
                                    _nextIndex[peerId] = lastIndexOfTerm >= 0 ? lastIndexOfTerm + 1 : reply.ConflictIndex;
                                }
                                else
                                {
                                    _nextIndex[peerId] = reply.ConflictIndex;
                                }
                                Dlog($"AppendEntries reply from {peerId} !success: nextIndex := {_nextIndex[peerId]}");
                            }
                        }
                    }
                }
            });
        }
    }

    /// <summary>The index and term of the last log entry, or (-1, -1) for an empty log.</summary>
    private (int LastLogIndex, int LastLogTerm) LastLogIndexAndTerm()
    {
        Debug.Assert(_mu.IsHeldByCurrentThread);
        if (_log.Count > 0)
        {
            int lastIndex = _log.Count - 1;
            return (lastIndex, _log[lastIndex].Term);
        }
        return (-1, -1);
    }

    /// <summary>
    /// Sends newly committed entries on the commit channel, in log order and outside the lock, so a
    /// slow reader delays only this task. Each wake-up sends all from lastApplied to commitIndex.
    /// </summary>
    private async Task CommitChanSenderAsync()
    {
        // No token here: Stop completes the channel, which ends the loop (and a wake-up already
        // pending is still served first, as Go's range over a closed channel does).
        while (await _newCommitReadyChan.Reader.WaitToReadAsync())
        {
            _newCommitReadyChan.Reader.TryRead(out _);

            // Everything committed but not yet handed to the client.
            int savedLastApplied;
            LogEntry[] entries = [];
            lock (_mu)
            {
                savedLastApplied = _lastApplied;
                if (_commitIndex > _lastApplied)
                {
                    entries = [.. _log.GetRange(_lastApplied + 1, _commitIndex - _lastApplied)];
                    _lastApplied = _commitIndex;
                }
            }
            Dlog($"commitChanSender entries={entries}, savedLastApplied={savedLastApplied}");

            for (int i = 0; i < entries.Length; i++)
            {
                Dlog($"send on commitchan i={i}, entry={entries[i]}");
                var entry = new CommitEntry(entries[i].Command, savedLastApplied + i + 1, entries[i].Term);
                // TryWrite first: after Stop, WriteAsync fails at once even with room in the
                // channel, and the entries committed before Stop must still go out. Only a full
                // channel makes the sender wait, and that wait Stop can cancel.
                if (_commitChan.TryWrite(entry))
                {
                    continue;
                }
                try
                {
                    await _commitChan.WriteAsync(entry, _stopping.Token);
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    // Upstream's sender would block here for good if the client stopped reading
                    // after Stop; this one gives up on what the client does not take.
                    Dlog($"commitChanSender dropped {entries.Length - i} entries at Stop");
                    break;
                }
            }
        }
        Dlog($"commitChanSender done");
    }

    /// <summary>A copy of this CM's state, for tools and tests that watch it (upstream's tests read the fields).</summary>
    public CMStatus Status()
    {
        lock (_mu)
        {
            return new CMStatus(_state, _currentTerm, _votedFor, [.. _log], _commitIndex, _lastApplied,
                new Dictionary<int, int>(_nextIndex), new Dictionary<int, int>(_matchIndex), _electionResetEvent, _electionTimeout);
        }
    }

    /// <summary>The CM's lock, for tests that look inside it as upstream's do (cm.mu).</summary>
    internal Lock Mu => _mu;

    /// <summary>Names of this CM's tasks still running; for the tests' leak check.</summary>
    internal IReadOnlyList<string> RunningTasks() => _tasks.Running();

    /// <summary>Unexpected exceptions in this CM's tasks; a test fails if there are any.</summary>
    internal IReadOnlyList<Exception> Faults() => _tasks.Faults();
}
