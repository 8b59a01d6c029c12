// Reads a captured test run into one ParsedLog per test: a TRX file written by `dotnet test`, or the
// text `go test -v` prints for upstream's Go code. Both carry log lines of the same shape.
using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;

namespace TestLogViz;

/// <summary>One log line: when, who wrote it (a server id, or TEST), and what it says.</summary>
public sealed record LogLine(string Time, string Id, string Message);

/// <summary>Everything one test logged, and how it ended.</summary>
public sealed class ParsedLog(string name)
{
    /// <summary>The id the test's own lines (and the clients' lines) are filed under.</summary>
    public const string TestId = "TEST";

    /// <summary>The test's name, without namespace or class: TestElectionBasic.</summary>
    public string Name { get; } = name;

    /// <summary>PASS, FAIL or SKIP as go test prints them; UNKNOWN if the log never said.</summary>
    public string Status { get; set; } = "UNKNOWN";

    /// <summary>How long the test ran, as the log gave it (e.g. 1.46s), if it did.</summary>
    public string? Duration { get; set; }

    /// <summary>Why the test failed: the assertion's message, line by line.</summary>
    public List<string> Failure { get; } = [];

    /// <summary>The log lines, in the order they were written to the log.</summary>
    public List<LogLine> Lines { get; } = [];

    /// <summary>
    /// The run's recording for the player, as the harness wrote it (JSON; see Lab/Recorder.cs), or
    /// null: a run that was not recorded (not asked for, in real time, or a Go log).
    /// </summary>
    public string? Recording
    {
        get => _recording;
        set
        {
            _recording = value;
            _recordingChecked = false;
        }
    }

    /// <summary>What makes <see cref="Recording"/> unplayable, in one line (see Lab.Recorder.Problem); null when it plays or is absent. Checked once.</summary>
    public string? RecordingProblem
    {
        get
        {
            if (!_recordingChecked)
            {
                _recordingProblem = _recording is null ? null : Lab.Recorder.Problem(_recording);
                _recordingChecked = true;
            }
            return _recordingProblem;
        }
    }

    private string? _recording, _recordingProblem;
    private bool _recordingChecked;

    /// <summary>Whether any line came from the test itself (or a client), i.e. a TEST column is needed.</summary>
    public bool HasTestLines => Lines.Exists(e => e.Id == TestId);

    /// <summary>The servers that logged anything: numeric ids in numeric order, then any others.</summary>
    public IReadOnlyList<string> ServerIds =>
        Lines.Select(e => e.Id).Where(id => id != TestId).Distinct()
            .OrderBy(id => int.TryParse(id, CultureInfo.InvariantCulture, out int n) ? n : int.MaxValue)
            .ThenBy(id => id, StringComparer.Ordinal)
            .ToList();

    /// <summary>Every id seen, as the tool prints them: the servers, then TEST if present.</summary>
    public IReadOnlyList<string> AllIds => HasTestLines ? [.. ServerIds, TestId] : ServerIds;
}

/// <summary>Turns the text of a captured test run into <see cref="ParsedLog"/>s.</summary>
public static partial class LogParser
{
    /// <summary>Reads either input format; TRX is recognised by its content, not a file name.</summary>
    public static List<ParsedLog> Parse(string text) => LooksLikeTrx(text) ? ParseTrx(text) : ParseGoTest(text);

    /// <summary>True for an XML document (a TRX file starts with an XML declaration and a TestRun element).</summary>
    public static bool LooksLikeTrx(string text)
    {
        var start = text.AsSpan().TrimStart('\uFEFF').TrimStart();
        if (start.StartsWith("<?xml", StringComparison.Ordinal))
        {
            return true;
        }
        var head = start[..Math.Min(start.Length, 4096)];
        return start.StartsWith("<", StringComparison.Ordinal) && head.Contains("<TestRun", StringComparison.Ordinal);
    }

    /// <summary>
    /// Reads a TRX file: each UnitTestResult has the test's name and outcome, its log lines in
    /// Output/StdOut and, when it failed, the reason in Output/ErrorInfo/Message.
    /// </summary>
    public static List<ParsedLog> ParseTrx(string text)
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
        using var reader = XmlReader.Create(new StringReader(text.TrimStart('\uFEFF')), settings);
        var doc = XDocument.Load(reader);

        var tests = new List<ParsedLog>();
        foreach (var result in doc.Descendants().Where(e => e.Name.LocalName == "UnitTestResult"))
        {
            // A data-driven test wraps one result per case in InnerResults; those cases are read on their own.
            if (Child(result, "InnerResults") is not null)
            {
                continue;
            }

            var test = new ParsedLog(ShortName((string?)result.Attribute("testName") ?? "UnnamedTest"))
            {
                Status = StatusOf((string?)result.Attribute("outcome")),
                Duration = SecondsOf((string?)result.Attribute("duration")),
            };

            var output = Child(result, "Output");
            foreach (string line in SplitLines(Child(output, "StdOut")?.Value))
            {
                AddLine(test, line);
            }
            test.Failure.AddRange(SplitLines(Child(Child(output, "ErrorInfo"), "Message")?.Value));
            tests.Add(test);
        }
        return tests;
    }

    /// <summary>
    /// Reads go test -v output: a test starts at "=== RUN   TestX" and gets its status from
    /// "--- PASS: TestX (0.50s)"; the log lines in between are its lines.
    /// </summary>
    public static List<ParsedLog> ParseGoTest(string text)
    {
        var tests = new List<ParsedLog>();
        ParsedLog? current = null;
        foreach (string line in SplitLines(text))
        {
            if (GoRunLine().Match(line) is { Success: true } run)
            {
                current = new ParsedLog(run.Groups["name"].Value);
                tests.Add(current);
                continue;
            }

            // Parallel tests interleave; "=== CONT  TestX" says the lines that follow are TestX's again.
            if (GoContLine().Match(line) is { Success: true } cont)
            {
                current = tests.FindLast(t => t.Name == cont.Groups["name"].Value) ?? current;
                continue;
            }

            if (current is null)
            {
                continue;
            }

            // Upstream insists the status line names the current test. Here it is given to the test it
            // names, so a subtest's or a parallel test's status lands in the right place.
            if (GoStatusLine().Match(line) is { Success: true } status)
            {
                var test = tests.FindLast(t => t.Name == status.Groups["name"].Value);
                if (test is not null)
                {
                    test.Status = status.Groups["status"].Value;
                    test.Duration = status.Groups["duration"].Success ? status.Groups["duration"].Value : null;
                }
                continue;
            }

            if (AddLine(current, line))
            {
                continue;
            }
            if (GoFailureLine().Match(line) is { Success: true } failure)
            {
                current.Failure.Add(failure.Groups["message"].Value);
            }
        }
        return tests;
    }

    /// <summary>One test's log from its raw lines, as a run in this process captured them (TestLogViz's repeat of a simulated test).</summary>
    public static ParsedLog FromLines(string name, string status, string? duration, IEnumerable<string> failure, IEnumerable<string> lines)
    {
        var test = new ParsedLog(name) { Status = status, Duration = duration };
        test.Failure.AddRange(failure);
        foreach (string line in lines)
        {
            AddLine(test, line);
        }
        return test;
    }

    /// <summary>
    /// Reads one log line, "15:04:05.000000 [id] message". A key/value service's "[kv N]" line is
    /// filed under server N and a client's "[client102]" line under TEST, each keeping its tag in
    /// the message so the reader still sees who wrote it. Returns null for any other line.
    /// </summary>
    public static LogLine? ParseLine(string line)
    {
        var m = LogLinePattern().Match(line);
        if (!m.Success)
        {
            return null;
        }
        string time = m.Groups["time"].Value;
        string id = m.Groups["id"].Value;
        string message = m.Groups["message"].Value;

        if (id.StartsWith("kv ", StringComparison.Ordinal))
        {
            return new LogLine(time, id["kv ".Length..].Trim(), $"[{id}] {message}");
        }
        if (id.StartsWith("client", StringComparison.Ordinal))
        {
            return new LogLine(time, ParsedLog.TestId, $"[{id}] {message}");
        }
        return new LogLine(time, id, message);
    }

    /// <summary>
    /// Adds the line to the test's lines if it is a log line; returns whether it was. A failed
    /// background task's line carries no server id and is placed by <see cref="TaskFailureOwner"/>.
    /// </summary>
    private static bool AddLine(ParsedLog test, string line)
    {
        if (line.StartsWith(Lab.Recorder.LinePrefix, StringComparison.Ordinal))
        {
            test.Recording = line[Lab.Recorder.LinePrefix.Length..];
            return true;
        }
        if (ParseLine(line) is { } entry)
        {
            test.Lines.Add(entry);
            return true;
        }
        if (TaskFailureLine().Match(line) is { Success: true } failure)
        {
            string owner = TaskFailureOwner(test.Lines, failure.Groups["task"].Value);
            test.Lines.Add(new LogLine(failure.Groups["time"].Value, owner, failure.Groups["message"].Value));
            return true;
        }
        return false;
    }

    /// <summary>
    /// Whose column a "background task 'NAME' failed" line belongs in. The TaskTracker that writes
    /// it knows its task's name but not its server's id, so the line is placed by what came before
    /// it: the server whose latest line mentions the task's name. The consensus module's tasks log
    /// under their own name as they work ("sending AppendEntries to 2" in the task "AppendEntries
    /// to 2", "election timer started" in "election timer"), so that is usually the task's server.
    /// A task that never mentions its name ("leader send loop", "commit sender", an RPC server's
    /// tasks) cannot be placed: its line goes to the TEST column, where it is still seen.
    /// </summary>
    public static string TaskFailureOwner(IReadOnlyList<LogLine> before, string task)
    {
        for (int i = before.Count - 1; i >= 0; i--)
        {
            if (before[i].Id != ParsedLog.TestId && before[i].Message.Contains(task, StringComparison.Ordinal))
            {
                return before[i].Id;
            }
        }
        return ParsedLog.TestId;
    }

    /// <summary>Raft.RaftTests.TestElectionBasic becomes TestElectionBasic; a case's arguments stay.</summary>
    public static string ShortName(string fullName)
    {
        int args = fullName.IndexOf('(', StringComparison.Ordinal);
        int lastDot = (args < 0 ? fullName : fullName[..args]).LastIndexOf('.');
        return fullName[(lastDot + 1)..];
    }

    /// <summary>TRX outcomes in go test's words, so both inputs print alike.</summary>
    private static string StatusOf(string? outcome) => outcome switch
    {
        "Passed" => "PASS",
        "Failed" => "FAIL",
        "NotExecuted" => "SKIP",
        null or "" => "UNKNOWN",
        _ => outcome.ToUpperInvariant(),
    };

    /// <summary>A TRX duration (00:00:01.4580000) in go test's form (1.46s).</summary>
    private static string? SecondsOf(string? duration) =>
        TimeSpan.TryParse(duration, CultureInfo.InvariantCulture, out var d)
            ? d.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + "s"
            : null;

    /// <summary>The first child element with this local name; TRX elements live in an XML namespace.</summary>
    private static XElement? Child(XElement? parent, string name) =>
        parent?.Elements().FirstOrDefault(e => e.Name.LocalName == name);

    /// <summary>Splits text into lines, whatever the line endings; no lines for null.</summary>
    private static IEnumerable<string> SplitLines(string? text) =>
        text is null ? [] : text.Split('\n').Select(l => l.TrimEnd('\r'));

    [GeneratedRegex(@"^\s*(?<time>\d{1,2}:\d{2}:\d{2}(?:\.\d+)?) \[(?<id>[\w ]+)\](?: (?<message>.*))?$")]
    private static partial Regex LogLinePattern();

    /// <summary>
    /// TaskTracker's "background task '{Name}' failed" as the tests' log writes it, with the
    /// exception's first line after it: "15:04:05.000000 background task 'x' failed: System...".
    /// </summary>
    [GeneratedRegex(@"^\s*(?<time>\d{1,2}:\d{2}:\d{2}(?:\.\d+)?) (?<message>background task '(?<task>[^']+)' failed\b.*)$")]
    private static partial Regex TaskFailureLine();

    [GeneratedRegex(@"^=== RUN\s+(?<name>\S+)")]
    private static partial Regex GoRunLine();

    [GeneratedRegex(@"^=== CONT\s+(?<name>\S+)")]
    private static partial Regex GoContLine();

    [GeneratedRegex(@"^\s*--- (?<status>[A-Z]+): (?<name>\S+)(?: \((?<duration>[^)]*)\))?")]
    private static partial Regex GoStatusLine();

    /// <summary>What t.Errorf and t.Fatalf print: "    raft_test.go:45: want leader, got none".</summary>
    [GeneratedRegex(@"^\s+[\w./-]+\.go:\d+: (?<message>.*)$")]
    private static partial Regex GoFailureLine();
}
