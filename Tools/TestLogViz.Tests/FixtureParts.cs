// TestData/Fixture, built with this project, laid out as a part in two made-up repositories: one
// whose part `repeat` runs through `dotnet test` (as a KV part's), one whose part it runs in this
// process from seeds (as Part1-3's). Nothing is built here.
using Xunit;

[assembly: AssemblyFixture(typeof(TestLogViz.FixtureParts))]

namespace TestLogViz;

/// <summary>
/// The fixture's two repositories, each made on first use and shared by every test. Both name
/// the part Fixture (Fixture/Fixture.slnx).
/// </summary>
public sealed class FixtureParts : IDisposable
{
    /// <summary>The configuration this project, and so the fixture, was built in.</summary>
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    /// <summary>The fixture's variable for the folder where its waiting test says it has started.</summary>
    public const string SignalVariable = "TESTLOGVIZ_FIXTURE_SIGNALS";

    private readonly DirectoryInfo _top = Directory.CreateTempSubdirectory("testlogviz-fixture-");
    private readonly Lazy<string> _dotnetRoot;
    private readonly Lazy<string> _seedRoot;

    public FixtureParts()
    {
        _dotnetRoot = new(MakeDotnetRoot);
        _seedRoot = new(MakeSeedRoot);
        // The fixture's child test runs inherit this process's environment, and with it the folder.
        Signals = Directory.CreateDirectory(Path.Combine(_top.FullName, "signals")).FullName;
        Environment.SetEnvironmentVariable(SignalVariable, Signals);
    }

    /// <summary>Where the fixture's waiting test writes "waiting-run-N" once it waits.</summary>
    public string Signals { get; }

    /// <summary>
    /// A repository whose solution names the fixture's real project: its tests run through
    /// `dotnet test --no-build` on what the build made, and their logs go here.
    /// </summary>
    public string DotnetRoot => _dotnetRoot.Value;

    /// <summary>
    /// A repository whose part has a simulated test project and its built assembly where the build
    /// would put it, so that `repeat` loads it and runs its tests in this process.
    /// </summary>
    /// <remarks>One for all tests: a process loads the fixture's assembly once, from one place.</remarks>
    public string SeedRoot => _seedRoot.Value;

    /// <summary>Where `repeat` through dotnet test puts run N of TEST.</summary>
    public static string RunDir(string root, string test, int run) =>
        Path.Combine(root, "artifacts", "testlogs", "Fixture", "repeat-" + test, $"run-{run}");

    /// <summary>The fixture's project, in this repository.</summary>
    private static string Project => Path.Combine(TestRunnerTests.RepositoryRoot(), "Tools", "TestLogViz.Tests", "TestData", "Fixture", "Raft.Tests", "Raft.Tests.csproj");

    private string MakeDotnetRoot()
    {
        string part = Directory.CreateDirectory(Path.Combine(_top.FullName, "dotnet", "Fixture")).FullName;
        File.WriteAllText(Path.Combine(part, "Fixture.slnx"), $"<Solution>\n  <Project Path=\"{Path.GetRelativePath(part, Project)}\" />\n</Solution>\n");
        return Path.GetDirectoryName(part)!;
    }

    private string MakeSeedRoot()
    {
        string root = Directory.CreateDirectory(Path.Combine(_top.FullName, "seed")).FullName;
        string tests = Directory.CreateDirectory(Path.Combine(root, "Fixture", "Raft.Tests")).FullName;
        File.WriteAllText(Path.Combine(root, "Fixture", "Fixture.slnx"), "<Solution>\n  <Project Path=\"Raft.Tests/Raft.Tests.csproj\" />\n</Solution>\n");
        File.Copy(Project, Path.Combine(tests, "Raft.Tests.csproj"));
        string built = Path.GetDirectoryName(TestRunner.BuiltAssembly(TestRunnerTests.RepositoryRoot(), "Fixture", Project, Configuration))!;
        string to = Path.GetDirectoryName(TestRunner.BuiltAssembly(root, "Fixture", Project, Configuration))!;
        foreach (string file in Directory.EnumerateFiles(built, "*", SearchOption.AllDirectories))
        {
            string copy = Path.Combine(to, Path.GetRelativePath(built, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        return root;
    }

    public void Dispose()
    {
        try
        {
            _top.Delete(recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A loaded assembly or a child's file may still be held; the temp folder is cleaned eventually.
        }
    }
}
