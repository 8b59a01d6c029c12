// The page's HTML and the command line's output, checked as text.
using System.Text.RegularExpressions;
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed partial class PageWriterTests
{
    /// <summary>A test log made of (id, message) lines, a millisecond apart.</summary>
    private static ParsedLog Log(string name, params (string Id, string Message)[] lines)
    {
        var log = new ParsedLog(name) { Status = "PASS" };
        for (int i = 0; i < lines.Length; i++)
        {
            log.Lines.Add(new LogLine($"10:00:00.{i:000}000", lines[i].Id, lines[i].Message));
        }
        return log;
    }

    /// <summary>The table's rows, each as its cells' classes and text.</summary>
    private static List<(string Class, string Text)[]> Rows(string html) =>
        [.. TableRow().Matches(html).Select(row => Cell().Matches(row.Value)
            .Select(c => (c.Groups["class"].Value, c.Groups["text"].Value)).ToArray())];

    [Fact]
    public void EscapesMessages()
    {
        var log = Log("TestEscape", ("0", "<script>alert('x')</script> & co"), ("TEST", "a<b & c>d"));

        string html = PageWriter.Render(log, "TestEscape");

        html.Should().Contain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co");
        html.Should().Contain("a&lt;b &amp; c&gt;d");
        html.Should().NotContain("<script>alert").And.NotContain("a<b");
        // The page's own script is its only script element.
        Regex.Count(html, "<script").Should().Be(1);
    }

    [Fact]
    public void ColoursCellsByState()
    {
        var log = Log("TestStates",
            ("0", "election timer started"),
            ("0", "becomes Candidate (currentTerm=1); log=[]"),
            ("TEST", "checking"),
            ("1", "becomes Follower with term=1; log=[]"),
            ("0", "becomes Leader; term=1, log=[]"),
            ("1", "AppendEntries"),
            ("1", "becomes Dead"),
            ("0", "becomes Follower with term=2; log=[]"));

        var rows = Rows(PageWriter.Render(log, "TestStates"));

        // Columns: Time, TEST, server 0, server 1.
        rows.Select(r => (r[2].Class, r[3].Class)).Should().Equal(
            ("Follower", "Follower"),
            ("Candidate change", "Follower"),
            ("Candidate", "Follower"),
            ("Candidate", "Follower change"),
            ("Leader change", "Follower"),
            ("Leader", "Follower"),
            ("Leader", "Dead change"),
            ("Follower change", "Dead"));
        rows[2][1].Should().Be(("testcell", "checking"));
        rows[4][2].Text.Should().Be("becomes Leader; term=1, log=[]");
        rows[4][3].Text.Should().BeEmpty();

        var spans = new ServerStates(log).Spans["0"];
        spans.Should().Equal(
            new StateSpan("0", ServerState.Follower, null, 0, 0),
            new StateSpan("0", ServerState.Candidate, 1, 1, 3),
            new StateSpan("0", ServerState.Leader, 1, 4, 6),
            new StateSpan("0", ServerState.Follower, 2, 7, 7));
    }

    [Fact]
    public void DrawsRibbonWithTerms()
    {
        var log = Log("TestRibbon", ("1", "becomes Candidate (currentTerm=3); log=[]"), ("1", "becomes Leader; term=3, log=[]"), ("0", "hi"), ("1", "x"));

        string html = PageWriter.Render(log, "TestRibbon");

        html.Should().Contain("<span class=\"seg Candidate\" data-row=\"0\" style=\"left:0%;width:25%\"");
        html.Should().Contain("<span class=\"seg Leader\" data-row=\"1\" style=\"left:25%;width:75%\"");
        html.Should().Contain(">Leader, term 3</span>");
        html.Should().NotContain("seg Follower");
    }

    [Fact]
    public void MergesTestMarksThatShareASpot()
    {
        // 3,000 client lines among 3,000 server lines: one mark per thousandth of the ribbon at most.
        var lines = Enumerable.Range(0, 6000).Select(i => i % 2 == 0 ? ("TEST", $"[client1] op {i}") : ("0", "x")).ToArray();

        string html = PageWriter.Render(Log("TestBusy", lines), "TestBusy");

        Regex.Count(html, "<span class=\"mark\"").Should().Be(1000);
        html.Should().Contain("<span class=\"mark\" data-row=\"0\" style=\"left:0%\" title=\"10:00:00.000000 [client1] op 0 (and 2 more)\">");
    }

    [Fact]
    public void CarriesMessagesForTheArrows()
    {
        var log = Log("TestArrows",
            ("0", "sending RequestVote to 1: RequestVoteArgs { Term = 1, CandidateId = 0, LastLogIndex = -1, LastLogTerm = -1 }"),
            ("1", "net: #4 RequestVote from 0 arrives after 0.500 ms"),
            ("1", "RequestVote: RequestVoteArgs { Term = 1, CandidateId = 0, LastLogIndex = -1, LastLogTerm = -1 } [currentTerm=0, votedFor=-1]"),
            ("1", "... RequestVote reply: RequestVoteReply { Term = 1, VoteGranted = False }"),
            ("0", "net: #4 RequestVote reply from 1 after 3.900 ms"),
            ("0", "received RequestVoteReply RequestVoteReply { Term = 1, VoteGranted = False }"),
            ("1", "<b>not a message</b>"));

        string html = PageWriter.Render(log, "TestArrows");

        // Columns 0 and 1; rows sent 0, arrived 2, replied 3, back 4, none lost; flag 4: the vote was refused.
        html.Should().Contain("""
            const MESSAGES = [[0,0,1,0,2,3,4,-1,4,4,0.5,"Term = 1, CandidateId = 0, LastLogIndex = -1, LastLogTerm = -1","Term = 1, VoteGranted = False",null]];
            """);
        html.Should().Contain("<input id=\"show-messages\" type=\"checkbox\" checked>");
        html.Should().Contain("Paired by the simulated network");
        Regex.Count(html, "<script").Should().Be(1, "the messages travel inside the page's one script");
    }

    [Fact]
    public void KeepsMarkupOutOfTheMessagesScript()
    {
        var log = Log("TestArrows",
            ("0", "sending AppendEntries to 1: ni=0, args={Term:1 LeaderId:0 Entries:[</script><script>alert(1)</script>] LeaderCommit:-1}"),
            ("1", "AppendEntries: {Term:1 LeaderId:0 Entries:[</script><script>alert(1)</script>] LeaderCommit:-1}"),
            ("1", "AppendEntries reply: {Term:1 Success:true}"));

        string html = PageWriter.Render(log, "TestArrows");

        html.Should().Contain("\\u003C/script\\u003E").And.NotContain("Entries:[</script>");
        html.Should().Contain("paired by their text", "a log without the network's lines says how its calls were paired")
            .And.Contain("pairing is a guess");
        Regex.Count(html, "<script").Should().Be(1);
    }

    [Fact]
    public void LeavesOutTheLegendWithoutMessages()
    {
        string html = PageWriter.Render(Log("TestQuiet", ("0", "becomes Dead")), "TestQuiet");

        html.Should().Contain("const MESSAGES = [];").And.NotContain("class=\"legend arrows\"");
    }

    [Fact]
    public void NumbersRepeatedTestNames()
    {
        string[] names = ["TestX", "TestY", "TestX", "TestX", "TestZ/sub"];
        var tests = names.Select(n => new ParsedLog(n)).ToList();

        PageWriter.PageNames(tests).Should().Equal("TestX", "TestY", "TestX-2", "TestX-3", "TestZ_sub");
    }

    [Fact]
    public async Task CarriesFailIntoTitleAndOverallStatus()
    {
        string outDir = Directory.CreateTempSubdirectory("testlogviz-").FullName;
        try
        {
            var (code, stdout, stderr) = await RunToolAsync(["--out", outDir], File.ReadAllText(LogParserTests.DataPath("go-test-v.log")));

            code.Should().Be(0);
            stderr.Should().BeEmpty();
            var lines = stdout.TrimEnd().Split('\n');
            lines[0].Should().Be("PASS TestElectionLeaderDisconnect ids: [0 1 2 TEST]; entries: 13");
            lines[1].Should().Be($"... Emitted {new Uri(Path.Combine(outDir, "TestElectionLeaderDisconnect.html")).AbsoluteUri}");
            lines.Should().Contain("FAIL TestKVPutGet ids: [0 1 TEST]; entries: 6");
            lines[^1].Should().Be("FAIL");

            string page = File.ReadAllText(Path.Combine(outDir, "TestKVPutGet.html"));
            page.Should().Contain("<title>TestKVPutGet -- FAIL</title>");
            page.Should().Contain("<span class=\"status FAIL\">FAIL</span>");
            page.Should().Contain("<pre class=\"failure\">want value 1, got 2</pre>");
            File.ReadAllText(Path.Combine(outDir, "TestElectionLeaderDisconnect.html"))
                .Should().Contain("<title>TestElectionLeaderDisconnect -- PASS</title>");
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [Fact]
    public async Task WritesOnePagePerRunOfATest()
    {
        string outDir = Directory.CreateTempSubdirectory("testlogviz-").FullName;
        try
        {
            const string Log = """
                === RUN   TestX
                10:00:00.000001 [0] hello
                --- PASS: TestX (0.01s)
                === RUN   TestX
                10:00:00.000002 [0] again
                --- PASS: TestX (0.01s)
                PASS
                """;

            var (code, stdout, _) = await RunToolAsync(["--out", outDir], Log);

            code.Should().Be(0);
            stdout.Should().Contain("TestX.html").And.Contain("TestX-2.html");
            stdout.TrimEnd().Split('\n')[^1].Should().Be("PASS");
            File.ReadAllText(Path.Combine(outDir, "TestX-2.html")).Should().Contain("<title>TestX-2 -- PASS</title>").And.Contain("again");
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [Theory]
    [InlineData("", "TestLogViz: the log is empty")]
    [InlineData("\n  \n", "TestLogViz: the log is empty")]
    [InlineData("hello\n10:00:00.000001 [0] a line outside any test\n", "TestLogViz: found no test in the log")]
    [InlineData("<?xml version=\"1.0\"?><TestRun><Results/></TestRun>", "TestLogViz: found no test in the log")]
    [InlineData("<?xml version=\"1.0\"?><TestRun", "TestLogViz: Unexpected end of file")]
    public async Task RejectsBadInputInOneLine(string input, string message)
    {
        var (code, stdout, stderr) = await RunToolAsync([], input);

        code.Should().Be(1);
        stdout.Should().BeEmpty();
        stderr.Should().StartWith(message);
        stderr.TrimEnd().Should().NotContain("\n", "a bad log gets one line, not a stack trace");
    }

    [Fact]
    public async Task ReportsUnreadableFileInOneLine()
    {
        var (code, _, stderr) = await RunToolAsync([Path.Combine(Path.GetTempPath(), "no-such-dir-9f1c", "log.trx")], stdin: null);

        code.Should().Be(1);
        stderr.Should().StartWith("TestLogViz: Could not find a part of the path");
        stderr.TrimEnd().Should().NotContain("\n");
    }

    [Fact]
    public async Task RejectsUnknownOptionInOneLine()
    {
        var (code, stdout, stderr) = await RunToolAsync(["--bogus"], "");

        code.Should().Be(2);
        stdout.Should().BeEmpty();
        stderr.Should().Be("TestLogViz: Unrecognized command or argument '--bogus'.\n", "one line, without the help");
    }

    [Fact]
    public async Task WantsALogFromATerminal()
    {
        var (code, stdout, stderr) = await RunToolAsync([], stdin: null);

        code.Should().Be(2);
        stdout.Should().BeEmpty();
        stderr.Should().Be("TestLogViz: no log given: name a file, or pipe one in (see --help)\n");
    }

    /// <summary>Runs the command line in-process with the given standard input (null: a terminal).</summary>
    /// <summary>A recorded run gets the player, its recording beside the page, and the recording's line stays out of the table.</summary>
    [Fact]
    public async Task ARecordedRunGetsThePlayerAndItsRecordingBesideIt()
    {
        string outDir = Directory.CreateTempSubdirectory("testlogviz-rec-").FullName;
        try
        {
            var (code, _, stderr) = await RunToolAsync([LogParserTests.DataPath("RecordedCommitOneCommand.trx"), "--out", outDir], stdin: null);

            code.Should().Be(0, stderr);
            stderr.Should().BeEmpty();
            string page = File.ReadAllText(Path.Combine(outDir, "TestCommitOneCommand.html"));
            page.Should().Contain("<section id=\"player\"").And.Contain("window.ClusterView").And.NotContain("id=\"no-player\"");
            page.Should().NotContain(Lab.Recorder.LinePrefix, "the recording is data for the player, not a line of the table");
            string recording = File.ReadAllText(Path.Combine(outDir, "TestCommitOneCommand.recording.json"));
            Lab.Recorder.Problem(recording).Should().BeNull();
            PlayerTests.Recorded().Recording.Should().Be(recording);
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    /// <summary>A recording file on its own (the playground's download) gets a page with the player; a broken one is refused in one line.</summary>
    [Fact]
    public async Task ARecordingFileOnItsOwnGetsItsPage()
    {
        string trx = File.ReadAllText(LogParserTests.DataPath("RecordedCommitOneCommand.trx"));
        int start = trx.IndexOf(Lab.Recorder.LinePrefix, StringComparison.Ordinal) + Lab.Recorder.LinePrefix.Length;
        string json = System.Net.WebUtility.HtmlDecode(trx[start..trx.IndexOf("</StdOut>", start, StringComparison.Ordinal)]).Trim();
        string outDir = Directory.CreateTempSubdirectory("testlogviz-file-").FullName;
        try
        {
            var (code, stdout, stderr) = await RunToolAsync(["--out", outDir], json);
            code.Should().Be(0, stderr);
            stdout.Should().Contain("TestCommitOneCommand.html");
            File.ReadAllText(Path.Combine(outDir, "TestCommitOneCommand.html")).Should().Contain("<section id=\"player\"");

            (code, _, stderr) = await RunToolAsync(["--out", outDir], json.Replace("\"version\":1", "\"version\":3", StringComparison.Ordinal));
            code.Should().Be(1);
            stderr.Should().Be("TestLogViz: not a recording to play: the recording is of version 3, and this TestLogViz reads version 1 only\n");
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    /// <summary>A page without a recording keeps its table and says in one line why it has no player.</summary>
    [Theory]
    [InlineData("seed 12 (RAFT_SEED=12 replays this run)", "it was not recorded; ./dotest.sh PART TEST --seed N records the run of seed N")]
    [InlineData("real time (RAFT_REAL_TIME is set)", "it ran in real time")]
    [InlineData(null, "its log has no recording (a Go log")]
    public void APageWithoutARecordingSaysWhy(string? firstLine, string why)
    {
        var log = new ParsedLog("TestX") { Status = "PASS" };
        if (firstLine is not null)
        {
            log.Lines.Add(new LogLine("00:00:00.000000", ParsedLog.TestId, firstLine));
        }
        log.Lines.Add(new LogLine("00:00:00.200000", "0", "becomes Candidate (currentTerm=1); log=[]"));

        string page = PageWriter.Render(log, "TestX");

        page.Should().Contain("<p id=\"no-player\">No player for this run: " + why).And.NotContain("<section id=\"player\"");
        page.Should().Contain("becomes Candidate (currentTerm=1)");
    }

    /// <summary>A recording that cannot be played is said in one line; the page is still made, from the log.</summary>
    [Theory]
    [InlineData("truncated", "the recording is not whole JSON (truncated?)")]
    [InlineData("version", "the recording is of version 99, and this TestLogViz reads version 1 only")]
    [InlineData("garbage", "the recording is not whole JSON")]
    public async Task ABadRecordingStillGetsItsPage(string damage, string why)
    {
        string trx = File.ReadAllText(LogParserTests.DataPath("RecordedCommitOneCommand.trx"));
        int start = trx.IndexOf(Lab.Recorder.LinePrefix, StringComparison.Ordinal) + Lab.Recorder.LinePrefix.Length;
        int end = trx.IndexOf("</StdOut>", start, StringComparison.Ordinal);
        string json = trx[start..end];
        string bad = damage switch
        {
            "truncated" => json[..(json.Length / 2)],
            "version" => json.Replace("\"version\":1", "\"version\":99", StringComparison.Ordinal),
            _ => "this is not JSON at all",
        };
        string outDir = Directory.CreateTempSubdirectory("testlogviz-bad-").FullName;
        try
        {
            var (code, stdout, stderr) = await RunToolAsync(["--out", outDir], trx[..start] + bad + trx[end..]);

            code.Should().Be(0);
            stderr.TrimEnd('\n').Should().StartWith("TestLogViz: TestCommitOneCommand: " + why).And.EndWith("; its page is made from the log alone")
                .And.NotContain("\n");
            stdout.TrimEnd().Split('\n')[^1].Should().Be("PASS");
            File.Exists(Path.Combine(outDir, "TestCommitOneCommand.recording.json")).Should().BeFalse();
            File.ReadAllText(Path.Combine(outDir, "TestCommitOneCommand.html")).Should().Contain("No player for this run: its recording cannot be played: " + why)
                .And.Contain("becomes Leader; term=1");
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    public static async Task<(int Code, string Stdout, string Stderr)> RunToolAsync(string[] args, string? stdin)
    {
        using var stdout = new StringWriter { NewLine = "\n" };
        using var stderr = new StringWriter { NewLine = "\n" };
        using var input = stdin is null ? null : new StringReader(stdin);
        int code = await Program.InvokeAsync(args, new Terminal(input, stdout, stderr));
        return (code, stdout.ToString(), stderr.ToString());
    }

    [GeneratedRegex("<tr data-s=[^>]*>.*?</tr>")]
    private static partial Regex TableRow();

    [GeneratedRegex("<td(?: class=\"(?<class>[^\"]*)\")?>(?<text>.*?)</td>")]
    private static partial Regex Cell();
}
