// What each live update carries, and how one page's stream works out what changed since its
// previous update, so the logs and the data stores travel once, not on every update.
namespace RaftPlayground;

/// <summary>
/// One live update: what GET /api/state answers, except that the logs, the data stores and
/// the lines are only what changed since the previous update on the same stream (everything in
/// the first). Null fields are left out of the JSON: the cards carry no data, non-leaders no
/// nextIndex or matchIndex.
/// </summary>
/// <param name="Logs">Each server's log from the first index that changed (a restarted server's from 0); servers whose log did not change are absent.</param>
/// <param name="Data">Each server's data store changes; servers whose store did not change are absent.</param>
/// <param name="Lines">The log lines written since the previous update, at most <see cref="LiveUpdateWriter.MaxLines"/>.</param>
/// <param name="Messages">The messages on their way, and those ended since the previous update, with counts of all sent since then.</param>
/// <param name="LinesSkipped">How many lines were written since the previous update but left out, being too many to send (or to read).</param>
internal sealed record LiveUpdate(
    int Servers, bool CanControl, string Network, IReadOnlyList<IReadOnlyList<int>>? Groups, IReadOnlyList<LinkView> Links,
    IReadOnlyList<ServerView> Cards, IReadOnlyList<LogView> Logs, IReadOnlyList<DataChange> Data,
    TimelineView Timeline, IReadOnlyList<LiveLine> Lines, long LinesSkipped, ScenarioView? Scenario, ClockView Clock, MessagesView Messages);

/// <summary>
/// A change to server <paramref name="Id"/>'s data store: with <paramref name="Reset"/>, it is
/// <paramref name="Set"/> and nothing else (the first update, a crash, which empties it, or a
/// restart); otherwise <paramref name="Set"/> holds the keys that are new or have a new value.
/// </summary>
internal sealed record DataChange(int Id, bool Reset, IReadOnlyDictionary<string, string> Set);

/// <summary>
/// One stream's memory of what it has sent: each server's log terms and commit index, its data
/// store, and the last line. A committed entry never changes on a server (the tests' safety
/// monitor checks as much), so a log is compared only from the entry after the commit index it
/// had at the last update: the cost of an update is what changed, not the length of the logs.
/// </summary>
internal sealed class LiveUpdateWriter(int servers)
{
    /// <summary>The most log lines one update carries; a busy cluster writes far more than anyone reads.</summary>
    public const int MaxLines = 80;

    /// <summary>
    /// The most characters of lines one update carries: an idle cluster at 1× writes some 80 KB of
    /// lines a second, far more than anyone reads as they scroll by; this keeps the stream to about
    /// 40 KB a second in all (the lines are whole in the log's own view, and in a recording).
    /// </summary>
    public const int MaxLineChars = 6_000;

    /// <summary>The longest message a line keeps in an update; the rest is cut, saying how much.</summary>
    public const int MaxMessageChars = 400;

    /// <summary>The module each server's sent log was read from; null until sent, or when it must be sent whole again.</summary>
    private readonly object?[] _module = new object?[servers];

    /// <summary>Each server's log terms as sent.</summary>
    private readonly List<int>[] _terms = [.. Enumerable.Range(0, servers).Select(_ => new List<int>())];

    /// <summary>Each server's commit index when its log was last read.</summary>
    private readonly int[] _commit = [.. Enumerable.Repeat(-1, servers)];

    /// <summary>Each server's data store as sent; null for none sent yet, or sent empty by a crash.</summary>
    private readonly Dictionary<string, string>?[] _data = new Dictionary<string, string>?[servers];

    /// <summary>The number of the last line sent.</summary>
    private long _lastSeq;

    /// <summary>Where each server's log must be read from: after the last entry known committed at the last update (all of it, the first time).</summary>
    public int[] LogFrom() =>
        [.. Enumerable.Range(0, servers).Select(i => _module[i] is null ? 0 : Math.Min(_terms[i].Count, _commit[i] + 1))];

    /// <summary>The line after which this stream's next lines start.</summary>
    public long LastSeq => _lastSeq;

    /// <summary>The changes in <paramref name="readings"/> (read from <see cref="LogFrom"/>), remembered as sent.</summary>
    public (IReadOnlyList<ServerView> Cards, IReadOnlyList<LogView> Logs, IReadOnlyList<DataChange> Data) Changes(IReadOnlyList<ServerReading> readings)
    {
        var cards = new List<ServerView>();
        var logs = new List<LogView>();
        var data = new List<DataChange>();
        foreach (ServerReading r in readings)
        {
            int id = r.Card.Id;
            cards.Add(r.Card with { Data = null });
            if (LogChange(id, r) is { } log)
            {
                logs.Add(log);
            }
            if (DataChangeOf(id, r.Card.Data) is { } change)
            {
                data.Add(change);
            }
        }
        return (cards, logs, data);
    }

    /// <summary>Server <paramref name="id"/>'s log from its first changed entry, or null if it did not change.</summary>
    private LogView? LogChange(int id, ServerReading r)
    {
        List<int> sent = _terms[id];
        bool whole = !ReferenceEquals(_module[id], r.Module);
        if (whole)
        {
            if (r.LogFrom > 0)
            {
                // A restarted server: its new module was read from where the old one's log had
                // got to, which says nothing about the new one. Sent whole on the next update.
                _module[id] = null;
                return null;
            }
            sent.Clear();
        }
        _module[id] = r.Module;
        _commit[id] = r.Card.CommitIndex;
        int from = r.LogFrom, k = 0;
        while (k < r.Terms.Length && from + k < sent.Count && sent[from + k] == r.Terms[k])
        {
            k++;
        }
        int first = from + k;
        if (!whole && k == r.Terms.Length && first == sent.Count)
        {
            return null;
        }
        sent.RemoveRange(first, sent.Count - first);
        sent.AddRange(r.Terms.AsSpan(k));
        return new LogView(id, first, LogView.RunsOf(r.Terms.AsSpan(k)));
    }

    /// <summary>Server <paramref name="id"/>'s data store change, or null if it did not change.</summary>
    private DataChange? DataChangeOf(int id, IReadOnlyDictionary<string, string>? now)
    {
        Dictionary<string, string>? sent = _data[id];
        if (now is null)
        {
            _data[id] = null;
            return sent is null ? null : new DataChange(id, true, new Dictionary<string, string>());
        }
        if (sent is null || sent.Keys.Any(k => !now.ContainsKey(k)))
        {
            _data[id] = new Dictionary<string, string>(now, StringComparer.Ordinal);
            return new DataChange(id, true, now);
        }
        var set = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in now)
        {
            if (!sent.TryGetValue(key, out string? before) || before != value)
            {
                set[key] = value;
                sent[key] = value;
            }
        }
        return set.Count == 0 ? null : new DataChange(id, false, set);
    }

    /// <summary>
    /// The latest lines after the last sent, within <see cref="MaxLines"/> and
    /// <see cref="MaxLineChars"/>, each message cut at <see cref="MaxMessageChars"/>; and how
    /// many lines were left out before them.
    /// </summary>
    public (IReadOnlyList<LiveLine> Lines, long Skipped) Lines(LiveLog log)
    {
        IReadOnlyList<LiveLine> newer = log.LinesAfter(_lastSeq, MaxLines);
        if (newer.Count == 0)
        {
            return (newer, 0);
        }
        // The newest lines that fit, counted from the end.
        var kept = new List<LiveLine>();
        int chars = 0;
        for (int k = newer.Count - 1; k >= 0; k--)
        {
            LiveLine line = newer[k];
            if (line.Message.Length > MaxMessageChars)
            {
                line = line with { Message = $"{line.Message[..MaxMessageChars]}… ({line.Message.Length - MaxMessageChars} more characters)" };
            }
            chars += line.Message.Length + line.Time.Length + line.Id.Length;
            if (chars > MaxLineChars && kept.Count > 0)
            {
                break;
            }
            kept.Add(line);
        }
        kept.Reverse();
        long skipped = _lastSeq == 0 ? 0 : kept[0].Seq - _lastSeq - 1;
        _lastSeq = kept[^1].Seq;
        return (kept, skipped);
    }
}
