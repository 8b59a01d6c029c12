// A simulated run, recorded as it happens: every step of every message, every change of every
// server's state, and the test's own steps, each at its moment of cluster time. TestLogViz's
// player reads it back to show the cluster as it was at any moment (format: Tools/README.md).
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Lab;

/// <summary>
/// What a recording knows of one server at one moment; a harness builds it from the part's own
/// <c>Status()</c> (the lab references no part).
/// </summary>
/// <param name="Role">Follower, Candidate, Leader or Dead.</param>
/// <param name="Status">connected, disconnected (cut off from its peers) or crashed.</param>
/// <param name="Log">The log's entries in order: each its term and its command (written as text when it changes).</param>
/// <param name="NextIndex">A leader's nextIndex per peer; null for a server not leading now (and so <paramref name="MatchIndex"/>).</param>
/// <param name="TimerStart">When its election timer last started (a timestamp of the run's clock), or null with no timer running (a leader, a dead server).</param>
/// <param name="Timeout">How long that timer runs before an election.</param>
public sealed record ServerView(
    string Role, int Term, int VotedFor, string Status, IReadOnlyList<(int Term, object Command)> Log,
    int CommitIndex, int LastApplied, IReadOnlyDictionary<int, int>? NextIndex, IReadOnlyDictionary<int, int>? MatchIndex,
    long? TimerStart, TimeSpan Timeout);

/// <summary>
/// Records one simulated run. The harness hands it to the run's <see cref="ClusterLog"/>,
/// <see cref="Network"/> and <see cref="SafetyMonitor"/>, which tell it what happens; after each
/// line and each message step it looks, through <c>view</c>, at the servers they are about (all of
/// them after a line of the test's own) and keeps what changed. At the end, <see cref="ToLine"/> gives the whole recording as one line of the test's
/// output, where TestLogViz finds it. Everything runs on the simulation's thread.
/// </summary>
/// <param name="sim">The run's simulation: its clock stamps every event.</param>
/// <param name="servers">How many servers the cluster has (ids 0 to servers-1).</param>
/// <param name="view">A server's state now, or null before the server exists.</param>
/// <param name="isHeartbeat">Whether a message's arguments are an AppendEntries with no entries.</param>
/// <param name="replyOk">Whether a reply granted the vote or accepted the entries (null: not a reply the part defines).</param>
public sealed class Recorder(Simulation sim, int servers, Func<int, ServerView?> view, Func<object, bool> isHeartbeat, Func<object, bool?> replyOk)
{
    /// <summary>The format's version; a reader refuses any other.</summary>
    public const int Version = 1;

    /// <summary>What the recording's line in a test's output starts with; the JSON follows it.</summary>
    public const string LinePrefix = "RAFT-RECORDING ";

    /// <summary>The format's name, the recording's first field.</summary>
    public const string FormatName = "raft-recording";

    /// <summary>The events so far, each one JSON object.</summary>
    private readonly List<string> _events = [];

    /// <summary>What was last recorded of each server.</summary>
    private readonly ServerView?[] _last = new ServerView?[servers];

    /// <summary>The links cut when last recorded (see <see cref="Links"/>).</summary>
    private List<(int From, int To)> _cut = [];

    /// <summary>Set once the run's recording has been written out: later events are not kept.</summary>
    private bool _done;

    /// <summary>Whether the test's own failure has been recorded (only the first counts).</summary>
    private bool _failed;

    /// <summary>The run's cluster time now, in milliseconds.</summary>
    private double NowMs => Ms(sim.Clock.GetTimestamp());

    /// <summary>The cluster time of <paramref name="timestamp"/> (a timestamp of the simulation's clock), in milliseconds.</summary>
    private double Ms(long timestamp) => timestamp * 1000.0 / sim.Clock.TimestampFrequency;

    /// <summary>
    /// A line of the log: the test's own lines are its steps. A server's line ("[2] ...", or a KV
    /// service's "[kv 2] ...") may follow a change of that server's state; any other line (the
    /// test crashing or cutting off a server, say) of any server's.
    /// </summary>
    public void Line(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.StartsWith("[TEST] ", StringComparison.Ordinal))
        {
            Add("step", w => w.WriteString("text", message["[TEST] ".Length..]));
        }
        if (ServerOf(message) is { } id)
        {
            Look(id);
        }
        else
        {
            Look();
        }
    }

    /// <summary>The server a line is about, from its tag: "[2] ..." or "[kv 2] ..."; null for any other.</summary>
    private int? ServerOf(string message)
    {
        if (!message.StartsWith('['))
        {
            return null;
        }
        int end = message.IndexOf(']', StringComparison.Ordinal);
        if (end < 0)
        {
            return null;
        }
        ReadOnlySpan<char> tag = message.AsSpan(1, end - 1);
        if (tag.StartsWith("kv "))
        {
            tag = tag["kv ".Length..];
        }
        return int.TryParse(tag, NumberStyles.None, CultureInfo.InvariantCulture, out int id) && id < _last.Length ? id : null;
    }

    /// <summary>One step of a message's journey; the servers at both ends are looked at after it.</summary>
    public void Message(MessageEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        Add("message", w =>
        {
            w.WriteNumber("id", e.Id);
            w.WriteString("step", StepName(e.Kind));
            w.WriteNumber("from", e.From);
            w.WriteNumber("to", e.To);
            w.WriteString("method", e.Method);
            if (e.Kind == MessageEventKind.Sent)
            {
                w.WriteBoolean("heartbeat", isHeartbeat(e.Args));
                w.WriteString("args", Text(e.Args));
            }
            if (e.Kind is MessageEventKind.Delayed or MessageEventKind.Held or MessageEventKind.ReplyHeld or MessageEventKind.ReplyDelayed)
            {
                w.WriteNumber("delayMs", Math.Round(e.Delay.TotalMilliseconds, 3));
            }
            if (e.Kind == MessageEventKind.Replied && e.Reply is { } reply)
            {
                w.WriteString("reply", Text(reply));
                if (replyOk(reply) is { } ok)
                {
                    w.WriteBoolean("ok", ok);
                }
            }
            if (e.Reason is { } reason)
            {
                w.WriteString("reason", reason);
            }
        });
        Look(e.From);
        Look(e.To);
    }

    /// <summary>The links the network cuts now (one way each), as <paramref name="linked"/> says; recorded when they changed.</summary>
    public void Links(Func<int, int, bool> linked)
    {
        ArgumentNullException.ThrowIfNull(linked);
        var cut = new List<(int From, int To)>();
        for (int from = 0; from < _last.Length; from++)
        {
            for (int to = 0; to < _last.Length; to++)
            {
                if (from != to && !linked(from, to))
                {
                    cut.Add((from, to));
                }
            }
        }
        if (cut.SequenceEqual(_cut))
        {
            return;
        }
        _cut = cut;
        Add("links", w =>
        {
            w.WriteStartArray("cut");
            foreach (var (from, to) in cut)
            {
                w.WriteStartArray();
                w.WriteNumberValue(from);
                w.WriteNumberValue(to);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        });
    }

    /// <summary>A broken safety property, with the servers and the log index it involves.</summary>
    public void Violation(string text, IReadOnlyList<int> serverIds, int? index) =>
        Add("violation", w =>
        {
            w.WriteString("text", text);
            w.WriteStartArray("servers");
            foreach (int id in serverIds)
            {
                w.WriteNumberValue(id);
            }
            w.WriteEndArray();
            if (index is { } i)
            {
                w.WriteNumber("index", i);
            }
        });

    /// <summary>The test's own first failed assertion, at the moment it was thrown.</summary>
    public void Failure(string text)
    {
        if (!_failed)
        {
            _failed = true;
            // Not checked for its thread: an assertion may be thrown anywhere, and is worth keeping.
            Add("failure", w => w.WriteString("text", text), checkThread: false);
        }
    }

    /// <summary>Looks at every server and records each one whose state changed since the last look.</summary>
    public void Look()
    {
        for (int id = 0; id < _last.Length; id++)
        {
            Look(id);
        }
    }

    /// <summary>Looks at server <paramref name="id"/> and records its state if it changed since the last look.</summary>
    public void Look(int id)
    {
        if (_done || id < 0 || id >= _last.Length)
        {
            return;
        }
        if (view(id) is not { } now)
        {
            return;
        }
        ServerView? before = _last[id];
        int from = FirstDifference(before?.Log, now.Log);
        if (before is not null && from < 0 && Same(before, now))
        {
            return;
        }
        _last[id] = now;
        Add("server", w =>
        {
            w.WriteNumber("id", id);
            w.WriteString("role", now.Role);
            w.WriteNumber("term", now.Term);
            w.WriteNumber("votedFor", now.VotedFor);
            w.WriteString("status", now.Status);
            w.WriteNumber("commitIndex", now.CommitIndex);
            w.WriteNumber("lastApplied", now.LastApplied);
            if (now.TimerStart is { } start)
            {
                w.WriteNumber("timerStartMs", Math.Round(Ms(start), 3));
                w.WriteNumber("timeoutMs", Math.Round(now.Timeout.TotalMilliseconds, 3));
            }
            if (from >= 0)
            {
                // Only what changed: the log is cut at "from" and these entries follow.
                w.WriteStartObject("log");
                w.WriteNumber("from", from);
                w.WriteStartArray("entries");
                for (int i = from; i < now.Log.Count; i++)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(now.Log[i].Term);
                    w.WriteStringValue(Text(now.Log[i].Command));
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            WriteMap(w, "nextIndex", now.NextIndex);
            WriteMap(w, "matchIndex", now.MatchIndex);
        });
    }

    /// <summary>
    /// The whole recording as one line for the test's output: <see cref="LinePrefix"/>, then the
    /// JSON. Nothing is recorded after this.
    /// </summary>
    /// <param name="test">The test's name, as its page names it.</param>
    public string ToLine(string test)
    {
        Look();
        _done = true;
        return LinePrefix + ToJson(test, null, look: false);
    }

    /// <summary>
    /// The recording so far as JSON, recording going on (a live run's download); <paramref name="extra"/>
    /// may add fields of its own after the standard ones (a reader skips what it does not know).
    /// </summary>
    public string ToJson(string test, Action<Utf8JsonWriter>? extra) => ToJson(test, extra, look: true);

    private string ToJson(string test, Action<Utf8JsonWriter>? extra, bool look)
    {
        if (look)
        {
            Look();
        }
        var buffer = new ArrayBufferWriter<byte>(1024 + (_events.Count * 96));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("version", Version);
            w.WriteString("test", test);
            w.WriteNumber("seed", sim.Seed);
            w.WriteNumber("servers", _last.Length);
            w.WriteNumber("endMs", Math.Round(NowMs, 3));
            w.WriteStartArray("events");
            lock (_events)
            {
                foreach (string e in _events)
                {
                    // Each event is JSON already, written by Add.
                    w.WriteRawValue(e, skipInputValidation: true);
                }
            }
            w.WriteEndArray();
            extra?.Invoke(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// Checks a recording's JSON: whole, of this format and version. Returns null when it can be
    /// played, else one line saying what is wrong with it.
    /// </summary>
    public static string? Problem(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String
                || format.GetString() != FormatName)
            {
                return $"not a recording: its JSON has no \"format\": \"{FormatName}\"";
            }
            if (!root.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number)
            {
                return "the recording says no version";
            }
            if (!version.TryGetInt32(out int v) || v != Version)
            {
                return $"the recording is of version {version.GetRawText()}, and this TestLogViz reads version {Version} only";
            }
            if (!root.TryGetProperty("servers", out var n) || n.ValueKind != JsonValueKind.Number
                || !root.TryGetProperty("events", out var events) || events.ValueKind != JsonValueKind.Array)
            {
                return "the recording has no \"servers\" or no \"events\"";
            }
            return null;
        }
        catch (JsonException e)
        {
            return $"the recording is not whole JSON (truncated?): {e.Message.Split('\n')[0].Trim()}";
        }
    }

    private void Add(string type, Action<Utf8JsonWriter> fields, bool checkThread = true)
    {
        if (_done)
        {
            return;
        }
        if (checkThread)
        {
            sim.CheckThread("the recording");
        }
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("t", Math.Round(NowMs, 3));
            w.WriteString("type", type);
            fields(w);
            w.WriteEndObject();
        }
        lock (_events)
        {
            _events.Add(Encoding.UTF8.GetString(buffer.WrittenSpan));
        }
    }

    private static void WriteMap(Utf8JsonWriter w, string name, IReadOnlyDictionary<int, int>? map)
    {
        if (map is null || map.Count == 0)
        {
            return;
        }
        w.WriteStartObject(name);
        foreach (var (key, value) in map.OrderBy(p => p.Key))
        {
            w.WriteNumber(key.ToString(CultureInfo.InvariantCulture), value);
        }
        w.WriteEndObject();
    }

    /// <summary>The first index where the two logs differ, or -1 if they are the same; a missing log differs at 0.</summary>
    private static int FirstDifference(IReadOnlyList<(int Term, object Command)>? before, IReadOnlyList<(int Term, object Command)> now)
    {
        if (before is null)
        {
            return now.Count > 0 ? 0 : -1;
        }
        int common = Math.Min(before.Count, now.Count);
        for (int i = 0; i < common; i++)
        {
            if (before[i].Term != now[i].Term || !Equals(before[i].Command, now[i].Command))
            {
                return i;
            }
        }
        return before.Count == now.Count ? -1 : common;
    }

    /// <summary>Whether everything but the log is the same.</summary>
    private static bool Same(ServerView a, ServerView b) =>
        a.Role == b.Role && a.Term == b.Term && a.VotedFor == b.VotedFor && a.Status == b.Status && a.CommitIndex == b.CommitIndex
        && a.LastApplied == b.LastApplied && a.TimerStart == b.TimerStart && a.Timeout == b.Timeout
        && SameMap(a.NextIndex, b.NextIndex) && SameMap(a.MatchIndex, b.MatchIndex);

    private static bool SameMap(IReadOnlyDictionary<int, int>? a, IReadOnlyDictionary<int, int>? b) =>
        (a?.Count ?? 0) == (b?.Count ?? 0) && (a is null || a.All(p => b!.TryGetValue(p.Key, out int v) && v == p.Value));

    private static string Text(object o) => Convert.ToString(o, CultureInfo.InvariantCulture) ?? "";

    private static string StepName(MessageEventKind kind) => kind switch
    {
        MessageEventKind.Sent => "sent",
        MessageEventKind.Delayed => "delayed",
        MessageEventKind.Held => "held",
        MessageEventKind.Lost => "lost",
        MessageEventKind.Delivered => "delivered",
        MessageEventKind.Replied => "replied",
        MessageEventKind.ReplyHeld => "reply-held",
        MessageEventKind.ReplyDelayed => "reply-delayed",
        MessageEventKind.ReplyDelivered => "reply-delivered",
        MessageEventKind.ReplyLost => "reply-lost",
        _ => kind.ToString(),
    };
}
