// A linearizability checker for histories of KV operations: Wing & Gong's search with Lowe's
// memoization of visited states, run separately for each key.
using System.Globalization;
using System.Text;

namespace Kv.Tests;

/// <summary>The four operations of the KV service.</summary>
public enum OpKind
{
    Get,
    Put,
    Append,
    CAS,
}

/// <summary>
/// What an operation answered: for Get the value and whether the key was found; for Put, Append and
/// CAS the value before and whether the key existed (the data store's previous-value results).
/// </summary>
public sealed record KvOutput(string Value, bool Found);

/// <summary>
/// One operation as a client saw it. <see cref="Value"/> is what Put, Append and CAS write;
/// <see cref="Compare"/> is CAS's expected value. A null <see cref="Output"/> means the operation
/// failed, timed out or was cancelled: it may have taken effect at any time after its call, or never.
/// Times are ticks of any monotonic clock; <see cref="Return"/> is ignored when the output is unknown.
/// </summary>
public sealed record KvOperation(
    int ClientId, OpKind Kind, string Key, string? Value, string? Compare, KvOutput? Output, long Call, long Return)
{
    /// <summary>A one-line description for failure reports.</summary>
    public override string ToString()
    {
        string args = Kind switch
        {
            OpKind.Get => $"\"{Key}\"",
            OpKind.CAS => $"\"{Key}\", \"{Compare}\", \"{Value}\"",
            _ => $"\"{Key}\", \"{Value}\"",
        };
        string result = Output is null ? "unknown" : $"(\"{Output.Value}\", {Output.Found})";
        string end = Output is null ? "?" : Return.ToString(CultureInfo.InvariantCulture);
        return $"client {ClientId} [{Call}, {end}] {Kind}({args}) -> {result}";
    }
}

/// <summary>
/// The verdict. When the history is not linearizable, <see cref="BadKey"/> is the failing key with
/// the fewest operations and <see cref="BadOperations"/> are its operations in call order.
/// </summary>
public sealed record CheckResult(bool Ok, string? BadKey, IReadOnlyList<KvOperation>? BadOperations)
{
    /// <summary>A readable verdict, listing the bad key's operations if there is one.</summary>
    public string Explain()
    {
        if (Ok)
        {
            return "linearizable";
        }
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture,
            $"not linearizable: no order of the {BadOperations!.Count} operations on key \"{BadKey}\" fits both their times and their results:");
        foreach (var op in BadOperations)
        {
            sb.Append("\n  ").Append(op);
        }
        return sb.ToString();
    }
}

/// <summary>
/// Decides whether a history of KV operations is linearizable: whether each operation can be given a
/// single instant between its call and its return such that, taken in that order, a sequential store
/// would have given every answer the clients saw.
/// </summary>
/// <remarks>
/// Every KV operation touches one key, and keys are independent, so a history is linearizable if and
/// only if each key's sub-history is (Herlihy and Wing call this locality). Checking keys one by one
/// keeps each search small, which matters because the search is exponential in the worst case.
/// The costly case in practice is writes with unknown outcomes: each stays a candidate until the end,
/// and the search may try them in every order. Two shortcuts in <see cref="CheckKey"/> keep a per cent
/// of them cheap, but dozens on one key can still make the search slow.
/// </remarks>
public static class Linearizability
{
    /// <summary>Checks <paramref name="history"/> against a sequential model of the data store.</summary>
    public static CheckResult Check(IReadOnlyList<KvOperation> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        foreach (var op in history)
        {
            Validate(op);
        }

        // A failed Get changed nothing and told us nothing, so it cannot matter.
        var partitions = history
            .Where(op => !(op.Kind == OpKind.Get && op.Output is null))
            .GroupBy(op => op.Key, StringComparer.Ordinal)
            .Select(g => g.ToList())
            // Smallest first, so the first failure found is the smallest bad key.
            .OrderBy(ops => ops.Count)
            .ThenBy(ops => ops[0].Key, StringComparer.Ordinal);

        foreach (var ops in partitions)
        {
            if (!CheckKey(ops))
            {
                return new CheckResult(false, ops[0].Key, [.. ops.OrderBy(op => op.Call)]);
            }
        }
        return new CheckResult(true, null, null);
    }

    /// <summary>Rejects operations that do not make sense, so the search can trust its input.</summary>
    private static void Validate(KvOperation op)
    {
        ArgumentNullException.ThrowIfNull(op);
        if (op.Kind != OpKind.Get && op.Value is null)
        {
            throw new ArgumentException($"{op.Kind} needs a value: {op}", nameof(op));
        }
        if (op.Kind == OpKind.CAS && op.Compare is null)
        {
            throw new ArgumentException($"CAS needs a compare value: {op}", nameof(op));
        }
        if (op.Output is not null && op.Return < op.Call)
        {
            throw new ArgumentException($"returns before its call: {op}", nameof(op));
        }
    }

    /// <summary>
    /// The sequential model of one key: null is "absent". Applies <paramref name="op"/> to
    /// <paramref name="state"/>, and says whether the store would have answered what the client saw.
    /// An unknown output fits anything.
    /// </summary>
    private static (bool Ok, string? Next) Step(string? state, KvOperation op)
    {
        bool fits = op.Output is null || (op.Output.Found == (state is not null) && op.Output.Value == (state ?? ""));
        string? next = op.Kind switch
        {
            OpKind.Get => state,
            OpKind.Put => op.Value,
            OpKind.Append => state + op.Value,
            // Like DataStore.CAS: a missing key is never created.
            OpKind.CAS => state is not null && state == op.Compare ? op.Value : state,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op.Kind, "unknown kind"),
        };
        return (fits, next);
    }

    /// <summary>A call or a return, in a doubly linked list of one key's events in time order.</summary>
    private sealed class Entry(int id, KvOperation op, bool isCall, long time)
    {
        /// <summary>The operation's index in this key's list; its bit in the linearized set.</summary>
        public int Id { get; } = id;

        public KvOperation Op { get; } = op;

        public bool IsCall { get; } = isCall;

        /// <summary>When the event happened.</summary>
        public long Time { get; } = time;

        /// <summary>Whether this is the call of an operation with an unknown outcome, which never returns.</summary>
        public bool IsPending => IsCall && Op.Output is null;

        /// <summary>For a call, its return; for a return, its call.</summary>
        public Entry? Match { get; set; }

        public Entry? Prev { get; set; }

        public Entry? Next { get; set; }
    }

    /// <summary>
    /// Wing &amp; Gong's search for one key. Walk the events in time order. At a call, try to
    /// linearize that operation now: if the model accepts its output, take it out of the list and start
    /// again from the front, remembering the choice on a stack. At a return, the operation returning
    /// was never linearized, but every operation that could have gone before it has been tried, so the
    /// last choice was wrong: undo it and try the next candidate after it.
    /// Lowe's improvement: the future of the search depends only on which operations are linearized and
    /// on the model's state, so a (set, state) pair seen before need not be explored again.
    /// Operations with unknown outcomes never return, so they wait in a pool of their own and are tried
    /// only after the completed candidates, newest call first: the papers' search would try the oldest
    /// first at every step, in every order, though most such operations never took effect.
    /// </summary>
    private static bool CheckKey(List<KvOperation> ops)
    {
        var (head, pool) = BuildEvents(ops);
        var linearized = new Bitset(ops.Count);
        var seen = new HashSet<(Bitset Set, string? State)>();
        var stack = new Stack<(Entry Call, string? State)>();
        string? state = null;

        var entry = Candidate(head.Next);
        // Done once every completed operation is linearized: the unknown ones left over may have
        // happened at the end, unseen, or never.
        while (head.Next is not null)
        {
            if (entry is null)
            {
                // Every candidate failed here: the last choice was wrong.
                if (stack.Count == 0)
                {
                    return false;
                }
                var (call, before) = stack.Pop();
                state = before;
                linearized.Clear(call.Id);
                Unlift(call);
                entry = Candidate(call.Next);
                continue;
            }

            var (ok, next) = Step(state, entry.Op);
            // An unknown operation that would change nothing now might as well never happen.
            if (ok && !(entry.IsPending && next == state))
            {
                linearized.Set(entry.Id);
                if (!seen.Contains((linearized, next)))
                {
                    seen.Add((linearized.Clone(), next));
                    stack.Push((entry, state));
                    state = next;
                    Lift(entry);
                    entry = Candidate(head.Next);
                    continue;
                }
                linearized.Clear(entry.Id);
            }
            entry = Candidate(entry.Next);
        }
        return true;

        // The first operation that may be linearized now, from position e on: a completed call before
        // the first return, then a pooled call made before that return.
        Entry? Candidate(Entry? e)
        {
            if (e is not null && !e.IsPending)
            {
                if (e.IsCall)
                {
                    return e;
                }
                e = pool.Next;
            }
            long firstReturn = FirstReturn(head);
            while (e is not null && e.Time > firstReturn)
            {
                e = e.Next;
            }
            return e;
        }
    }

    /// <summary>When the earliest return still in the list happens; every call before it is a candidate.</summary>
    private static long FirstReturn(Entry head)
    {
        var e = head.Next;
        while (e is not null && e.IsCall)
        {
            e = e.Next;
        }
        return e?.Time ?? long.MaxValue;
    }

    /// <summary>
    /// Builds the list of completed operations' events, and the pool of unknown ones' calls, newest
    /// first, each behind a sentinel head.
    /// </summary>
    private static (Entry Head, Entry Pool) BuildEvents(List<KvOperation> ops)
    {
        var events = new List<Entry>(2 * ops.Count);
        var pending = new List<Entry>();
        for (int i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            var call = new Entry(i, op, isCall: true, op.Call);
            if (call.IsPending)
            {
                pending.Add(call);
                continue;
            }
            var ret = new Entry(i, op, isCall: false, op.Return);
            call.Match = ret;
            ret.Match = call;
            events.Add(call);
            events.Add(ret);
        }

        // At equal times calls go first: operations that merely touch count as concurrent, the
        // generous reading when a clock cannot tell them apart.
        events.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : b.IsCall.CompareTo(a.IsCall));
        pending.Sort((a, b) => b.Time.CompareTo(a.Time));
        return (Chain(events), Chain(pending));

        Entry Chain(List<Entry> entries)
        {
            var head = new Entry(-1, ops[0], isCall: false, long.MinValue);
            var last = head;
            foreach (var e in entries)
            {
                last.Next = e;
                e.Prev = last;
                last = e;
            }
            return head;
        }
    }

    /// <summary>Unlinks a call and its return, if any; their own links are kept for <see cref="Unlift"/>.</summary>
    private static void Lift(Entry call)
    {
        Unlink(call);
        if (call.Match is not null)
        {
            Unlink(call.Match);
        }

        static void Unlink(Entry e)
        {
            e.Prev!.Next = e.Next;
            if (e.Next is not null)
            {
                e.Next.Prev = e.Prev;
            }
        }
    }

    /// <summary>Undoes <see cref="Lift"/>, relinking in the reverse order of unlinking.</summary>
    private static void Unlift(Entry call)
    {
        if (call.Match is not null)
        {
            Relink(call.Match);
        }
        Relink(call);

        static void Relink(Entry e)
        {
            e.Prev!.Next = e;
            if (e.Next is not null)
            {
                e.Next.Prev = e;
            }
        }
    }

    /// <summary>A fixed-size set of operation ids, compared by content so it can key the memo.</summary>
    private sealed class Bitset : IEquatable<Bitset>
    {
        /// <summary>Bit i of word i / 64 says whether operation i is in the set.</summary>
        private readonly ulong[] _words;

        public Bitset(int size) => _words = new ulong[(size + 63) / 64];

        private Bitset(ulong[] words) => _words = words;

        public void Set(int i) => _words[i >> 6] |= 1UL << (i & 63);

        public void Clear(int i) => _words[i >> 6] &= ~(1UL << (i & 63));

        public Bitset Clone() => new((ulong[])_words.Clone());

        public bool Equals(Bitset? other) => other is not null && _words.AsSpan().SequenceEqual(other._words);

        public override bool Equals(object? obj) => Equals(obj as Bitset);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (ulong w in _words)
            {
                hash.Add(w);
            }
            return hash.ToHashCode();
        }
    }
}
