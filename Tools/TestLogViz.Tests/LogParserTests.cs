// The parser on both inputs: a real TRX captured from this repository's Part1, and go test -v output
// written by hand in upstream's line shapes.
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class LogParserTests
{
    /// <summary>A file copied to the test's output folder from TestData/.</summary>
    public static string DataPath(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", name);

    [Fact]
    public void ReadsRealTrxOfPart1()
    {
        string text = File.ReadAllText(DataPath("TestElectionFollowerComesBack.trx"));

        LogParser.LooksLikeTrx(text).Should().BeTrue();
        var tests = LogParser.Parse(text);

        tests.Should().ContainSingle();
        var test = tests[0];
        test.Name.Should().Be("TestElectionFollowerComesBack");
        test.Status.Should().Be("PASS");
        test.Duration.Should().Be("1.46s");
        test.Failure.Should().BeEmpty();
        test.Lines.Should().HaveCount(157, "the StdOut holds 157 log lines; the run summary's [xUnit.net ...] lines are not a test's");
        test.ServerIds.Should().Equal("0", "1", "2");
        test.AllIds.Should().Equal("0", "1", "2", "TEST");
        test.Lines[0].Should().Be(new LogLine("19:04:59.829748", "1", "election timer started (174ms), term=0"));
        test.Lines.Where(e => e.Id == ParsedLog.TestId).Select(e => e.Message).Should().Equal("Disconnect 2", "Reconnect 2");
        test.Lines[^1].Should().Be(new LogLine("19:05:01.055112", "2", "becomes Dead"));
    }

    [Fact]
    public void DerivesStatesOfRealRun()
    {
        var test = LogParser.Parse(File.ReadAllText(DataPath("TestElectionFollowerComesBack.trx")))[0];

        var spans = new ServerStates(test).Spans;

        // Server 1 leads in term 1, steps down when 2 comes back with term 4, and wins term 5.
        spans["1"].Select(s => (s.State, s.Term)).Should().Equal(
            (ServerState.Follower, null), (ServerState.Candidate, 1), (ServerState.Leader, 1),
            (ServerState.Follower, 4), (ServerState.Candidate, 5), (ServerState.Leader, 5), (ServerState.Dead, null));
        // Server 2, cut off, keeps starting elections it cannot win.
        spans["2"].Where(s => s.State == ServerState.Candidate).Select(s => s.Term).Should().Equal(2, 3, 4);
        spans["2"][^1].LastRow.Should().Be(test.Lines.Count - 1);
    }

    [Fact]
    public void ReadsGoTestOutput()
    {
        string text = File.ReadAllText(DataPath("go-test-v.log"));

        LogParser.LooksLikeTrx(text).Should().BeFalse();
        var tests = LogParser.Parse(text);

        tests.Select(t => (t.Name, t.Status, t.Duration)).Should().Equal(
            ("TestElectionLeaderDisconnect", "PASS", "0.60s"),
            ("TestKVPutGet", "FAIL", "1.20s"));

        var election = tests[0];
        election.Lines.Should().HaveCount(13);
        election.AllIds.Should().Equal("0", "1", "2", "TEST");
        election.Lines[7].Should().Be(new LogLine("10:00:00.300000", "TEST", "Disconnect 1"));
        election.Failure.Should().BeEmpty();

        var kv = tests[1];
        kv.Lines.Should().Equal(
            new LogLine("10:00:01.000000", "0", "[kv 0] Put key=a value=1"),
            new LogLine("10:00:01.000500", "TEST", "[client102] sending Put to service 0"),
            new LogLine("10:00:01.001000", "1", "becomes Candidate (currentTerm=1); log=[]"),
            new LogLine("10:00:01.002000", "1", "becomes Leader; term=1, nextIndex=map[0:1 2:1], matchIndex=map[0:0 2:0]; log=[]"),
            new LogLine("10:00:01.003000", "1", "[kv 1] Put key=a value=1 committed"),
            new LogLine("10:00:01.004000", "TEST", "[client102] Put done"));
        kv.Failure.Should().Equal("want value 1, got 2");
    }

    [Fact]
    public void ReadsFailedResultFromTrx()
    {
        // The shape dotnet test writes, cut down: one failed data-driven case and one pass.
        const string Trx = """
            <?xml version="1.0" encoding="utf-8"?>
            <TestRun id="1" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
              <Results>
                <UnitTestResult testName="Raft.RaftTests.TestCommitOneCommand(n: 3.5)" outcome="Failed" duration="00:00:02.5000000">
                  <Output>
                    <StdOut>10:00:00.000001 [0] becomes Candidate (currentTerm=1); log=[]&#xD;
            10:00:00.000002 [TEST] Submit 42 &lt;&amp;&gt;</StdOut>
                    <ErrorInfo>
                      <Message>Expected leader to be 0, but found -1.
            second line</Message>
                      <StackTrace>at Raft.RaftTests.TestCommitOneCommand()</StackTrace>
                    </ErrorInfo>
                  </Output>
                </UnitTestResult>
                <UnitTestResult testName="Raft.RaftTests.TestElectionBasic" outcome="Passed" duration="00:00:00.4000000" />
              </Results>
            </TestRun>
            """;

        var tests = LogParser.Parse(Trx);

        tests.Select(t => (t.Name, t.Status, t.Duration)).Should().Equal(
            ("TestCommitOneCommand(n: 3.5)", "FAIL", "2.50s"),
            ("TestElectionBasic", "PASS", "0.40s"));
        tests[0].Lines.Should().Equal(
            new LogLine("10:00:00.000001", "0", "becomes Candidate (currentTerm=1); log=[]"),
            new LogLine("10:00:00.000002", "TEST", "Submit 42 <&>"));
        tests[0].Failure.Should().Equal("Expected leader to be 0, but found -1.", "second line");
        tests[1].Lines.Should().BeEmpty();
    }

    /// <summary>A TRX file holding one passed test whose output is <paramref name="stdout"/>.</summary>
    private static string Trx(string stdout) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <TestRun id="1" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
          <Results>
            <UnitTestResult testName="Raft.RaftTests.TestX" outcome="Passed" duration="00:00:01.0000000">
              <Output><StdOut>{System.Security.SecurityElement.Escape(stdout)}</StdOut></Output>
            </UnitTestResult>
          </Results>
        </TestRun>
        """;

    [Fact]
    public void PlacesFailedBackgroundTaskByContext()
    {
        // TaskTracker's line has no [id]; the exception's stack trace follows on lines of its own.
        const string Out = """
            10:00:00.000001 [0] becomes Leader; term=1, nextIndex=map[1:0 2:0], matchIndex=map[1:-1 2:-1]; log=[]
            10:00:00.000002 [0] sending AppendEntries to 2: ni=0, args={Term:1 LeaderId:0}
            10:00:00.000003 [1] AppendEntries: {Term:1 LeaderId:0}
            10:00:00.000004 [TEST] Disconnect 2
            10:00:00.000005 background task 'AppendEntries to 2' failed: System.InvalidOperationException: boom
               at Raft.ConsensusModule.LeaderSendAEs()
               at Raft.TaskTracker.RunOneAsync(String name, Func`1 work)
            10:00:00.000006 [2] election timer started (180ms), term=1
            10:00:00.000007 [1] election timer started (200ms), term=1
            10:00:00.000008 background task 'election timer' failed: System.Exception: tick
            10:00:00.000009 background task 'leader send loop' failed: System.Exception: stop
            """;

        var test = LogParser.Parse(Trx(Out))[0];

        test.Lines.Select(e => (e.Id, e.Message)).Should().Equal(
            ("0", "becomes Leader; term=1, nextIndex=map[1:0 2:0], matchIndex=map[1:-1 2:-1]; log=[]"),
            ("0", "sending AppendEntries to 2: ni=0, args={Term:1 LeaderId:0}"),
            ("1", "AppendEntries: {Term:1 LeaderId:0}"),
            ("TEST", "Disconnect 2"),
            // Server 0 is the one that wrote about "AppendEntries to 2", even with lines of 1 and TEST since.
            ("0", "background task 'AppendEntries to 2' failed: System.InvalidOperationException: boom"),
            ("2", "election timer started (180ms), term=1"),
            ("1", "election timer started (200ms), term=1"),
            // The latest server to mention its election timer.
            ("1", "background task 'election timer' failed: System.Exception: tick"),
            // Nothing names the leader's send loop: the line is kept, in the TEST column.
            ("TEST", "background task 'leader send loop' failed: System.Exception: stop"));
        test.ServerIds.Should().Equal("0", "1", "2");
    }

    [Fact]
    public void FailedBackgroundTaskWithNoContextGoesToTest()
    {
        LogParser.TaskFailureOwner([], "commit sender").Should().Be("TEST");
        LogParser.TaskFailureOwner([new LogLine("10:00:00", "TEST", "check commit sender")], "commit sender").Should().Be("TEST");
    }

    [Fact]
    public void FilesKvServiceLinesUnderTheirServerAndClientLinesUnderTest()
    {
        // The KV parts' shapes, as upstream's kvlog and clientlog print them: "[kv N] " and "[clientN] ".
        const string Out = """
            10:00:00.000001 [kv 1] serving HTTP on 127.0.0.1:41003
            10:00:00.000002 [1] becomes Leader; term=1, nextIndex=map[0:0 2:0], matchIndex=map[0:-1 2:-1]; log=[]
            10:00:00.000003 [client101] sending kvservice.PutRequest{Key:"a", Value:"1"} to http://127.0.0.1:41003/put/
            10:00:00.000004 [kv 1] HTTP PUT {Key:a Value:1}
            10:00:00.000005 [kv 12] serving HTTP on 127.0.0.1:41014
            10:00:00.000006 [client101] received response kvservice.PutResponse{RespStatus:1}
            """;

        var test = LogParser.Parse(Trx(Out))[0];

        test.Lines.Select(e => (e.Id, e.Message)).Should().Equal(
            ("1", "[kv 1] serving HTTP on 127.0.0.1:41003"),
            ("1", "becomes Leader; term=1, nextIndex=map[0:0 2:0], matchIndex=map[0:-1 2:-1]; log=[]"),
            ("TEST", "[client101] sending kvservice.PutRequest{Key:\"a\", Value:\"1\"} to http://127.0.0.1:41003/put/"),
            ("1", "[kv 1] HTTP PUT {Key:a Value:1}"),
            ("12", "[kv 12] serving HTTP on 127.0.0.1:41014"),
            ("TEST", "[client101] received response kvservice.PutResponse{RespStatus:1}"));
        test.AllIds.Should().Equal("1", "12", "TEST");

        // Service 1's lines share server 1's column, so its state colours them too.
        var states = new ServerStates(test);
        states.Spans["1"].Select(s => s.State).Should().Equal(ServerState.Follower, ServerState.Leader);
    }

    [Fact]
    public void RecognisesTrxByContent()
    {
        LogParser.LooksLikeTrx("\uFEFF<?xml version=\"1.0\"?><TestRun/>").Should().BeTrue();
        LogParser.LooksLikeTrx("  <TestRun xmlns=\"x\"><Results/></TestRun>").Should().BeTrue();
        LogParser.LooksLikeTrx("=== RUN   TestX\n<TestRun>").Should().BeFalse();
        LogParser.LooksLikeTrx("").Should().BeFalse();
    }

    [Theory]
    [InlineData("15:04:05.000000 [2] becomes Dead", "2", "becomes Dead")]
    [InlineData("15:04:05.000000 [TEST] Disconnect 1", "TEST", "Disconnect 1")]
    [InlineData("15:04:05.000000 [kv 3] applied", "3", "[kv 3] applied")]
    [InlineData("15:04:05.000000 [client101] got a=1", "TEST", "[client101] got a=1")]
    [InlineData("15:04:05.000000 [kv 10] applied", "10", "[kv 10] applied")]
    [InlineData("15:04:05.000000 [0]", "0", "")]
    public void ParsesLogLines(string line, string id, string message)
    {
        LogParser.ParseLine(line).Should().Be(new LogLine("15:04:05.000000", id, message));
    }

    [Theory]
    [InlineData("")]
    [InlineData("ok  \tgithub.com/eliben/raft\t1.2s")]
    [InlineData("[xUnit.net 00:00:00.02] xUnit.net VSTest Adapter")]
    [InlineData("15:04:05.000000 no id here")]
    public void SkipsOtherLines(string line)
    {
        LogParser.ParseLine(line).Should().BeNull();
    }
}
