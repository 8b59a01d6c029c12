// `TestLogViz run PART TEST`: runs one test of one part with its log captured, then writes the
// test's timeline and prints the page's address. dotest.sh is a thin wrapper around this, so
// learners with and without bash get the same behaviour from one implementation.
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace TestLogViz;

/// <summary>Runs one test through <c>dotnet test</c> and turns its TRX log into a page.</summary>
public static partial class TestRunner
{
    public const string Usage = """
        usage: TestLogViz run PART TEST_NAME [--seed SEED] [DOTNET_TEST_OPTION...]
          PART       a folder at the top of the repository holding one solution (Part1, Part2, ...)
          TEST_NAME  a test method's exact name, in any class of that part (TestElectionBasic)
          --seed     replays the simulated run of that seed (the seed a log's first line names);
                     for the parts whose tests run on the simulation (Part1-3)
          Other options after the test name go to `dotnet test` (for example -c Release).
        The log goes to artifacts/testlogs/PART/TEST_NAME.trx, the page next to it; its address is printed last.
        """;

    /// <summary>
    /// Checks the arguments, runs the test and writes its page. Returns the test run's exit code
    /// (0 when it passed), 1 when no test has that name or no log was written, 2 for a usage error.
    /// </summary>
    /// <param name="args">PART, TEST_NAME and any options for dotnet test.</param>
    /// <param name="root">The repository's top folder; found from the current folder when null.</param>
    public static async Task<int> RunAsync(string[] args, string? root, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        if (args.Length < 2)
        {
            return UsageError(stderr, root, "name a part and a test");
        }
        root ??= FindRoot();
        if (root is null)
        {
            return UsageError(stderr, null, "cannot find the repository's top folder (the one with Directory.Build.props) above the current folder");
        }

        string part = args[0].TrimEnd('/', '\\');
        string test = args[1];
        if (Solution(root, part) is not { } solution)
        {
            return UsageError(stderr, root, $"no part named '{args[0]}'");
        }
        if (!TestName().IsMatch(test))
        {
            return UsageError(stderr, root, $"'{test}' is not a test method's name");
        }

        List<string> extra = [.. args[2..]];
        var env = new Dictionary<string, string>();
        if (extra.IndexOf("--seed") is int at and >= 0)
        {
            if (at + 1 >= extra.Count || !int.TryParse(extra[at + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int seed))
            {
                return UsageError(stderr, root, $"--seed needs a whole number from 0 to {int.MaxValue}{(at + 1 < extra.Count ? $", not '{extra[at + 1]}'" : "")}");
            }
            if (SimulatedTestProject(root, part) is null || Lab.RunMode.RealTime)
            {
                return UsageError(stderr, root, $"--seed replays a simulated run, and {(Lab.RunMode.RealTime ? "RAFT_REAL_TIME is set" : $"{part}'s tests do not run on the simulation")}");
            }
            env["RAFT_SEED"] = seed.ToString(CultureInfo.InvariantCulture);
            extra.RemoveRange(at, 2);
        }

        string logDir = Path.Combine(root, "artifacts", "testlogs", part);
        string trx = Path.Combine(logDir, test + ".trx");
        if (File.Exists(trx))
        {
            File.Delete(trx);
        }

        // Only the method's name is shown (MethodDisplay=Method), so DisplayName=TestX matches that
        // method in whatever class and namespace, and nothing longer: ...Reconnect does not pick up
        // ...Reconnect5, as FullyQualifiedName~ would. A theory's cases are named TestX(arguments).
        string[] dotnetArgs =
        [
            "test", solution, "--nologo", "-v", "q",
            "--filter", $"DisplayName={test}|DisplayName~{test}\\(",
            "--logger", $"trx;LogFileName={test}.trx", "--results-directory", logDir,
            .. extra,
            "--", "xUnit.MethodDisplay=Method",
        ];
        int status = await RunDotnetAsync(dotnetArgs, root, stdout, stderr, ct, env);

        if (!File.Exists(trx))
        {
            stderr.WriteLine($"TestLogViz: dotnet test wrote no test log (it exited with {status}); see its output above");
            return status == 0 ? 1 : status;
        }
        var tests = LogParser.Parse(await File.ReadAllTextAsync(trx, ct));
        if (tests.Count == 0)
        {
            File.Delete(trx);
            stderr.WriteLine($"TestLogViz: no test named '{test}' in {part} ({Path.GetRelativePath(root, solution)}); " +
                             $"a test is named by its method, exactly, as in {part}'s test classes");
            return 1;
        }
        stdout.WriteLine($"Log: {trx}");

        // The visualizer prints each test's status and page, then the run's status; the page's
        // address is repeated last, to be easy to find and click.
        var viz = new StringWriter();
        int vizStatus = Program.Run([trx, "--out", logDir], null, viz, stderr);
        string text = viz.ToString();
        stdout.Write(text);
        if (text.Split('\n').Select(l => l.TrimEnd('\r')).LastOrDefault(l => l.StartsWith(Program.EmittedPrefix, StringComparison.Ordinal)) is { } emitted)
        {
            stdout.WriteLine(emitted[Program.EmittedPrefix.Length..]);
        }
        return status != 0 ? status : vizStatus;
    }

    /// <summary>The top folder: the nearest one above the current folder with Directory.Build.props.</summary>
    public static string? FindRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Build.props")))
            {
                return dir.FullName;
            }
        }
        return null;
    }

    /// <summary>The parts: folders at the top holding exactly one solution, in name order.</summary>
    public static IReadOnlyList<string> Parts(string root) =>
        [.. Directory.EnumerateDirectories(root)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => Solution(root, name) is not null)
            .Order(StringComparer.Ordinal)];

    /// <summary>
    /// The test project of <paramref name="part"/> whose tests run on the lab's simulation (its
    /// project file says &lt;RaftSimulated&gt;true&lt;/RaftSimulated&gt;), or null if the part has none.
    /// </summary>
    public static string? SimulatedTestProject(string root, string part) =>
        Directory.EnumerateFiles(Path.Combine(root, part), "*.csproj", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .FirstOrDefault(p => File.ReadAllText(p).Contains("<RaftSimulated>true</RaftSimulated>", StringComparison.Ordinal));

    /// <summary>Where the build puts <paramref name="project"/>'s assembly (artifacts/bin/PART.NAME/CONFIG/PART.NAME.dll).</summary>
    public static string BuiltAssembly(string root, string part, string project, string configuration)
    {
        string name = $"{part}.{Path.GetFileNameWithoutExtension(project)}";
        return Path.Combine(root, "artifacts", "bin", name, configuration.ToLowerInvariant(), name + ".dll");
    }

    /// <summary>The part's one solution file, or null if <paramref name="part"/> is not a part.</summary>
    internal static string? Solution(string root, string part)
    {
        if (part.Length == 0 || part.IndexOfAny(['/', '\\']) >= 0 || part is "." or "..")
        {
            return null;
        }
        string dir = Path.Combine(root, part);
        if (!Directory.Exists(dir))
        {
            return null;
        }
        string[] solutions = [.. Directory.EnumerateFiles(dir, "*.sln").Concat(Directory.EnumerateFiles(dir, "*.slnx"))];
        return solutions.Length == 1 ? solutions[0] : null;
    }

    /// <summary>
    /// Runs the dotnet that runs this tool (DOTNET_HOST_PATH, set by the dotnet CLI) or the one on
    /// the PATH, passing its output through line by line.
    /// </summary>
    internal static async Task<int> RunDotnetAsync(string[] args, string workingDir, TextWriter stdout, TextWriter stderr, CancellationToken ct,
                                                   IReadOnlyDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            WorkingDirectory = workingDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in env ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        await Task.WhenAll(
            CopyLinesAsync(process.StandardOutput, stdout, ct),
            CopyLinesAsync(process.StandardError, stderr, ct),
            process.WaitForExitAsync(ct));
        return process.ExitCode;
    }

    private static async Task CopyLinesAsync(StreamReader from, TextWriter to, CancellationToken ct)
    {
        while (await from.ReadLineAsync(ct) is { } line)
        {
            await to.WriteLineAsync(line);
        }
    }

    private static int UsageError(TextWriter stderr, string? root, string message)
    {
        stderr.WriteLine($"TestLogViz: {message}");
        stderr.WriteLine(Usage);
        if (root is not null)
        {
            stderr.WriteLine($"Parts here: {string.Join(' ', Parts(root))}");
        }
        return 2;
    }

    /// <summary>A C# method name: what the filter can match exactly.</summary>
    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex TestName();
}
