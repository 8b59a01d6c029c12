// `TestLogViz run PART TEST`, the command behind dotest.sh: its checks, a real run of the miniature
// part in TestData/Fixture, and what it says of the log a run of a name that matches nothing leaves.
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class TestRunnerTests : IDisposable
{
    /// <summary>A made-up repository: parts with one solution each, and folders that are not parts.</summary>
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("testlogviz-root-");

    /// <summary>The miniature part that the real runs run.</summary>
    private readonly FixtureParts _fixture;

    public TestRunnerTests(FixtureParts fixture)
    {
        _fixture = fixture;
        File.WriteAllText(Path.Combine(_root.FullName, "Directory.Build.props"), "<Project />");
        AddFolder("Part1", "Raft.sln");
        AddFolder("Part4Kv", "Kv.sln");
        AddFolder("Tools", "README.md");
        AddFolder("Mixed", "A.sln", "B.sln");
    }

    /// <summary>This repository's top folder, found from where the tests run (artifacts/bin/...).</summary>
    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Build.props")) && Directory.Exists(Path.Combine(dir.FullName, "Part1")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no repository above {AppContext.BaseDirectory}");
    }

    private void AddFolder(string name, params string[] files)
    {
        string dir = Directory.CreateDirectory(Path.Combine(_root.FullName, name)).FullName;
        foreach (string file in files)
        {
            File.WriteAllText(Path.Combine(dir, file), "");
        }
    }

    private static async Task<(int Code, string Stdout, string Stderr)> Run(string? root, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.InvokeAsync(["run", .. args], new Terminal(null, stdout, stderr, Root: root), TestContext.Current.CancellationToken);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void PartsAreFoldersWithOneSolution()
    {
        TestRunner.Parts(_root.FullName).Should().Equal("Part1", "Part4Kv");
    }

    [Theory]
    [InlineData(new string[0], "TestLogViz: Required argument 'PART' missing for command: 'run'.")]
    [InlineData(new[] { "Part1" }, "TestLogViz: Required argument 'TEST_NAME' missing for command: 'run'.")]
    [InlineData(new[] { "Part9", "TestX" }, "TestLogViz: no part named 'Part9'; parts here: Part1 Part4Kv")]
    [InlineData(new[] { "Tools", "TestX" }, "TestLogViz: no part named 'Tools'; parts here: Part1 Part4Kv")]
    [InlineData(new[] { "Mixed", "TestX" }, "TestLogViz: no part named 'Mixed'; parts here: Part1 Part4Kv")]
    [InlineData(new[] { "../Part1", "TestX" }, "TestLogViz: no part named '../Part1'; parts here: Part1 Part4Kv")]
    [InlineData(new[] { "Part1", "Raft.RaftTests.TestX" }, "TestLogViz: 'Raft.RaftTests.TestX' is not a test method's name")]
    [InlineData(new[] { "Part1", "TestX|DisplayName~Test" }, "TestLogViz: 'TestX|DisplayName~Test' is not a test method's name")]
    [InlineData(new[] { "Part1", "TestX", "--seed", "x" }, "TestLogViz: --seed needs a whole number from 0 to 2147483647, not 'x'")]
    [InlineData(new[] { "Part1", "TestX", "--seed" }, "TestLogViz: Required argument missing for option: '--seed'.")]
    [InlineData(new[] { "Part4Kv", "TestX", "--seed", "3" }, "TestLogViz: --seed replays a simulated run, and Part4Kv's tests do not run on the simulation")]
    public async Task RejectsBadArgumentsInOneLine(string[] args, string line)
    {
        var (code, stdout, stderr) = await Run(_root.FullName, args);

        code.Should().Be(2);
        stdout.Should().BeEmpty("nothing was run");
        stderr.Should().Be(line + Environment.NewLine, "a bad argument gets one line, without the help");
    }

    [Fact]
    public async Task AcceptsPartWithTrailingSlash()
    {
        // Tab completion adds the slash; the check passes and the run fails later (no real project here).
        var (code, _, stderr) = await Run(_root.FullName, "Part4Kv/", "Test$");

        code.Should().Be(2);
        stderr.Should().StartWith("TestLogViz: 'Test$' is not a test method's name");
    }

    [Fact]
    public async Task RunsExactlyTheNamedTestAndPrintsItsPageLast()
    {
        // The one test of `run` through a real `dotnet test`, of the fixture as the build left it.
        string root = _fixture.DotnetRoot;

        // The fixture's TestAlwaysPasses, whose name is also the start of another test's
        // (TestAlwaysPasses2), which must not run, as FullyQualifiedName~ would run it.
        var (code, stdout, stderr) = await Run(root, "Fixture", "TestAlwaysPasses", "-c", FixtureParts.Configuration, "--no-build");

        string trx = Path.Combine(root, "artifacts", "testlogs", "Fixture", "TestAlwaysPasses.trx");
        File.Exists(trx).Should().BeTrue(stdout + stderr);
        var tests = LogParser.Parse(await File.ReadAllTextAsync(trx, TestContext.Current.CancellationToken));
        tests.Select(t => t.Name).Should().Equal(["TestAlwaysPasses"], "the filter matches the method's exact name");
        tests[0].Status.Should().Be("PASS");
        tests[0].Lines.Should().Contain(l => l.Id == "1" && l.Message.StartsWith("net: #1 RequestVote from 0", StringComparison.Ordinal));
        code.Should().Be(0, stdout + stderr);

        string page = new Uri(Path.ChangeExtension(trx, ".html")).AbsoluteUri;
        File.ReadAllText(Path.ChangeExtension(trx, ".html")).Should().Contain("const MESSAGES = [[0,", "the page has the test's one RequestVote");
        var lines = stdout.TrimEnd().Split(Environment.NewLine);
        lines.Should().Contain($"Log: {trx}").And.Contain($"... Emitted {page}");
        lines[^2].Should().Be("PASS");
        lines[^1].Should().Be(page);
    }

    [Fact]
    public async Task SaysWhenNoTestHasTheName()
    {
        // The log dotnet test leaves when its filter matches nothing (kept from a real run of the
        // fixture): it says so, and leaves no log and no page.
        string logDir = Directory.CreateDirectory(Path.Combine(_root.FullName, "artifacts", "testlogs", "Part1")).FullName;
        string trx = Path.Combine(logDir, "NoSuchTest.trx");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "TestData", "NoSuchTest.trx"), trx);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = await TestRunner.ReportAsync(_root.FullName, "Part1", Path.Combine(_root.FullName, "Part1", "Raft.sln"), "NoSuchTest", trx, 0,
                                                stdout, stderr, TestContext.Current.CancellationToken);

        code.Should().Be(1);
        stderr.ToString().Should().Be($"TestLogViz: no test named 'NoSuchTest' in Part1 ({Path.Combine("Part1", "Raft.sln")}); a test is named by its method, " +
                                      $"exactly, as in Part1's test classes{Environment.NewLine}");
        stdout.ToString().Should().BeEmpty();
        File.Exists(trx).Should().BeFalse();
        Directory.EnumerateFiles(logDir).Should().BeEmpty("no page either");
    }

    public void Dispose() => _root.Delete(recursive: true);
}
