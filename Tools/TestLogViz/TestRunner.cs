// `TestLogViz run PART TEST`: runs one test of one part with its log captured, then writes the
// test's timeline and prints the page's address. dotest.sh is a thin wrapper around this, so
// learners with and without bash get the same behaviour from one implementation.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace TestLogViz;

/// <summary>Runs one test through <c>dotnet test</c> and turns its TRX log into a page.</summary>
public static partial class TestRunner
{
    /// <summary>The run command: its arguments and options, and what it does with them.</summary>
    internal static Command Command(Terminal terminal)
    {
        Argument<string> part = new("PART") { Description = "a folder at the top of the repository holding one solution (Part1, Part2, ...)" };
        Argument<string> test = new("TEST_NAME") { Description = "a test method's exact name, in any class of that part (TestElectionBasic)" };
        test.Validators.Add(r =>
        {
            string value = r.GetValueOrDefault<string>();
            if (!TestName().IsMatch(value))
            {
                r.AddError($"'{value}' is not a test method's name");
            }
        });
        Argument<string[]> dotnetTestOptions = new("DOTNET_TEST_OPTION")
        {
            Description = "any other option goes to `dotnet test` (for example -c Release)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        Option<int?> seed = Program.SeedOption("replays the simulated run of that seed (the seed a log's first line names); for the parts whose tests run on the simulation (Part1-3, and the KV parts' system tests)");
        var run = new Command("run", "Runs one test, then writes its page: the log goes to artifacts/testlogs/PART/TEST_NAME.trx, " +
                                     "the page next to it, and the page's address is printed last.")
        {
            part, test, dotnetTestOptions, seed,
        };
        run.SetAction((r, ct) => RunAsync(r.GetRequiredValue(part), r.GetRequiredValue(test), r.GetValue(seed), r.GetValue(dotnetTestOptions) ?? [],
                                          terminal.Root, terminal.Stdout, terminal.Stderr, ct));
        return run;
    }

    /// <summary>
    /// Checks the part, runs the test and writes its page. Returns the test run's exit code (0 when
    /// it passed), 1 when no test has that name or no log was written, 2 for a part that is not one
    /// or a seed it cannot replay.
    /// </summary>
    /// <param name="seed">The seed of the simulated run to replay, or null for a fresh one.</param>
    /// <param name="dotnetTestOptions">Options for dotnet test.</param>
    /// <param name="root">The repository's top folder; found from the current folder when null.</param>
    public static async Task<int> RunAsync(string part, string test, int? seed, IReadOnlyList<string> dotnetTestOptions, string? root,
                                           TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        root ??= FindRoot();
        if (root is null)
        {
            return UsageError(stderr, "cannot find the repository's top folder (the one with Directory.Build.props) above the current folder");
        }

        string given = part;
        part = part.TrimEnd('/', '\\');
        if (Solution(root, part) is not { } solution)
        {
            return UsageError(stderr, $"no part named '{given}'; parts here: {string.Join(' ', Parts(root))}");
        }

        var env = new Dictionary<string, string> { ["RAFT_RECORD"] = RecordVariable };
        if (seed is not null)
        {
            if (SimulatedTestProject(root, part) is null || Lab.RunMode.RealTime)
            {
                return UsageError(stderr, $"--seed replays a simulated run, and {(Lab.RunMode.RealTime ? "RAFT_REAL_TIME is set" : $"{part}'s tests do not run on the simulation")}");
            }
            env["RAFT_SEED"] = seed.Value.ToString(CultureInfo.InvariantCulture);
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
            .. dotnetTestOptions,
            "--", "xUnit.MethodDisplay=Method",
        ];
        int status = await RunDotnetAsync(dotnetArgs, root, stdout, stderr, ct, env);
        return await ReportAsync(root, part, solution, test, trx, status, stdout, stderr, ct);
    }

    /// <summary>
    /// What <see cref="RunAsync"/> does once dotnet test has ended with <paramref name="status"/>:
    /// says whether the test ran, writes its page from <paramref name="trx"/> and prints its
    /// address. Returns <see cref="RunAsync"/>'s exit code.
    /// </summary>
    public static async Task<int> ReportAsync(string root, string part, string solution, string test, string trx, int status,
                                              TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string logDir = Path.GetDirectoryName(trx)!;
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
        int vizStatus = Program.Visualize(trx, logDir, null, viz, stderr);
        string text = viz.ToString();
        stdout.Write(text);
        if (text.Split('\n').Select(l => l.TrimEnd('\r')).LastOrDefault(l => l.StartsWith(Program.EmittedPrefix, StringComparison.Ordinal)) is { } emitted)
        {
            stdout.WriteLine(emitted[Program.EmittedPrefix.Length..]);
        }
        return status != 0 ? status : vizStatus;
    }

    /// <summary>
    /// RAFT_RECORD for a test process: a simulated run is recorded, so that its page gets the
    /// player, unless RAFT_RECORD=0 says not to; a run in real time ignores it.
    /// </summary>
    internal static string RecordVariable => Lab.RunMode.RecordSwitch ?? true ? "1" : "0";

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
        using var process = Process.Start(DotnetStartInfo(args, workingDir, env)) ?? throw new InvalidOperationException("could not start dotnet");
        await Task.WhenAll(
            CopyLinesAsync(process.StandardOutput, stdout, ct),
            CopyLinesAsync(process.StandardError, stderr, ct),
            process.WaitForExitAsync(ct));
        return process.ExitCode;
    }

    /// <summary>
    /// How to start the dotnet that runs this tool (DOTNET_HOST_PATH, set by the dotnet CLI) or the
    /// one on the PATH, its output redirected. Its processes (the CLI, MSBuild, the test host, the
    /// tests) live for seconds, too short for tiered PGO to pay back what its instrumentation costs:
    /// it is off unless the caller's environment sets it (a `dotnet test Part5Kv` took 6.5
    /// CPU-seconds without it, 9.5 with it, on a 2-core machine). It changes how fast code runs, never what it does.
    /// </summary>
    internal static ProcessStartInfo DotnetStartInfo(IEnumerable<string> args, string workingDir, IReadOnlyDictionary<string, string>? env)
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
        if (Environment.GetEnvironmentVariable("DOTNET_TieredPGO") is null)
        {
            start.Environment["DOTNET_TieredPGO"] = "0";
        }
        foreach (var (name, value) in env ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        return start;
    }

    private static async Task CopyLinesAsync(StreamReader from, TextWriter to, CancellationToken ct)
    {
        while (await from.ReadLineAsync(ct) is { } line)
        {
            await to.WriteLineAsync(line);
        }
    }

    /// <summary>What is wrong with the command, in one line; exit code 2.</summary>
    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"TestLogViz: {message}");
        return 2;
    }

    /// <summary>A C# method name: what the filter can match exactly.</summary>
    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex TestName();
}
