// `TestLogViz repeat`: its checks of the command line, and real repeats of a miniature part
// (TestData/RepeatFixture) whose tests pass, fail in the second run only, or wait to be stopped.
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class TestRepeaterTests : IDisposable
{
    /// <summary>A made-up repository; the real repeats copy the fixture into it.</summary>
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("testlogviz-repeat-");

    private static async Task<(int Code, string Stdout, string Stderr)> Repeat(string root, bool interactive, CancellationToken ct, params string[] args)
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

    /// <summary>
    /// The fixture in a folder of its own, as a repository with one part (Fixture), with this
    /// repository's package versions. Built by the first repeat (restoring from the package cache).
    /// </summary>
    private string CopyFixture()
    {
        string from = LogParserTests.DataPath("RepeatFixture");
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(_root.FullName, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        File.Copy(Path.Combine(TestRunnerTests.RepositoryRoot(), "Directory.Packages.props"), Path.Combine(_root.FullName, "Directory.Packages.props"));
        return _root.FullName;
    }

    private string RunDir(string test, int run) => Path.Combine(_root.FullName, "artifacts", "testlogs", "Fixture", "repeat-" + test, $"run-{run}");

    [Fact]
    public async Task RepeatsAndKeepsOnlyTheFailingRunsPage()
    {
        string root = CopyFixture();
        var ct = TestContext.Current.CancellationToken;

        // A test that passes: three runs, two at a time, nothing kept.
        var (code, stdout, stderr) = await Repeat(root, false, ct, "Fixture", "TestAlwaysPasses", "-n", "3", "-p", "2");
        code.Should().Be(0, stdout + stderr);
        var lines = stdout.TrimEnd().Split('\n');
        lines.Should().Contain(l => l.StartsWith("repeat: Fixture TestAlwaysPasses: 3 runs, 2 at a time;", StringComparison.Ordinal));
        lines.Count(l => l.StartsWith("run ", StringComparison.Ordinal) && l.Contains(": PASS in ", StringComparison.Ordinal)).Should().Be(3, stdout);
        lines.Should().Contain(l => l.StartsWith("repeat: 3 runs, 0 failed, in ", StringComparison.Ordinal));
        lines[^2].Should().MatchRegex(@"^test\s+runs  failed  time \(mean ± sd\)$");
        lines[^1].Should().MatchRegex(@"^TestAlwaysPasses\s+3\s+0  \d+\.\d\d s ± \d+\.\d\d s$");
        Directory.EnumerateDirectories(Path.GetDirectoryName(RunDir("TestAlwaysPasses", 1))!).Should().BeEmpty("passing runs' logs are thrown away");

        // A test that fails in run 2: exit status 1, and only run 2's log and page are kept.
        (code, stdout, stderr) = await Repeat(root, false, ct, "Fixture", "TestFailsOnSecondRun", "-n", "3", "-p", "2");
        code.Should().Be(1, stdout + stderr);
        string page = Path.Combine(RunDir("TestFailsOnSecondRun", 2), "TestFailsOnSecondRun.html");
        File.Exists(page).Should().BeTrue(stdout);
        File.ReadAllText(page).Should().Contain("this test fails in run 2, on purpose").And.Contain("const MESSAGES = [[0,");
        File.Exists(Path.Combine(RunDir("TestFailsOnSecondRun", 2), "run.trx")).Should().BeTrue();
        Directory.EnumerateDirectories(Path.GetDirectoryName(RunDir("TestFailsOnSecondRun", 2))!)
            .Select(Path.GetFileName).Should().Equal(["run-2"], "only the failing run is kept");
        lines = stdout.TrimEnd().Split('\n');
        lines.Should().Contain($"run 2: FAIL TestFailsOnSecondRun -> {new Uri(page).AbsoluteUri}");
        lines.Should().Contain(l => l.StartsWith("repeat: 3 runs, 1 failed, in ", StringComparison.Ordinal));
        lines.Should().Contain(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^TestFailsOnSecondRun\s+3\s+1  \d"));
        lines[^2].Should().Be("Pages of the failing runs:");
        lines[^1].Should().Be($"  run 2: {new Uri(page).AbsoluteUri}");

        // A name that matches none of the part's tests.
        (code, stdout, stderr) = await Repeat(root, false, ct, "Fixture", "TestNoSuch*", "-n", "3");
        code.Should().Be(2);
        stderr.Should().StartWith("TestLogViz repeat: no test in Fixture matches 'TestNoSuch*'");

        // In a terminal, one line redrawn in place; --keep keeps a passing run's log and page.
        (code, stdout, _) = await Repeat(root, true, ct, "Fixture", "TestAlwaysPasses", "-n", "1", "--keep");
        code.Should().Be(0);
        stdout.Should().Contain("\r[1/1 runs, 0 failed] ").And.NotContain("run 1: PASS");
        File.Exists(Path.Combine(RunDir("TestAlwaysPasses", 1), "TestAlwaysPasses.html")).Should().BeTrue();
    }

    [Fact]
    public async Task StopsCleanlyAndStillPrintsTheTable()
    {
        string root = CopyFixture();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        // Runs of a test that waits two minutes, stopped once two are under way, as Ctrl+C stops them.
        var repeat = Repeat(root, false, stop.Token, "Fixture", "TestWaitsLong", "-n", "4", "-p", "2");
        string runs = Path.GetDirectoryName(RunDir("TestWaitsLong", 1))!;
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
    }

    public void Dispose()
    {
        try
        {
            _root.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A build server may still hold a file for a moment; the temp folder is cleaned eventually.
        }
    }
}
