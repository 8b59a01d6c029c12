// `TestLogViz repeat`: its checks of the command line, and real repeats of a miniature part
// (TestData/RepeatFixture) whose tests pass, fail in the second run only, or wait to be stopped.
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class TestRepeaterTests(BuiltFixture fixture) : IDisposable
{
    /// <summary>A made-up repository, for the checks of the command line.</summary>
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("testlogviz-repeat-");

    internal static async Task<(int Code, string Stdout, string Stderr)> Repeat(string root, bool interactive, CancellationToken ct, params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int code = await TestRepeater.RepeatAsync(args, root, stdout, stderr, interactive, ct);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData(new[] { "Part1" }, "name a part and a test")]
    [InlineData(new[] { "Part9", "TestX" }, "no part named 'Part9'; parts here: Part1")]
    [InlineData(new[] { "Part1", "TestX", "-n", "0" }, "-n needs a number of runs, 1 or more, not '0'")]
    [InlineData(new[] { "Part1", "TestX", "-n", "many" }, "-n needs a number of runs, 1 or more, not 'many'")]
    [InlineData(new[] { "Part1", "TestX", "-p", "0" }, "-p needs a number of runs at a time from 1 to")]
    [InlineData(new[] { "Part1", "TestX", "-p", "10000" }, "-p needs a number of runs at a time from 1 to")]
    [InlineData(new[] { "Part1", "TestX", "-n" }, "-n needs a value")]
    [InlineData(new[] { "Part1", "TestX", "--fast" }, "unknown option '--fast'")]
    [InlineData(new[] { "Part1", "Raft.RaftTests.TestX" }, "'Raft.RaftTests.TestX' is not a test method's name or a pattern")]
    [InlineData(new[] { "Part1", "TestX", "TestY" }, "one part and one test name or pattern, not also 'TestY'")]
    public async Task RejectsBadArgumentsInOneLine(string[] args, string message)
    {
        File.WriteAllText(Path.Combine(_root.FullName, "Directory.Build.props"), "<Project />");
        Directory.CreateDirectory(Path.Combine(_root.FullName, "Part1"));
        File.WriteAllText(Path.Combine(_root.FullName, "Part1", "Raft.sln"), "");

        var (code, stdout, stderr) = await Repeat(_root.FullName, false, TestContext.Current.CancellationToken, args);

        code.Should().Be(2);
        stdout.Should().BeEmpty("nothing was built or run");
        stderr.Should().StartWith("TestLogViz repeat: " + message);
        stderr.TrimEnd().Should().NotContain("\n", "a bad argument gets one line");
    }

    [Fact]
    public void MatchesNamesAndPatterns()
    {
        string[] listed = ["TestA", "TestAB", "TestFigure8Unreliable", "TestFigure8", "Other"];

        TestRepeater.MatchingTests(listed, "TestA").Should().Equal("TestA");
        TestRepeater.MatchingTests(listed, "TestFigure8*").Should().Equal("TestFigure8Unreliable", "TestFigure8");
        TestRepeater.MatchingTests(listed, "TestAB|Other").Should().Equal("TestAB", "Other");
        TestRepeater.MatchingTests(listed, "Nothing*").Should().BeEmpty();
        TestRepeater.ListedTests("Test run for x.dll\nThe following Tests are available:\n    TestA\n    TestT(n: 1)\n    TestT(n: 2)\n")
            .Should().Equal("TestA", "TestT");
    }

    [Fact]
    public async Task RepeatsAndKeepsOnlyTheFailingRunsPage()
    {
        string root = await fixture.RootAsync();
        var ct = TestContext.Current.CancellationToken;

        // Two tests, three runs, two at a time: one test always passes, the other fails in run 2.
        // Exit status 1; runs 1 and 3 are thrown away, and of run 2 only the failing test's page is written.
        string runs = Path.GetDirectoryName(BuiltFixture.RunDir(root, "TestAlwaysPasses_TestFailsOnSecondRun", 1))!;
        string run2 = Path.Combine(runs, "run-2");
        var (code, stdout, stderr) = await Repeat(root, false, ct, "Fixture", "TestAlwaysPasses|TestFailsOnSecondRun", "-n", "3", "-p", "2", "--no-build");
        code.Should().Be(1, stdout + stderr);
        var lines = stdout.TrimEnd().Split('\n');
        lines.Should().Contain(l => l.StartsWith("repeat: Fixture TestAlwaysPasses TestFailsOnSecondRun: 3 runs, 2 at a time;", StringComparison.Ordinal), stdout);
        lines.Should().NotContain(l => l.StartsWith("repeat: building", StringComparison.Ordinal), "--no-build builds nothing");
        lines.Count(l => l.StartsWith("run ", StringComparison.Ordinal) && l.Contains(": PASS in ", StringComparison.Ordinal)).Should().Be(2, stdout);
        string page = Path.Combine(run2, "TestFailsOnSecondRun.html");
        File.Exists(page).Should().BeTrue(stdout);
        File.ReadAllText(page).Should().Contain("this test fails in run 2, on purpose").And.Contain("const MESSAGES = [[0,");
        File.Exists(Path.Combine(run2, "run.trx")).Should().BeTrue();
        File.Exists(Path.Combine(run2, "TestAlwaysPasses.html")).Should().BeFalse("a failing run's passing tests get no page");
        Directory.EnumerateDirectories(runs).Select(Path.GetFileName).Should().Equal(["run-2"], "only the failing run is kept");
        lines.Should().Contain($"run 2: FAIL TestFailsOnSecondRun -> {new Uri(page).AbsoluteUri}");
        lines.Should().Contain(l => l.StartsWith("repeat: 3 runs, 1 failed, in ", StringComparison.Ordinal));
        int table = Array.FindIndex(lines, l => l.StartsWith("test ", StringComparison.Ordinal));
        table.Should().BePositive(stdout);
        lines[table].Should().MatchRegex(@"^test\s+runs  failed  time \(mean ± sd\)$");
        lines[table + 1].Should().MatchRegex(@"^TestAlwaysPasses\s+3\s+0  \d+\.\d\d s ± \d+\.\d\d s$");
        lines[table + 2].Should().MatchRegex(@"^TestFailsOnSecondRun\s+3\s+1  \d+\.\d\d s ± \d+\.\d\d s$");
        lines[^2].Should().Be("Pages of the failing runs:");
        lines[^1].Should().Be($"  run 2: {new Uri(page).AbsoluteUri}");

        // A name that matches none of the part's tests: one line, exit status 2.
        (code, stdout, stderr) = await Repeat(root, false, ct, "Fixture", "TestNoSuch*", "-n", "3", "--no-build");
        code.Should().Be(2);
        stderr.Should().StartWith("TestLogViz repeat: no test in Fixture matches 'TestNoSuch*'");
        stderr.TrimEnd().Should().NotContain("\n", "the error is one line");

        // In a terminal, one line redrawn in place; every run passed: exit status 0; --keep keeps a
        // passing run's log and page. (The build step, which --no-build skips everywhere here, is
        // `dotnet build` of the part's solution; BuiltFixture has done the same.)
        (code, stdout, stderr) = await Repeat(root, true, ct, "Fixture", "TestAlwaysPasses", "-n", "1", "--keep", "--no-build");
        code.Should().Be(0, stdout + stderr);
        stdout.Should().Contain("\r[1/1 runs, 0 failed] ").And.NotContain("run 1: PASS");
        File.Exists(Path.Combine(BuiltFixture.RunDir(root, "TestAlwaysPasses", 1), "TestAlwaysPasses.html")).Should().BeTrue();
    }

    public void Dispose()
    {
        try
        {
            _root.Delete(recursive: true);
        }
        catch (IOException)
        {
            // The temp folder is cleaned eventually.
        }
    }
}

/// <summary>
/// Ctrl+C in the middle of a repeat. A class of its own, so that it runs beside
/// <see cref="TestRepeaterTests"/> rather than after it: both spend most of their time waiting
/// for child processes.
/// </summary>
public sealed class TestRepeaterStopTests(BuiltFixture fixture)
{
    [Fact]
    public async Task StopsCleanlyAndStillPrintsTheTable()
    {
        string root = await fixture.RootAsync();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        // Runs of a test that waits two minutes, stopped once two are under way, as Ctrl+C stops them.
        var repeat = TestRepeaterTests.Repeat(root, false, stop.Token, "Fixture", "TestWaitsLong", "-n", "4", "-p", "2", "--no-build");
        string runs = Path.GetDirectoryName(BuiltFixture.RunDir(root, "TestWaitsLong", 1))!;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (!(Directory.Exists(runs) && Directory.EnumerateDirectories(runs).Count() == 2) && !repeat.IsCompleted)
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "two runs should have started by now");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        var (code, stdout, stderr) = await repeat.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        code.Should().Be(130, stdout + stderr);
        var lines = stdout.TrimEnd().Split('\n');
        lines.Should().Contain(l => l.StartsWith("repeat: stopped after 0 of 4 runs (0 failed) in ", StringComparison.Ordinal)
                                    && l.EndsWith("; runs under way were not counted", StringComparison.Ordinal), stdout);
        lines[^2].Should().MatchRegex(@"^test\s+runs  failed  time \(mean ± sd\)$");
        lines[^1].Should().MatchRegex(@"^TestWaitsLong\s+0\s+0  -$");
        Directory.Exists(runs).Should().BeTrue();
        Directory.EnumerateDirectories(runs).Should().HaveCount(2, "only the two runs under way had started");
    }
}
