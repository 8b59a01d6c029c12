// Where every service, Raft server and console client of the playground logs: the lines are kept
// for the page, and each server's state changes become the spans its timeline ribbon draws.
using System.Globalization;
using Lab;
using Microsoft.Extensions.Logging;
using TestLogViz;

namespace RaftPlayground;

/// <summary>One log line as the page shows it: its number, when, whose, and what it says.</summary>
public sealed record LiveLine(long Seq, string Time, string Id, string Message);

/// <summary>A stretch of time one server spent in one state; <see cref="EndMs"/> is null while it lasts.</summary>
public sealed record LiveSpan(int Server, ServerState State, int? Term, double StartMs, double? EndMs);

/// <summary>
/// An <see cref="ILogger"/> that keeps the latest lines and each server's state spans. A line is
/// read the way TestLogViz reads a test's log (<see cref="LogParser.ParseLine"/>, then
/// <see cref="ServerStates.StateAfter"/>), so the live timeline and a test's page agree. Writers
/// never wait: everything happens under a short lock, with no I/O.
/// </summary>
public sealed class LiveLog : ILogger
{
    /// <summary>How many lines are kept; older ones are dropped.</summary>
    public const int MaxLines = 2000;

    /// <summary>How many spans each server keeps; a long run drops its oldest.</summary>
    private const int MaxSpans = 1000;

    /// <summary>Guards everything below.</summary>
    private readonly Lock _mu = new();

    /// <summary>The latest lines, oldest first.</summary>
    private readonly Queue<LiveLine> _lines = new();

    /// <summary>Each server's spans, oldest first; the last is the current one.</summary>
    private readonly List<LiveSpan>[] _spans;

    /// <summary>The number the next line gets.</summary>
    private long _nextSeq = 1;

    /// <summary>Time zero of the timeline.</summary>
    private readonly long _start;

    /// <summary>The timeline's clock (monotonic).</summary>
    private readonly TimeProvider _time;

    /// <summary>Once closed (the playground stopped), lines are dropped.</summary>
    private bool _closed;

    public LiveLog(int servers, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _start = _time is VirtualClock ? 0 : _time.GetTimestamp();
        // Every server starts as a follower, as TestLogViz assumes for a test's servers.
        _spans = [.. Enumerable.Range(0, servers).Select(i => new List<LiveSpan> { new(i, ServerState.Follower, null, 0, null) })];
    }

    /// <summary>Milliseconds since the run started: the timeline's clock (a simulation's, readable from any thread).</summary>
    public double NowMs => _time is VirtualClock v ? v.Now.TotalMilliseconds : _time.GetElapsedTime(_start).TotalMilliseconds;

    /// <summary>Told every line (on the simulation's thread), if set: the run's recording.</summary>
    public Recorder? Recorder { get; set; }

    /// <summary>Adds a line of the playground's own ("[TEST] Crash 2" in TestLogViz's terms: the hand that acts on the cluster).</summary>
    public void Write(string message) => Add($"[TEST] {message}");

    /// <summary>Lines numbered after <paramref name="afterSeq"/>, at most the last <paramref name="max"/> of them.</summary>
    public IReadOnlyList<LiveLine> LinesAfter(long afterSeq, int max)
    {
        lock (_mu)
        {
            LiveLine[] newer = [.. _lines.Where(l => l.Seq > afterSeq)];
            return newer.Length <= max ? newer : newer[^max..];
        }
    }

    /// <summary>A copy of each server's spans.</summary>
    public IReadOnlyList<IReadOnlyList<LiveSpan>> Spans()
    {
        lock (_mu)
        {
            return [.. _spans.Select(s => (IReadOnlyList<LiveSpan>)[.. s])];
        }
    }

    /// <summary>Stops taking lines: servers still shutting down may log, but nobody reads it any more.</summary>
    public void Close()
    {
        lock (_mu)
        {
            _closed = true;
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    /// <summary>Debug too: the consensus module's state changes are debug lines.</summary>
    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        string message = formatter(state, exception);
        if (exception is not null)
        {
            message += $": {exception.GetType().Name}: {exception.Message}";
        }
        Add(message);
    }

    /// <summary>Stamps and files one line; a state change closes its server's span and opens the next.</summary>
    private void Add(string message)
    {
        // A simulation's lines are stamped in cluster time (00:00:01.500000 is 1.5 s into the run), as a simulated test's are.
        string time = (_time is VirtualClock v ? v.GetUtcNow().DateTime : DateTime.Now).ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
        // The same shape as a test's log line, so TestLogViz's parser files it ("[kv 2]" under 2, clients under TEST).
        LogLine? entry = LogParser.ParseLine($"{time} {message.ReplaceLineEndings(" ")}");
        string id = entry?.Id ?? ParsedLog.TestId;
        string text = entry?.Message ?? message;
        double now = NowMs;
        lock (_mu)
        {
            if (_closed)
            {
                return;
            }
            _lines.Enqueue(new LiveLine(_nextSeq++, time, id, text));
            if (_lines.Count > MaxLines)
            {
                _lines.Dequeue();
            }
            if (int.TryParse(id, CultureInfo.InvariantCulture, out int server) && server >= 0 && server < _spans.Length
                && ServerStates.StateAfter(text) is { } state)
            {
                List<LiveSpan> own = _spans[server];
                int? term = ServerStates.TermIn(text);
                // A line that repeats the state the server is in (a follower hearing a new term is a new span; "listening" twice is not).
                if (own[^1].State != state || (term is not null && own[^1].Term != term))
                {
                    own[^1] = own[^1] with { EndMs = now };
                    own.Add(new LiveSpan(server, state, term, now, null));
                    if (own.Count > MaxSpans)
                    {
                        own.RemoveAt(0);
                    }
                }
            }
        }
        Recorder?.Line(message);
    }
}
