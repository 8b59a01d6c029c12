// `TestLogViz repeat`: its checks of the command line, and real repeats of a miniature part
// (TestData/Fixture) whose tests pass, fail in one run only, or wait to be stopped: in this
// process from seeds, and once through dotnet test.
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class TestRepeaterTests(FixtureParts fixture) : IDisposable
{
    /// <summary>A made-up repository, for the checks of the command line.</summary>
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("testlogviz-repeat-");

    internal static async Task<(int Code, string Stdout, string Stderr)> Repeat(string root, bool interactive, CancellationToken ct, params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int code = await Program.InvokeAsync(["repeat", .. args], new Terminal(null, stdout, stderr, interactive, root), ct);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData(new[] { "Part1" }, "Required argument 'TEST' missing for command: 'repeat'.")]
    [InlineData(new[] { "Part9", "TestX" }, "no part named 'Part9'; parts here: Part1")]
    [InlineData(new[] { "Part1", "TestX", "-n", "0" }, "-n needs a number of runs, 1 or more, not '0'")]
    [InlineData(new[] { "Part1", "TestX", "-n", "many" }, "-n needs a number of runs, 1 or more, not 'many'")]
    [InlineData(new[] { "Part1", "TestX", "-p", "0" }, "-p needs a number of runs at a time from 1 to")]
    [InlineData(new[] { "Part1", "TestX", "-p", "10000" }, "-p needs a number of runs at a time from 1 to")]
    [InlineData(new[] { "Part1", "TestX", "--seed", "-1" }, "--seed needs a whole number from 0 to 2147483647, not '-1'")]
    [InlineData(new[] { "Part1", "TestX", "--seed", "3" }, "--seed is for a part whose tests run on the simulation, and Part1's do not")]
    [InlineData(new[] { "Part1", "TestX", "--hashes", "h.txt" }, "--hashes is for a part whose tests run on the simulation, and Part1's do not")]
    [InlineData(new[] { "Part1", "TestX", "-n" }, "Required argument missing for option: '-n'.")]
    [InlineData(new[] { "Part1", "TestX", "--fast" }, "Unrecognized command or argument '--fast'.")]
    [InlineData(new[] { "Part1", "Raft.RaftTests.TestX" }, "'Raft.RaftTests.TestX' is not a test method's name or a pattern")]
    [InlineData(new[] { "Part1", "TestX", "TestY" }, "Unrecognized command or argument 'TestY'.")]
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
        // In this process, from seeds, as Part1-3's tests are repeated.
        string root = fixture.SeedRoot;
        var ct = TestContext.Current.CancellationToken;

        // Two tests, three runs from seeds 1, 2 and 3, two at a time: one test always passes, the
        // other fails from seed 2. Exit status 1; runs 1 and 3 are thrown away, and of run 2 only
        // the failing test's log and page are written, with the command that replays it.
        string runs = Path.Combine(root, "artifacts", "testlogs", "Fixture", "repeat-TestAlwaysPasses_TestFailsOnSeed2");
        string seed2 = Path.Combine(runs, "seed-2");
        var (code, stdout, stderr) = await Repeat(root, false, ct, "Fixture", "TestAlwaysPasses|TestFailsOnSeed2", "-n", "3", "-p", "2", "--seed", "1",
                                                  "-c", FixtureParts.Configuration, "--no-build");
        code.Should().Be(1, stdout + stderr);
        var lines = stdout.TrimEnd().Split('\n');
        lines.Should().Contain(l => l.StartsWith("repeat: Fixture TestAlwaysPasses TestFailsOnSeed2: 3 runs on the simulation, 2 at a time, seeds 1 on;", StringComparison.Ordinal), stdout);
        lines.Should().NotContain(l => l.StartsWith("repeat: building", StringComparison.Ordinal), "--no-build builds nothing");
        lines.Count(l => l.StartsWith("run ", StringComparison.Ordinal) && l.Contains(": PASS in ", StringComparison.Ordinal)).Should().Be(2, stdout);
        string page = Path.Combine(seed2, "TestFailsOnSeed2.html");
        File.Exists(page).Should().BeTrue(stdout);
        File.ReadAllText(page).Should().Contain("this test fails from seed 2, on purpose").And.Contain("const MESSAGES = [[0,");
        File.ReadAllText(Path.Combine(seed2, "TestFailsOnSeed2.log")).Should().Contain("[TEST] seed 2");
        File.Exists(Path.Combine(seed2, "TestAlwaysPasses.html")).Should().BeFalse("a failing run's passing tests get no page");
        Directory.EnumerateDirectories(runs).Select(Path.GetFileName).Should().Equal(["seed-2"], "only the failing run is kept");
        lines.Should().Contain($"run 2 (seed 2): FAIL TestFailsOnSeed2 -> {new Uri(page).AbsoluteUri}");
        lines.Should().Contain(l => l.StartsWith("repeat: 3 runs, 1 failed, in ", StringComparison.Ordinal));
        int table = Array.FindIndex(lines, l => l.StartsWith("test ", StringComparison.Ordinal));
        table.Should().BePositive(stdout);
        lines[table].Should().MatchRegex(@"^test\s+runs  failed  time \(mean ± sd\)$");
        lines[table + 1].Should().MatchRegex(@"^TestAlwaysPasses\s+3\s+0  \d+\.\d\d s ± \d+\.\d\d s$");
        lines[table + 2].Should().MatchRegex(@"^TestFailsOnSeed2\s+3\s+1  \d+\.\d\d s ± \d+\.\d\d s$");
        lines[^3].Should().Be("Pages of the failing runs, and the command that replays each:");
        lines[^2].Should().Be($"  run 2: {new Uri(page).AbsoluteUri}");
        lines[^1].Should().Be("    ./dotest.sh Fixture TestFailsOnSeed2 --seed 2");

        // A name that matches none of the part's tests: one line, exit status 2.
        (code, stdout, stderr) = await Repeat(root, false, ct, "Fixture", "TestNoSuch*", "-n", "3", "-c", FixtureParts.Configuration, "--no-build");
        code.Should().Be(2);
        stderr.Should().StartWith("TestLogViz repeat: no test in Fixture matches 'TestNoSuch*'");
        stderr.TrimEnd().Should().NotContain("\n", "the error is one line");

        // In a terminal, one line redrawn in place; every run passed: exit status 0; --keep keeps a
        // passing run's log and page. (The build step, which --no-build skips everywhere here, is
        // `dotnet build` of the part's solution; the fixture was built with this project.)
        (code, stdout, stderr) = await Repeat(root, true, ct, "Fixture", "TestAlwaysPasses", "-n", "1", "--seed", "5", "--keep", "-c", FixtureParts.Configuration, "--no-build");
        code.Should().Be(0, stdout + stderr);
        stdout.Should().Contain("\r[1/1 runs, 0 failed] ").And.NotContain("run 1: PASS");
        File.Exists(Path.Combine(root, "artifacts", "testlogs", "Fixture", "repeat-TestAlwaysPasses", "seed-5", "TestAlwaysPasses.html")).Should().BeTrue();
    }

    [Fact]
    public async Task StoppedBeforeAnyRunEndsWith130AndTheTable()
    {
        // Ctrl+C before the first run: nothing runs, and the table says so.
        using var stop = new CancellationTokenSource();
        await stop.CancelAsync();
        var (code, stdout, stderr) = await Repeat(fixture.SeedRoot, false, stop.Token, "Fixture", "TestAlwaysPasses2", "-n", "3",
                                                  "-c", FixtureParts.Configuration, "--no-build");

        code.Should().Be(130, stdout + stderr);
        var lines = stdout.TrimEnd().Split('\n');
        lines.Should().Contain(l => l.StartsWith("repeat: stopped after 0 of 3 runs (0 failed) in ", StringComparison.Ordinal), stdout);
        lines[^2].Should().MatchRegex(@"^test\s+runs  failed  time \(mean ± sd\)$");
        lines[^1].Should().MatchRegex(@"^TestAlwaysPasses2\s+0\s+0  -$");
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
/// The one test of `repeat` through `dotnet test`, a process per run, as a part's tests are
/// repeated in real time (RAFT_REAL_TIME=1): a run that fails is kept, and Ctrl+C stops the runs under way, which are not counted.
/// A class of its own, so that it runs beside the others: it spends most of its time waiting for
/// child processes.
/// </summary>
public sealed class TestRepeaterThroughDotnetTests(FixtureParts fixture)
{
    [Fact]
    public async Task RunsThroughDotnetTestAndStopsCleanly()
    {
        string root = fixture.DotnetRoot;
        var ct = TestContext.Current.CancellationToken;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);

        // Two runs at once: run 1 fails, run 2 waits two minutes. Once run 1 has ended and run 2
        // waits, the repeat is stopped, as Ctrl+C stops it. Only two runs, each a dotnet test of its
        // own: that a passing run's folder goes is checked on runs from seeds, in
        // RepeatsAndKeepsOnlyTheFailingRunsPage.
        string runs = Path.GetDirectoryName(FixtureParts.RunDir(root, "TestFailsInFirstRun_TestWaitsInSecondRun", 1))!;
        string page = Path.Combine(runs, "run-1", "TestFailsInFirstRun.html");
        string waiting = Path.Combine(fixture.Signals, "waiting-run-2");
        var repeat = TestRepeaterTests.Repeat(root, false, stop.Token, "Fixture", "TestFailsInFirstRun|TestWaitsInSecondRun", "-n", "2", "-p", "2",
                                              "-c", FixtureParts.Configuration, "--no-build");
        // Run 1's page is written once it is sure to count.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (!(File.Exists(page) && File.Exists(waiting)) && !repeat.IsCompleted)
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "run 1 should have ended and run 2 started by now");
            await Task.Delay(50, ct);
        }
        await stop.CancelAsync();
        var (code, stdout, stderr) = await repeat.WaitAsync(TimeSpan.FromSeconds(60), ct);

        // A failed run makes the status 1, stopped or not.
        code.Should().Be(1, stdout + stderr);
        var lines = stdout.TrimEnd().Split('\n');
        lines.Should().Contain(l => l.StartsWith("repeat: Fixture TestFailsInFirstRun TestWaitsInSecondRun: 2 runs, 2 at a time;", StringComparison.Ordinal), stdout);
        lines.Should().Contain($"run 1: FAIL TestFailsInFirstRun -> {new Uri(page).AbsoluteUri}");
        lines.Should().Contain(l => l.StartsWith("repeat: stopped after 1 of 2 runs (1 failed) in ", StringComparison.Ordinal)
                                    && l.EndsWith("; runs under way were not counted", StringComparison.Ordinal), stdout);
        int table = Array.FindIndex(lines, l => l.StartsWith("test ", StringComparison.Ordinal));
        table.Should().BePositive(stdout);
        lines[table + 1].Should().MatchRegex(@"^TestFailsInFirstRun\s+1\s+1  \d+\.\d\d s ± \d+\.\d\d s$");
        lines[table + 2].Should().MatchRegex(@"^TestWaitsInSecondRun\s+1\s+0  \d+\.\d\d s ± \d+\.\d\d s$");
        lines[^2].Should().Be("Pages of the failing runs:");
        lines[^1].Should().Be($"  run 1: {new Uri(page).AbsoluteUri}");

        // Run 1 keeps its log and only its failing test's page; run 2, stopped, keeps what it had.
        Directory.EnumerateDirectories(runs).Select(Path.GetFileName).Order(StringComparer.Ordinal).Should().Equal("run-1", "run-2");
        File.Exists(Path.Combine(runs, "run-1", "run.trx")).Should().BeTrue();
        File.ReadAllText(page).Should().Contain("this test fails in run 1, on purpose").And.Contain("const MESSAGES = [[0,");
        File.Exists(Path.Combine(runs, "run-1", "TestWaitsInSecondRun.html")).Should().BeFalse("a failing run's passing tests get no page");
    }
}
