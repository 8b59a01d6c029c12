// The messages between the servers, as the page draws them: every server's network reports each
// call's journey to one observer, and the board keeps those on their way, and those that ended a
// moment ago, in the cluster's time, so the page can move them along the links.
using System.Globalization;
using Lab;
using Raft;

namespace RaftPlayground;

/// <summary>
/// One message as the page draws it. Times are cluster milliseconds.
/// </summary>
/// <param name="Id">The observer's id for it; POST /api/messages/{id}/drop takes it.</param>
/// <param name="Method">RequestVote or AppendEntries.</param>
/// <param name="Heartbeat">An AppendEntries with no entries.</param>
/// <param name="Stage">sending (on its way to the receiver), handling (at the receiver), replying (the reply on its way back), or an end: answered, lost, reply-lost.</param>
/// <param name="SentMs">When it was sent.</param>
/// <param name="DueMs">When the network hands it to the receiver (null until it says), or, while replying, when the reply reaches the sender.</param>
/// <param name="EndMs">When it ended; null while on its way.</param>
/// <param name="Args">The message's fields, as text.</param>
/// <param name="Reply">The reply's fields, as text, once there is one.</param>
/// <param name="Outcome">granted or refused (RequestVote), success or failure (AppendEntries), once replied.</param>
/// <param name="Held">The network holds it (or its reply) for a long delay.</param>
/// <param name="Reason">Why it was lost.</param>
/// <param name="RepliedMs">When the receiver replied: the reply travels from then to <paramref name="DueMs"/>.</param>
public sealed record MessageView(
    long Id, int From, int To, string Method, bool Heartbeat, string Stage, double SentMs, double? DueMs, double? EndMs,
    string Args, string? Reply, string? Outcome, bool Held, string? Reason, double? RepliedMs = null);

/// <summary>
/// The messages part of an update: the latest ones (at most <see cref="MessageBoard.MaxShown"/>),
/// and how many of each kind were sent so far, so that at full speed, when most messages begin
/// and end between two updates, the page still says how many there were (the difference between
/// two updates).
/// </summary>
/// <param name="Shown">Messages on their way, then the most recently ended, newest first.</param>
/// <param name="Sent">Messages sent since the playground started: requestVote, appendEntries (with entries), heartbeats.</param>
/// <param name="NotShown">Messages on their way or ended within the last update's span but left out of <paramref name="Shown"/>.</param>
public sealed record MessagesView(IReadOnlyList<MessageView> Shown, SentCounts Sent, int NotShown);

/// <summary>How many messages were sent, by kind.</summary>
public sealed record SentCounts(long RequestVote, long AppendEntries, long Heartbeats);

/// <summary>Collects the observer's events into <see cref="MessageView"/>s; used on the simulation's thread only.</summary>
public sealed class MessageBoard
{
    /// <summary>The most messages one update carries.</summary>
    public const int MaxShown = 40;

    /// <summary>How long an ended message stays on the board, at least, in cluster time (more when slowed: see <see cref="Take"/>).</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(3);

    /// <summary>
    /// How long at most: at full speed an update spans 250 ms, in which a busy cluster ends
    /// hundreds of messages; the counts say how many, and only the last 40 ms are drawn.
    /// </summary>
    private static readonly TimeSpan MaxLinger = TimeSpan.FromMilliseconds(40);

    private readonly VirtualClock _clock;

    private readonly Lock _mu = new();

    /// <summary>On their way, by id.</summary>
    private readonly Dictionary<long, MessageView> _live = [];

    /// <summary>Ended, oldest first.</summary>
    private readonly LinkedList<MessageView> _ended = new();

    private long _sentRv, _sentAe, _sentHb;

    /// <summary>The network the messages travel; it tells this board each step of each.</summary>
    private readonly Network _network;

    public MessageBoard(VirtualClock clock, Network network)
    {
        _clock = clock;
        _network = network;
        network.Observer = OnEvent;
    }

    /// <summary>
    /// The next message on its way to reach its receiver (or a held reply its sender), and the
    /// cluster time at which it does; null if none is still to come.
    /// </summary>
    public (TimeSpan Due, MessageView Message)? NextDelivery()
    {
        // Only those still to come: one due already is being handed over on the thread pool.
        double now = _clock.Now.TotalMilliseconds;
        lock (_mu)
        {
            MessageView? next = _live.Values.Where(m => m.DueMs > now && m.Stage is "sending" or "replying").MinBy(m => m.DueMs);
            // Rounded, not truncated as FromMilliseconds does: a double's milliseconds can fall a
            // hair short of the tick the timer is due at, and a step to that would stop one tick early.
            return next is { DueMs: double ms } ? (TimeSpan.FromTicks((long)Math.Round(ms * TimeSpan.TicksPerMillisecond)), next) : null;
        }
    }

    /// <summary>Drops message <paramref name="id"/> in flight; false if it is not on its way.</summary>
    public bool Drop(long id) => _network.Drop(id);

    /// <summary>
    /// The board for one update: the messages on their way, then those ended within
    /// <paramref name="span"/> of cluster time (at least <see cref="Linger"/>, at most <see cref="MaxLinger"/>), newest first,
    /// at most <see cref="MaxShown"/>; and the counts sent so far.
    /// </summary>
    public MessagesView Take(TimeSpan span)
    {
        double now = _clock.Now.TotalMilliseconds;
        double keep = Math.Clamp(span.TotalMilliseconds, Linger.TotalMilliseconds, MaxLinger.TotalMilliseconds);
        lock (_mu)
        {
            while (_ended.First is { } first && first.Value.EndMs < now - keep)
            {
                _ended.RemoveFirst();
            }
            var all = _live.Values.OrderByDescending(m => m.Id).Concat(_ended.Reverse()).ToList();
            var sent = new SentCounts(_sentRv, _sentAe, _sentHb);
            return new MessagesView([.. all.Take(MaxShown)], sent, Math.Max(0, all.Count - MaxShown));
        }
    }

    private void OnEvent(MessageEvent e)
    {
        double now = _clock.Now.TotalMilliseconds;
        lock (_mu)
        {
            if (e.Kind == MessageEventKind.Sent)
            {
                bool heartbeat = e.Args is AppendEntriesArgs { Entries.Length: 0 };
                if (e.Method == "RequestVote")
                {
                    _sentRv++;
                }
                else if (heartbeat)
                {
                    _sentHb++;
                }
                else
                {
                    _sentAe++;
                }
                _live[e.Id] = new MessageView(e.Id, e.From, e.To, e.Method, heartbeat, "sending", now, null, null, Fields(e.Args), null, null, false, null);
                return;
            }
            if (!_live.TryGetValue(e.Id, out MessageView? m))
            {
                return;
            }
            string? reply = e.Reply is null ? m.Reply : Fields(e.Reply);
            string? outcome = e.Reply is null ? m.Outcome : OutcomeOf(e.Reply);
            switch (e.Kind)
            {
                case MessageEventKind.Delayed:
                    _live[e.Id] = m with { DueMs = now + e.Delay.TotalMilliseconds };
                    break;
                case MessageEventKind.Held:
                    _live[e.Id] = m with { DueMs = now + e.Delay.TotalMilliseconds, Held = true };
                    break;
                case MessageEventKind.Delivered:
                    _live[e.Id] = m with { Stage = "handling", DueMs = now };
                    break;
                case MessageEventKind.Replied:
                    _live[e.Id] = m with { Stage = "replying", DueMs = now, Reply = reply, Outcome = outcome, RepliedMs = now };
                    break;
                case MessageEventKind.ReplyHeld:
                    _live[e.Id] = m with { Stage = "replying", DueMs = now + e.Delay.TotalMilliseconds, Held = true, Reply = reply, Outcome = outcome };
                    break;
                case MessageEventKind.ReplyDelayed:
                    _live[e.Id] = m with { DueMs = now + e.Delay.TotalMilliseconds };
                    break;
                case MessageEventKind.ReplyDelivered:
                    End(m with { Stage = "answered", EndMs = now, Reply = reply, Outcome = outcome });
                    break;
                case MessageEventKind.Lost:
                    End(m with { Stage = "lost", EndMs = now, Reason = e.Reason });
                    break;
                case MessageEventKind.ReplyLost:
                    End(m with { Stage = "reply-lost", EndMs = now, Reason = e.Reason, Reply = reply, Outcome = outcome });
                    break;
            }
        }
    }

    /// <summary>Moves an ended message from the live ones to the ended ones. Under the lock.</summary>
    private void End(MessageView m)
    {
        _live.Remove(m.Id);
        _ended.AddLast(m);
        while (_ended.Count > 4 * MaxShown)
        {
            _ended.RemoveFirst();
        }
    }

    private static string? OutcomeOf(object reply) => reply switch
    {
        RequestVoteReply r => r.VoteGranted ? "granted" : "refused",
        AppendEntriesReply r => r.Success ? "success" : "failure",
        _ => null,
    };

    /// <summary>A message's or a reply's fields as "name=value" pairs, with at most three entries spelled out.</summary>
    private static string Fields(object message) => message switch
    {
        RequestVoteArgs a => Invariant($"term={a.Term} candidateId={a.CandidateId} lastLogIndex={a.LastLogIndex} lastLogTerm={a.LastLogTerm}"),
        RequestVoteReply r => Invariant($"term={r.Term} voteGranted={r.VoteGranted}"),
        AppendEntriesArgs a => Invariant($"term={a.Term} leaderId={a.LeaderId} prevLogIndex={a.PrevLogIndex} prevLogTerm={a.PrevLogTerm} leaderCommit={a.LeaderCommit} entries={a.Entries.Length}")
            + (a.Entries.Length == 0 ? "" : " [" + string.Join(" ", a.Entries.Take(3)) + (a.Entries.Length > 3 ? " …" : "") + "]"),
        AppendEntriesReply r => Invariant($"term={r.Term} success={r.Success}") + (r.Success ? "" : Invariant($" conflictIndex={r.ConflictIndex} conflictTerm={r.ConflictTerm}")),
        _ => message.ToString() ?? "",
    };

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
