// Pairs up the lines of a test's log into the RPCs between servers: which "sending ..." line went
// with which handler line at the receiver, which reply came back to the sender, and what was lost
// or held on the way. The page draws each one as an arrow.
using System.Globalization;
using System.Text.RegularExpressions;

namespace TestLogViz;

/// <summary>The two RPCs of Raft.</summary>
public enum RpcKind
{
    RequestVote,
    AppendEntries,
}

/// <summary>
/// One RPC as the log shows it: the rows of its four moments (sent, arrived, answered, answer
/// back at the sender), each -1 when the log has no such line, and what became of it.
/// </summary>
public sealed class RpcMessage(RpcKind kind, string from, string to, int sendRow, string args)
{
    public RpcKind Kind { get; } = kind;

    /// <summary>The sender's id (its column).</summary>
    public string From { get; } = from;

    /// <summary>The receiver's id.</summary>
    public string To { get; } = to;

    /// <summary>The sender's "sending ..." line.</summary>
    public int SendRow { get; } = sendRow;

    /// <summary>The arguments as the sender logged them.</summary>
    public string Args { get; } = args;

    /// <summary>The simulated network's number for the call (its "net: #N" lines), or 0.</summary>
    public long NetId { get; set; }

    /// <summary>Where it reached the receiver: the handler's line, or the network's arrival line.</summary>
    public int ArriveRow { get; set; } = -1;

    /// <summary>The receiver's line with its reply.</summary>
    public int ReplyRow { get; set; } = -1;

    /// <summary>Where the reply reached the sender.</summary>
    public int BackRow { get; set; } = -1;

    /// <summary>Where the call or its reply was known to be lost, or -1.</summary>
    public int LostRow { get; set; } = -1;

    /// <summary>Whether <see cref="LostRow"/> is the receiver's line saying it dropped the call or its reply.</summary>
    public bool LostAtReceiver { get; set; }

    /// <summary>The request never reached the receiver's handler.</summary>
    public bool RequestLost { get; set; }

    /// <summary>The request was handled, but its reply never reached the sender.</summary>
    public bool ReplyLost { get; set; }

    /// <summary>The network held it long enough for later calls to overtake it.</summary>
    public bool Held { get; set; }

    /// <summary>How long it took to arrive, when the network said.</summary>
    public double? TravelMs { get; set; }

    /// <summary>The receiver's reply, as it logged it.</summary>
    public string? Reply { get; set; }

    /// <summary>Whether the reply granted the vote or accepted the entries; null until known.</summary>
    public bool? Ok { get; set; }

    /// <summary>What the log says went wrong, or why the arrow stops where it does.</summary>
    public string? Note { get; set; }

    /// <summary>An AppendEntries that carries no entries: a heartbeat.</summary>
    public bool Heartbeat => Kind == RpcKind.AppendEntries && !MessagePairs.HasEntries(Args);
}

/// <summary>
/// Finds the RPCs in a log. Two ways, depending on what the log holds:
/// <list type="bullet">
/// <item>A C# log has the simulated network's lines: "net: #17 RequestVote from 2 arrives after
/// 3.214 ms" where a call reaches its receiver, and "net: #17 RequestVote reply from 0 after
/// 3.907 ms" (or "... to 0 failed after ...") where it ends at the sender. The number ties both
/// ends together; "after N ms" finds the sender's "sending" line, written that long before.</item>
/// <item>A Go log (or an older C# one) has only the consensus module's lines. A handler line is
/// then paired with the latest unanswered "sending" line of the same text, and a reply with the
/// oldest unclaimed reply of the same text. That is a guess only where two calls between the
/// same two servers carry the same text at the same time; the page says which way it paired.</item>
/// </list>
/// </summary>
public sealed partial class MessagePairs
{
    /// <summary>Every RPC found, in the order of their "sending" lines.</summary>
    public IReadOnlyList<RpcMessage> All { get; }

    /// <summary>Whether the pairs come from the network's numbered lines (certain) or from the text alone.</summary>
    public bool FromNetworkLines { get; }

    /// <summary>The log's lines, and each line's time in microseconds, for the searches below.</summary>
    private readonly List<LogLine> _lines;

    private readonly long[] _micros;

    public MessagePairs(ParsedLog log)
    {
        _lines = log.Lines;
        _micros = Micros(log.Lines);
        var messages = new List<RpcMessage>();
        var sendAt = new Dictionary<int, RpcMessage>();
        for (int row = 0; row < _lines.Count; row++)
        {
            if (SendLine().Match(_lines[row].Message) is { Success: true } m)
            {
                var message = new RpcMessage(KindOf(m.Groups["kind"].Value), _lines[row].Id, m.Groups["to"].Value, row, m.Groups["args"].Value);
                messages.Add(message);
                sendAt[row] = message;
            }
        }

        FromNetworkLines = _lines.Any(l => l.Message.StartsWith("net: #", StringComparison.Ordinal));
        var handlers = FindHandlers();
        if (FromNetworkLines)
        {
            PairByNetworkLines(messages, handlers);
        }
        else
        {
            PairByText(messages, handlers);
        }
        All = messages;
    }

    /// <summary>Whether AppendEntries arguments carry entries (Part1's carry no Entries field at all).</summary>
    public static bool HasEntries(string args) =>
        EntriesField().Match(args) is { Success: true } m && m.Groups["list"].Value.Trim().Length > 0;

    /// <summary>A handler line at the receiver, and the reply line the same handler wrote.</summary>
    private sealed record Handler(int Row, RpcKind Kind, string At, string From, string Args, int ReplyRow, string? Reply);

    /// <summary>
    /// The handlers' lines ("RequestVote: ..." and "AppendEntries: ..."), each with its reply
    /// line: the next reply line of the same server before its next handler line. A handler holds
    /// its server's lock from the one line to the other, so no other call's lines come between.
    /// </summary>
    private List<Handler> FindHandlers()
    {
        var handlers = new List<Handler>();
        var open = new Dictionary<string, int>();   // a server's handler still waiting for its reply line, by index in handlers
        for (int row = 0; row < _lines.Count; row++)
        {
            var line = _lines[row];
            if (HandlerLine().Match(line.Message) is { Success: true } h)
            {
                RpcKind kind = KindOf(h.Groups["kind"].Value);
                string args = h.Groups["args"].Value;
                if (kind == RpcKind.RequestVote)
                {
                    // "RequestVote: ARGS [currentTerm=..., votedFor=...]": the CM's own state follows the arguments.
                    int state = args.LastIndexOf(" [currentTerm=", StringComparison.Ordinal);
                    args = state >= 0 ? args[..state] : args;
                }
                if (SenderField().Match(args) is not { Success: true } sender)
                {
                    continue;
                }
                open[line.Id] = handlers.Count;
                handlers.Add(new Handler(row, kind, line.Id, sender.Groups["id"].Value, args, -1, null));
            }
            else if (ReplyOutLine().Match(line.Message) is { Success: true } r && open.Remove(line.Id, out int index)
                     && handlers[index].Kind == KindOf(r.Groups["kind"].Value))
            {
                handlers[index] = handlers[index] with { ReplyRow = row, Reply = r.Groups["reply"].Value };
            }
        }
        return handlers;
    }

    /// <summary>
    /// Pairs by the network's numbered lines. For each number: the arrival line (at the receiver)
    /// and the end line (reply or failure, at the sender); "after N ms" on either goes back to the
    /// sender's "sending" line, the latest one to that peer written no later than that. The
    /// handler's line is the first one after the arrival line at the receiver for a call from
    /// that sender with the text sent: between the two, only lines of calls that arrived at the
    /// same moment can come, their handlers waiting for the lock.
    /// </summary>
    private void PairByNetworkLines(List<RpcMessage> messages, List<Handler> handlers)
    {
        var calls = new Dictionary<long, NetCall>();
        var dead = new HashSet<string>();
        for (int row = 0; row < _lines.Count; row++)
        {
            var line = _lines[row];
            if (ServerStates.StateAfter(line.Message) is { } state)
            {
                _ = state == ServerState.Dead ? dead.Add(line.Id) : dead.Remove(line.Id);
            }
            if (NetArriveLine().Match(line.Message) is { Success: true } a)
            {
                var call = Call(calls, a, a.Groups["from"].Value, line.Id);
                call.ArriveRow = row;
                call.ReceiverDead = dead.Contains(line.Id);
                call.Held = a.Groups["held"].Success;
                call.TravelMs = Ms(a);
                call.SentBound = Math.Min(call.SentBound, _micros[row] - (long)Math.Ceiling(call.TravelMs.Value * 1000));
            }
            else if (NetEndLine().Match(line.Message) is { Success: true } e)
            {
                var call = Call(calls, e, line.Id, e.Groups["peer"].Value);
                call.EndRow = row;
                call.Failure = e.Groups["failure"].Success ? e.Groups["failure"].Value : null;
                call.SentBound = Math.Min(call.SentBound, _micros[row] - (long)Math.Ceiling(Ms(e) * 1000));
            }
        }

        // Each call's "sending" line: the latest unclaimed one of its sender to its peer, written no
        // later than the call left. (The slack of 1 µs covers the rounding of "after N ms".)
        var sends = new Keyed<(string, string, RpcKind), RpcMessage>(messages, m => (m.From, m.To, m.Kind), m => m.SendRow);
        foreach (var call in calls.Values.OrderBy(c => c.SentBound))
        {
            if (sends.LatestUnclaimed((call.From, call.To, call.Kind), m => _micros[m.SendRow] <= call.SentBound + 1) is { } send)
            {
                call.Send = send;
            }
        }

        var byReceiver = new Keyed<(string, string, RpcKind), Handler>(handlers, h => (h.At, h.From, h.Kind), h => h.Row);
        foreach (var call in calls.Values.Where(c => c.ArriveRow >= 0 && !c.ReceiverDead).OrderBy(c => c.ArriveRow))
        {
            call.Handler = byReceiver.FirstUnclaimedAfter((call.To, call.From, call.Kind), call.ArriveRow, h => h.Args == call.Send?.Args);
        }

        foreach (var call in calls.Values.Where(c => c.Send is not null))
        {
            Apply(call, call.Send!);
        }
        PlaceLosses(messages);

        // Sends the network never numbered never got onto it: Server.CallAsync found no connection
        // to the peer, the sender's proxy dropped the call ("drop Call ..."), or the log ended first.
        var unnumbered = messages.Where(m => m.NetId == 0).ToList();
        foreach (var message in unnumbered)
        {
            message.RequestLost = true;
            message.Note = "never reached the network: no connection to the peer, or the log ended first";
        }
        MarkSenderDrops(unnumbered);
    }

    /// <summary>
    /// Where a call the network lost was lost: the receiver's proxy says "drop X" as the call comes
    /// in (a lost request) and "drop reply to X" after its handler ran (a lost reply). Neither names
    /// the call, but each must fall between the call's own lines: after it was sent (or answered),
    /// and before its sender heard it had failed. The cross goes there, at the receiver.
    /// </summary>
    private void PlaceLosses(List<RpcMessage> messages)
    {
        var drops = new List<Drop>();
        for (int row = 0; row < _lines.Count; row++)
        {
            if (ProxyLine().Match(_lines[row].Message) is { Success: true } p && p.Groups["what"].Value == "drop")
            {
                drops.Add(new Drop(row, _lines[row].Id, KindOf(p.Groups["kind"].Value), false));
            }
            else if (DropReplyLine().Match(_lines[row].Message) is { Success: true } r)
            {
                drops.Add(new Drop(row, _lines[row].Id, KindOf(r.Groups["kind"].Value), true));
            }
        }
        // Losses are few (one call in ten at worst), so a plain search will do.
        var claimed = new bool[drops.Count];
        foreach (var m in messages.Where(m => m.NetId != 0 && m.LostRow >= 0).OrderBy(m => m.LostRow))
        {
            int after = m.RequestLost ? m.SendRow : m.ReplyRow;
            int i = drops.FindIndex(d => d.Row > after && d.Row < m.LostRow && d.At == m.To && d.Kind == m.Kind && d.Reply == m.ReplyLost);
            while (i >= 0 && claimed[i])
            {
                i = drops.FindIndex(i + 1, d => d.Row > after && d.Row < m.LostRow && d.At == m.To && d.Kind == m.Kind && d.Reply == m.ReplyLost);
            }
            if (after >= 0 && i >= 0)
            {
                claimed[i] = true;
                m.LostRow = drops[i].Row;
                m.LostAtReceiver = true;
            }
        }
    }

    /// <summary>A receiver's proxy line saying it dropped a call of this kind, or its reply.</summary>
    private sealed record Drop(int Row, string At, RpcKind Kind, bool Reply);

    /// <summary>What the network's lines say about one call.</summary>
    private sealed class NetCall(long id, RpcKind kind, string from, string to)
    {
        public long Id { get; } = id;

        public RpcKind Kind { get; } = kind;

        public string From { get; } = from;

        public string To { get; } = to;

        public int ArriveRow { get; set; } = -1;

        public int EndRow { get; set; } = -1;

        public bool Held { get; set; }

        public double? TravelMs { get; set; }

        /// <summary>The failure the sender got, or null if the reply came back.</summary>
        public string? Failure { get; set; }

        /// <summary>The latest time (µs of the log's clock) at which the call can have left.</summary>
        public long SentBound { get; set; } = long.MaxValue;

        /// <summary>Whether the receiver had stopped: a stopped CM answers without a line.</summary>
        public bool ReceiverDead { get; set; }

        public RpcMessage? Send { get; set; }

        public Handler? Handler { get; set; }
    }

    private static NetCall Call(Dictionary<long, NetCall> calls, Match m, string from, string to)
    {
        long id = long.Parse(m.Groups["id"].Value, CultureInfo.InvariantCulture);
        if (!calls.TryGetValue(id, out var call))
        {
            call = new NetCall(id, KindOf(m.Groups["kind"].Value), from, to);
            calls[id] = call;
        }
        return call;
    }

    /// <summary>Fills in a message from its call's lines.</summary>
    private static void Apply(NetCall call, RpcMessage message)
    {
        message.NetId = call.Id;
        message.Held = call.Held;
        message.TravelMs = call.TravelMs;
        if (call.ArriveRow < 0)
        {
            message.RequestLost = true;
            message.LostRow = call.EndRow;
            message.Note = call.Failure is { } f ? $"lost on the way: {f}" : "no arrival or end in the log (it ended first)";
            return;
        }
        message.ArriveRow = call.Handler?.Row ?? call.ArriveRow;
        if (call.Handler is { } h)
        {
            message.ReplyRow = h.ReplyRow;
            message.Reply = h.Reply;
            message.Ok = h.Reply is null ? null : Granted(h.Reply);
        }
        else
        {
            message.Note = "arrived, but the receiver logged no handler line (it had stopped)";
        }
        if (call.Failure is { } failure)
        {
            message.ReplyLost = true;
            message.LostRow = call.EndRow;
            message.Note = $"the reply was lost: {failure}";
        }
        else if (call.EndRow >= 0)
        {
            message.BackRow = call.EndRow;
        }
    }

    /// <summary>
    /// Pairs by the text alone: each handler line takes the latest unanswered "sending" line from
    /// its sender with the same arguments; the drop and delay lines of upstream's proxy mark the
    /// latest call to their server of their kind; each reply line at a sender takes the oldest
    /// unclaimed reply of the same text (RequestVote) or from the peer it names (AppendEntries).
    /// </summary>
    private void PairByText(List<RpcMessage> messages, List<Handler> handlers)
    {
        // Upstream's proxy logs "delay X" (held 75 ms) or "drop X" as a call comes in, just after it was sent.
        var toReceiver = new Keyed<(string, RpcKind), RpcMessage>(messages, m => (m.To, m.Kind), m => m.SendRow);
        for (int row = 0; row < _lines.Count; row++)
        {
            if (ProxyLine().Match(_lines[row].Message) is not { Success: true } p
                || toReceiver.LatestUnclaimed((_lines[row].Id, KindOf(p.Groups["kind"].Value)), m => m.SendRow < row) is not { } latest)
            {
                continue;
            }
            if (p.Groups["what"].Value == "delay")
            {
                latest.Held = true;
            }
            else
            {
                latest.RequestLost = true;
                latest.LostRow = row;
                latest.LostAtReceiver = true;
                latest.Note = "dropped by the receiver's network (drop)";
            }
        }

        // The latest call of the same text, not the oldest: an older one still unanswered was most
        // likely lost without a word (its connection closed). A held call arrives 75 ms late, after
        // the next copy of a heartbeat overtook it.
        var sends = new Keyed<(string, string, RpcKind, string), RpcMessage>(messages.Where(m => !m.RequestLost), m => (m.From, m.To, m.Kind, m.Args), m => m.SendRow);
        foreach (var h in handlers)
        {
            if (sends.LatestUnclaimed((h.From, h.At, h.Kind, h.Args), m => m.SendRow < h.Row, m => !m.Held || _micros[h.Row] - _micros[m.SendRow] >= 50_000) is { } send)
            {
                send.ArriveRow = h.Row;
                send.ReplyRow = h.ReplyRow;
                send.Reply = h.Reply;
                send.Ok = h.Reply is null ? null : Granted(h.Reply);
            }
        }

        // Replies back at the sender: RequestVote's line names no peer, so it is matched by its text.
        var votes = new Keyed<(string, string), RpcMessage>(
            messages.Where(m => m.Kind == RpcKind.RequestVote && m.Reply is not null), m => (m.From, m.Reply!), m => m.ReplyRow);
        var appends = new Keyed<(string, string, bool?), RpcMessage>(
            messages.Where(m => m.Kind == RpcKind.AppendEntries && m.Reply is not null), m => (m.From, m.To, m.Ok), m => m.ReplyRow);
        for (int row = 0; row < _lines.Count; row++)
        {
            var line = _lines[row];
            RpcMessage? back = null;
            if (ReceivedVoteLine().Match(line.Message) is { Success: true } v)
            {
                back = votes.FirstUnclaimedBefore((line.Id, v.Groups["reply"].Value), row, _ => true);
            }
            else if (AppendReplyLine().Match(line.Message) is { Success: true } r)
            {
                back = appends.FirstUnclaimedBefore((line.Id, r.Groups["peer"].Value, r.Groups["status"].Value == "success"), row, _ => true);
            }
            if (back is not null)
            {
                back.BackRow = row;
            }
        }

        var unanswered = messages.Where(m => m.ArriveRow < 0 && !m.RequestLost).ToList();
        foreach (var m in unanswered)
        {
            m.RequestLost = true;
            m.Note = "no arrival in the log";
        }
        MarkSenderDrops(unanswered);
        foreach (var m in messages.Where(m => m.ReplyRow >= 0 && m.BackRow < 0))
        {
            m.Note = "the log has no line where the reply reached the sender";
        }
    }

    /// <summary>
    /// Items grouped by a key, each group in row order, each item claimed at most once: the
    /// searches above, without scanning a long log once per line.
    /// </summary>
    private sealed class Keyed<TKey, T>
        where TKey : notnull
        where T : class
    {
        /// <summary>How far a search looks past the first candidate for one that fits better.</summary>
        private const int Window = 16;

        private readonly Dictionary<TKey, Group> _groups = [];

        public Keyed(IEnumerable<T> items, Func<T, TKey> key, Func<T, int> row)
        {
            foreach (var group in items.GroupBy(key))
            {
                var list = group.OrderBy(row).ToList();
                _groups[group.Key] = new Group(list, [.. list.Select(row)]);
            }
        }

        /// <summary>One key's items in row order, which of them are claimed, and where the unclaimed ones start.</summary>
        private sealed class Group(List<T> items, int[] rows)
        {
            public List<T> Items { get; } = items;

            public int[] Rows { get; } = rows;

            public bool[] Claimed { get; } = new bool[items.Count];

            /// <summary>Every item before this one is claimed.</summary>
            public int Head { get; set; }

            public T Take(int i)
            {
                Claimed[i] = true;
                while (Head < Items.Count && Claimed[Head])
                {
                    Head++;
                }
                return Items[i];
            }
        }

        /// <summary>
        /// The latest unclaimed item that passes <paramref name="fits"/> and, if given,
        /// <paramref name="accept"/>, claimed. The items that fit must come first (a test of "no
        /// later than"), so a binary search finds the last of them.
        /// </summary>
        public T? LatestUnclaimed(TKey key, Func<T, bool> fits, Func<T, bool>? accept = null)
        {
            if (!_groups.TryGetValue(key, out var g))
            {
                return null;
            }
            int lo = g.Head, hi = g.Items.Count;   // lo ends at the first item that does not fit
            while (lo < hi)
            {
                int mid = (lo + hi) / 2;
                if (fits(g.Items[mid]))
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }
            for (int i = lo - 1; i >= g.Head && i >= lo - (Window * 4); i--)
            {
                if (!g.Claimed[i] && (accept is null || accept(g.Items[i])))
                {
                    return g.Take(i);
                }
            }
            return null;
        }

        /// <summary>
        /// The first unclaimed item after <paramref name="row"/>, or the first of the next few
        /// that passes <paramref name="prefer"/>, claimed.
        /// </summary>
        public T? FirstUnclaimedAfter(TKey key, int row, Func<T, bool> prefer)
        {
            if (!_groups.TryGetValue(key, out var g))
            {
                return null;
            }
            int start = Array.BinarySearch(g.Rows, row + 1);
            start = Math.Max(g.Head, start < 0 ? ~start : start);
            int first = -1, seen = 0;
            for (int i = start; i < g.Items.Count && seen < Window; i++)
            {
                if (g.Claimed[i])
                {
                    continue;
                }
                if (prefer(g.Items[i]))
                {
                    return g.Take(i);
                }
                first = first < 0 ? i : first;
                seen++;
            }
            return first < 0 ? null : g.Take(first);
        }

        /// <summary>The first unclaimed item before <paramref name="row"/> that <paramref name="fits"/>, claimed.</summary>
        public T? FirstUnclaimedBefore(TKey key, int row, Func<T, bool> fits)
        {
            if (!_groups.TryGetValue(key, out var g))
            {
                return null;
            }
            for (int i = g.Head, seen = 0; i < g.Items.Count && g.Rows[i] < row && seen < Window; i++)
            {
                if (g.Claimed[i])
                {
                    continue;
                }
                if (fits(g.Items[i]))
                {
                    return g.Take(i);
                }
                seen++;
            }
            return null;
        }
    }

    /// <summary>
    /// The sender's own proxy refusing calls (Part3's DropCallsAfterN) says "drop Call X: ARGS"
    /// right after the "sending" line, without naming the peer: each such line goes to the latest
    /// unmatched call of that sender with that text.
    /// </summary>
    private void MarkSenderDrops(List<RpcMessage> candidates)
    {
        var bySender = new Keyed<(string, RpcKind, string), RpcMessage>(candidates, m => (m.From, m.Kind, m.Args), m => m.SendRow);
        for (int row = 0; row < _lines.Count; row++)
        {
            if (DropCallLine().Match(_lines[row].Message) is { Success: true } d
                && bySender.LatestUnclaimed((_lines[row].Id, KindOf(d.Groups["kind"].Value), d.Groups["args"].Value), m => m.SendRow < row) is { } m)
            {
                m.LostRow = row;
                m.Note = "dropped by the sender's proxy before it left (drop Call)";
            }
        }
    }

    /// <summary>Whether a reply granted the vote (RequestVote) or took the entries (AppendEntries).</summary>
    private static bool? Granted(string reply) =>
        OkField().Match(reply) is { Success: true } m ? m.Groups["value"].Value.Equals("true", StringComparison.OrdinalIgnoreCase) : null;

    private static RpcKind KindOf(string name) => name.EndsWith("RequestVote", StringComparison.Ordinal) ? RpcKind.RequestVote : RpcKind.AppendEntries;

    private static double Ms(Match m) => double.Parse(m.Groups["ms"].Value, CultureInfo.InvariantCulture);

    /// <summary>
    /// Each line's time of day in microseconds. A log that runs past midnight goes on counting,
    /// so times keep their order; an unreadable time takes the one before it.
    /// </summary>
    private static long[] Micros(List<LogLine> lines)
    {
        var micros = new long[lines.Count];
        long day = 0, previous = 0;
        for (int i = 0; i < lines.Count; i++)
        {
            if (!TimeSpan.TryParseExact(lines[i].Time, [@"h\:mm\:ss\.FFFFFFF", @"h\:mm\:ss"], CultureInfo.InvariantCulture, out var t))
            {
                micros[i] = previous;
                continue;
            }
            long now = day + (t.Ticks / 10);
            if (now < previous - (12L * 3600 * 1_000_000))
            {
                day += 24L * 3600 * 1_000_000;
                now += 24L * 3600 * 1_000_000;
            }
            micros[i] = now;
            previous = now;
        }
        return micros;
    }

    /// <summary>"sending RequestVote to 0: ARGS"; AppendEntries has "ni=N, args=ARGS" (Go and C# alike).</summary>
    [GeneratedRegex(@"^sending (?<kind>RequestVote|AppendEntries) to (?<to>\w+): (?:ni=-?\d+, args=)?(?<args>.*)$")]
    private static partial Regex SendLine();

    /// <summary>The handler's first line: "RequestVote: ARGS [currentTerm=...]" or "AppendEntries: ARGS".</summary>
    [GeneratedRegex(@"^(?<kind>RequestVote|AppendEntries): (?<args>.*)$")]
    private static partial Regex HandlerLine();

    /// <summary>The handler's last line: "... RequestVote reply: R" or "AppendEntries reply: R".</summary>
    [GeneratedRegex(@"^(?:\.\.\. )?(?<kind>RequestVote|AppendEntries) reply: (?<reply>.*)$")]
    private static partial Regex ReplyOutLine();

    /// <summary>The candidate's line for a reply: "received RequestVoteReply R".</summary>
    [GeneratedRegex(@"^received RequestVoteReply (?<reply>.*)$")]
    private static partial Regex ReceivedVoteLine();

    /// <summary>The leader's line for a reply (Part2 on): "AppendEntries reply from 1 success: ..." or "!success".</summary>
    [GeneratedRegex(@"^AppendEntries reply from (?<peer>\w+) (?<status>!?success)\b")]
    private static partial Regex AppendReplyLine();

    /// <summary>The network's line where a call arrives: "net: #17 RequestVote from 2 arrives after 3.214 ms (held)".</summary>
    [GeneratedRegex(@"^net: #(?<id>\d+) (?<kind>RequestVote|AppendEntries) from (?<from>\w+) arrives after (?<ms>[\d.]+) ms(?<held> \(held\))?$")]
    private static partial Regex NetArriveLine();

    /// <summary>The network's line where a call ends at its sender: "... reply from 0 after 3.9 ms" or "... to 0 failed after 0.1 ms: why".</summary>
    [GeneratedRegex(@"^net: #(?<id>\d+) (?<kind>RequestVote|AppendEntries) (?:reply from (?<peer>\w+)|to (?<peer>\w+) failed) after (?<ms>[\d.]+) ms(?:: (?<failure>.*))?$")]
    private static partial Regex NetEndLine();

    /// <summary>Upstream's proxy, at the receiver: "drop RequestVote", "delay AppendEntries".</summary>
    [GeneratedRegex(@"^(?<what>drop|delay) (?<kind>RequestVote|AppendEntries)$")]
    private static partial Regex ProxyLine();

    /// <summary>The simulated network at the receiver, losing a reply after the handler ran: "drop reply to RequestVote".</summary>
    [GeneratedRegex(@"^drop reply to (?<kind>RequestVote|AppendEntries)$")]
    private static partial Regex DropReplyLine();

    /// <summary>Upstream's proxy, at the sender (DropCallsAfterN): "drop Call ConsensusModule.AppendEntries: ARGS".</summary>
    [GeneratedRegex(@"^drop Call (?:\w+\.)?(?<kind>RequestVote|AppendEntries): (?<args>.*)$")]
    private static partial Regex DropCallLine();

    /// <summary>The sender in the arguments: C#'s "CandidateId = 2" or Go's "CandidateId:2" (LeaderId likewise).</summary>
    [GeneratedRegex(@"\b(?:CandidateId|LeaderId)(?: = |:)(?<id>\w+)")]
    private static partial Regex SenderField();

    /// <summary>The entries in AppendEntries' arguments: "Entries = [...]" or "Entries:[...]".</summary>
    [GeneratedRegex(@"\bEntries(?: = |:)\[(?<list>.*)\]")]
    private static partial Regex EntriesField();

    /// <summary>The verdict of a reply: "VoteGranted = True", "Success:false".</summary>
    [GeneratedRegex(@"\b(?:VoteGranted|Success)(?: = |:)(?<value>\w+)")]
    private static partial Regex OkField();
}
