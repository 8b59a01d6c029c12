// `TestLogViz repeat PART TEST -n 50 -p 4`: runs a test many times, a few at a time, to catch the
// rare run that fails, and turns each failing run's log into its page. Like MIT 6.824's dstest:
// one progress line while it runs, a table of runs, failures and times at the end.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace TestLogViz;

/// <summary>Runs one part's tests over and over through <c>dotnet test</c>, and keeps what failed.</summary>
public static partial class TestRepeater
{
    /// <summary>The repeat command: its arguments and options, and what it does with them.</summary>
    internal static Command Command(Terminal terminal)
    {
        Argument<string> part = new("PART") { Description = "a folder at the top of the repository holding one solution (Part1, Part2, ...)" };
        Argument<string> test = new("TEST")
        {
            Description = "a test method's exact name; several joined by '|' (TestA|TestB); '*' stands for any letters ('TestCrash*', quoted for the shell)",
        };
        test.Validators.Add(r =>
        {
            string value = r.GetValueOrDefault<string>();
            if (!TestPattern().IsMatch(value))
            {
                r.AddError($"'{value}' is not a test method's name or a pattern of names (letters, digits, '_', '*', '|')");
            }
        });
        Option<int> runs = new("-n")
        {
            Description = "how many times to run it",
            HelpName = "RUNS",
            DefaultValueFactory = _ => 10,
            CustomParser = r => Program.Number(r, "a number of runs, 1 or more", n => n >= 1),
        };
        Option<int> parallel = new("-p")
        {
            Description = $"how many runs at a time, at most twice the machine's cores ({MaxParallel})",
            HelpName = "PARALLEL",
            DefaultValueFactory = _ => 1,
            CustomParser = r => Program.Number(r, $"a number of runs at a time from 1 to {MaxParallel} (twice this machine's {Environment.ProcessorCount} cores; " +
                                                  "more and runs fail for want of CPU, not for a bug)", n => n >= 1 && n <= MaxParallel),
        };
        Option<int?> seed = Program.SeedOption("the first run's seed, the next SEED+1 and so on (default: fresh seeds); simulated parts only");
        Option<string?> hashes = new("--hashes")
        {
            Description = "write each run's test, seed and log hash to FILE (simulated parts only): two repeats with the same seeds, in two processes, must write the same file",
            HelpName = "FILE",
        };
        Option<bool> keep = new("--keep") { Description = "keep the logs of passing runs too (they are thrown away by default)" };
        Option<string> configuration = new("-c") { Description = "the build configuration, Debug or Release", HelpName = "CONFIGURATION", DefaultValueFactory = _ => "Debug" };
        Option<bool> noBuild = new("--no-build") { Description = "do not build the part first (it was built already, in that configuration)" };
        var repeat = new Command("repeat", "Runs a test many times, a few at a time, and keeps the pages of the runs that failed (see Tools/README.md). " +
                                           "Exit status: 0 when every run passed, 1 when any failed (or the part did not build), 2 for bad arguments, " +
                                           "130 when stopped by Ctrl+C before the end with no failure.")
        {
            part, test, runs, parallel, seed, hashes, keep, configuration, noBuild,
        };
        repeat.SetAction((r, ct) => StoppableAsync(
            stop => RepeatAsync(new Options(r.GetRequiredValue(part), r.GetRequiredValue(test), r.GetValue(runs), r.GetValue(parallel), r.GetValue(keep),
                                            r.GetRequiredValue(configuration), !r.GetValue(noBuild), r.GetValue(seed), r.GetValue(hashes)),
                                terminal.Root, terminal.Stdout, terminal.Stderr, terminal.Interactive, stop),
            ct));
        return repeat;
    }

    /// <summary>
    /// Runs <paramref name="repeat"/>, stopped cleanly by the first Ctrl+C (the runs under way end,
    /// the table is printed) or by <paramref name="ct"/>; a second Ctrl+C ends the program at once.
    /// </summary>
    private static async Task<int> StoppableAsync(Func<CancellationToken, Task<int>> repeat, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            e.Cancel = !stop.IsCancellationRequested;
            stop.Cancel();
        }
        Console.CancelKeyPress += OnCancel;
        try
        {
            return await repeat(stop.Token);
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
        }
    }

    /// <summary>Each run's number, 1 to RUNS, as the run's tests see it in their environment.</summary>
    public const string RunVariable = "TESTLOGVIZ_REPEAT_RUN";

    /// <summary>The environment switches that change how the tests run; named in the header when set.</summary>
    private static readonly string[] FaultSwitches = ["RAFT_UNRELIABLE_RPC", "RAFT_FORCE_MORE_REELECTION"];

    /// <summary>
    /// Checks the part (and that --seed and --hashes have a simulated one), builds it, runs the tests named RUNS times, PARALLEL at a time,
    /// and prints the table. <paramref name="interactive"/> redraws one progress line in place (a
    /// terminal); otherwise each finished run gets a line of its own (a log file, CI). Cancelling
    /// <paramref name="ct"/> (Ctrl+C) stops the runs under way, which are not counted, and still
    /// prints the table of those that finished.
    /// </summary>
    private static async Task<int> RepeatAsync(Options options, string? root, TextWriter stdout, TextWriter stderr, bool interactive, CancellationToken ct)
    {
        root ??= TestRunner.FindRoot();
        if (root is null)
        {
            return UsageError(stderr, "cannot find the repository's top folder (the one with Directory.Build.props) above the current folder");
        }
        string part = options.Part.TrimEnd('/', '\\');
        if (TestRunner.Solution(root, part) is not { } solution)
        {
            return UsageError(stderr, $"no part named '{options.Part}'; parts here: {string.Join(' ', TestRunner.Parts(root))}");
        }

        // With RAFT_REAL_TIME nothing is simulated: each run is a test process of its own.
        string? simulated = Lab.RunMode.RealTime ? null : TestRunner.SimulatedTestProject(root, part);
        if (simulated is null && (options.Seed is not null || options.Hashes is not null))
        {
            return UsageError(stderr, $"{(options.Seed is not null ? "--seed" : "--hashes")} is for a part whose tests run on the simulation, and " +
                                      (Lab.RunMode.RealTime ? "RAFT_REAL_TIME is set" : $"{part}'s do not"));
        }
        string outDir = Path.Combine(root, "artifacts", "testlogs", part, "repeat-" + SafeName(options.Test));
        var clock = Stopwatch.StartNew();
        if (options.Build)
        {
            stdout.WriteLine($"repeat: building {Path.GetRelativePath(root, solution)} ({options.Configuration}) ...");
            var build = await RunDotnetAsync(["build", solution, "-c", options.Configuration, "--nologo", "-v", "q"], root, null, null, ct);
            if (build.Cancelled)
            {
                stdout.WriteLine("repeat: stopped while building; nothing ran");
                return 130;
            }
            if (build.ExitCode != 0)
            {
                stderr.Write(build.Output);
                stderr.WriteLine($"TestLogViz repeat: {part} did not build (dotnet build exited with {build.ExitCode}); see its output above");
                return 1;
            }
        }

        if (simulated is not null)
        {
            return await RepeatSeedsAsync(options, part, root, simulated, outDir, clock, stdout, stderr, interactive, ct);
        }

        var list = await RunDotnetAsync(
            ["test", solution, "--no-build", "-c", options.Configuration, "--list-tests", "--nologo", "-v", "q", "--", "xUnit.MethodDisplay=Method"],
            root, null, null, ct);
        if (list.Cancelled)
        {
            stdout.WriteLine("repeat: stopped while listing the tests; nothing ran");
            return 130;
        }
        if (list.ExitCode != 0)
        {
            stderr.Write(list.Output);
            stderr.WriteLine($"TestLogViz repeat: could not list {part}'s tests (dotnet test --list-tests exited with {list.ExitCode}" +
                             $"{(options.Build ? "" : "; with --no-build, was the part built in " + options.Configuration + "?")}); see its output above");
            return 1;
        }
        var tests = MatchingTests(ListedTests(list.Output), options.Test);
        if (tests.Count == 0)
        {
            return UsageError(stderr, $"no test in {part} matches '{options.Test}' (a test is named by its method, as in {part}'s test classes)");
        }

        stdout.WriteLine($"repeat: {part} {string.Join(' ', tests)}: {options.Runs} run{(options.Runs == 1 ? "" : "s")}, " +
                         $"{options.Parallel} at a time{FaultsNote()}; logs in {Path.GetRelativePath(root, outDir)}");
        if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true);
        }
        Directory.CreateDirectory(outDir);

        string filter = string.Join('|', tests.Select(t => $"DisplayName={t}|DisplayName~{t}\\("));
        var progress = new Progress(stdout, interactive, options.Runs, clock);
        var results = new List<RunResult>();
        int next = 0;

        async Task WorkerAsync()
        {
            int run;
            while (!ct.IsCancellationRequested && (run = Interlocked.Increment(ref next)) <= options.Runs)
            {
                if (await RunOnceAsync(run, solution, root, outDir, filter, options, stderr, ct) is not { } result)
                {
                    return;   // stopped: a run cut short is not counted
                }
                lock (results)
                {
                    results.Add(result);
                }
                progress.Finished(result);
            }
        }

        using (var ticking = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            Task ticker = progress.TickAsync(ticking.Token);
            await Task.WhenAll(Enumerable.Range(0, Math.Min(options.Parallel, options.Runs)).Select(_ => Task.Run(WorkerAsync, CancellationToken.None)));
            await ticking.CancelAsync();
            await ticker;
        }
        progress.Clear();

        bool stopped = ct.IsCancellationRequested && results.Count < options.Runs;
        PrintSummary(stdout, results, tests, options, clock.Elapsed, stopped, root, outDir);
        return results.Any(r => r.Failed) ? 1 : stopped ? 130 : 0;
    }

    /// <summary>What the command line asked for.</summary>
    private sealed record Options(string Part, string Test, int Runs, int Parallel, bool Keep, string Configuration, bool Build, int? Seed, string? Hashes);

    /// <summary>The most runs at a time: more than two per core and runs fail for want of CPU, not for a bug.</summary>
    public static int MaxParallel => 2 * Environment.ProcessorCount;

    /// <summary>The method names `dotnet test --list-tests` printed (a theory's cases share one), in its order.</summary>
    public static IReadOnlyList<string> ListedTests(string output)
    {
        var names = new List<string>();
        bool listing = false;
        foreach (string raw in output.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.StartsWith("The following Tests are available", StringComparison.Ordinal))
            {
                listing = true;
            }
            else if (listing && line.StartsWith("    ", StringComparison.Ordinal))
            {
                string name = line.Trim();
                int args = name.IndexOf('(', StringComparison.Ordinal);
                names.Add(args < 0 ? name : name[..args]);
            }
        }
        return [.. names.Distinct()];
    }

    /// <summary>The listed tests that one of the '|'-separated names or patterns matches.</summary>
    public static IReadOnlyList<string> MatchingTests(IReadOnlyList<string> listed, string pattern)
    {
        var regexes = pattern.Split('|', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => new Regex("^" + string.Join(".*", p.Split('*').Select(Regex.Escape)) + "$", RegexOptions.CultureInvariant))
            .ToList();
        return [.. listed.Where(name => regexes.Exists(r => r.IsMatch(name)))];
    }

    /// <summary>One run's outcome: its tests' results, read from its TRX file, or (a simulated part) run here from <see cref="Seed"/>.</summary>
    private sealed record RunResult(int Run, int ExitCode, IReadOnlyList<ParsedLog> Tests, string Dir, IReadOnlyList<string> Pages, TimeSpan Took, int? Seed = null)
    {
        /// <summary>A run fails if dotnet test did, or if any test failed or none reported at all.</summary>
        public bool Failed => ExitCode != 0 || Tests.Count == 0 || Tests.Any(t => t.Status == "FAIL");
    }

    /// <summary>
    /// The runs of a simulated part, in this process: its test assembly is loaded once, and run k
    /// runs every test named from seed k (SEED + k - 1 with --seed, else a fresh one). A failing
    /// run's failing tests get their log and page in a folder named after the seed.
    /// </summary>
    private static async Task<int> RepeatSeedsAsync(Options options, string part, string root, string project, string outDir, Stopwatch clock,
                                                    TextWriter stdout, TextWriter stderr, bool interactive, CancellationToken ct)
    {
        string dll = TestRunner.BuiltAssembly(root, part, project, options.Configuration);
        if (!File.Exists(dll))
        {
            stderr.WriteLine($"TestLogViz repeat: {Path.GetRelativePath(root, dll)} is not there; build {part} first (or leave out --no-build)");
            return 1;
        }
        SeedRunner runner = SeedRunner.Load(dll);
        var tests = MatchingTests([.. runner.Tests.Select(t => t.Name).Distinct()], options.Test);
        if (tests.Count == 0)
        {
            return UsageError(stderr, $"no test in {part} matches '{options.Test}' (a test is named by its method, as in {part}'s test classes)");
        }
        int[] seeds = [.. Enumerable.Range(0, options.Runs).Select(k => options.Seed is { } first ? unchecked(first + k) & int.MaxValue : Random.Shared.Next())];
        stdout.WriteLine($"repeat: {part} {string.Join(' ', tests)}: {options.Runs} run{(options.Runs == 1 ? "" : "s")} on the simulation, " +
                         $"{options.Parallel} at a time, {(options.Seed is { } s ? $"seeds {s} on" : "fresh seeds")}{FaultsNote()}; logs in {Path.GetRelativePath(root, outDir)}");
        if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true);
        }
        Directory.CreateDirectory(outDir);

        var progress = new Progress(stdout, interactive, options.Runs, clock);
        var results = new List<RunResult>();
        var hashes = new List<string>();
        int parallel = Math.Min(options.Parallel, options.Runs);
        using var slots = new SemaphoreSlim(parallel);
        using var aloneTurn = new SemaphoreSlim(1);
        int next = 0;
        TestMethod[] methods = [.. runner.Tests.Where(t => tests.Contains(t.Name))];

        async Task WorkerAsync()
        {
            int run;
            while (!ct.IsCancellationRequested && (run = Interlocked.Increment(ref next)) <= options.Runs)
            {
                int seed = seeds[run - 1];
                var logs = new List<ParsedLog>();
                var raw = new List<(TestMethod Test, SeedRun Run)>();
                var took = Stopwatch.StartNew();
                foreach (TestMethod test in methods)
                {
                    SeedRun result = await RunAloneIfNeededAsync(test, seed);
                    raw.Add((test, result));
                    logs.Add(LogParser.FromLines(test.Name, result.Status, $"{result.Took.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)}s", result.Failure, result.Lines));
                    lock (hashes)
                    {
                        hashes.Add($"{test.Name} {seed} {result.Status} {Hash(result.Lines)}");
                    }
                }
                bool failed = logs.Exists(l => l.Status == "FAIL");
                string dir = Path.Combine(outDir, $"seed-{seed}");
                var pages = new List<string>();
                if (failed || options.Keep)
                {
                    Directory.CreateDirectory(dir);
                    var names = PageWriter.PageNames(logs);
                    for (int i = 0; i < logs.Count; i++)
                    {
                        if (failed && logs[i].Status != "FAIL")
                        {
                            continue;
                        }
                        // The log keeps its lines; the recording goes in a file of its own beside it.
                        await File.WriteAllLinesAsync(Path.Combine(dir, names[i] + ".log"),
                                                      [.. raw[i].Run.Lines.Where(l => !l.StartsWith(Lab.Recorder.LinePrefix, StringComparison.Ordinal)), .. raw[i].Run.Failure],
                                                      CancellationToken.None);
                        Program.WriteRecording(logs[i], Path.Combine(dir, names[i] + ".recording.json"), stderr);
                        string page = Path.Combine(dir, names[i] + ".html");
                        await File.WriteAllTextAsync(page, PageWriter.Render(logs[i], names[i]), CancellationToken.None);
                        pages.Add(page);
                    }
                }
                var done = new RunResult(run, failed ? 1 : 0, logs, dir, pages, took.Elapsed, seed);
                lock (results)
                {
                    results.Add(done);
                }
                progress.Finished(done);
            }
        }

        // A test that must run alone ([Fact(DisableParallelization = true)]) takes every slot, one
        // such test at a time; any other takes one.
        async Task<SeedRun> RunAloneIfNeededAsync(TestMethod test, int seed)
        {
            int needed = test.Alone ? parallel : 1;
            if (test.Alone)
            {
                await aloneTurn.WaitAsync(CancellationToken.None);
            }
            for (int i = 0; i < needed; i++)
            {
                await slots.WaitAsync(CancellationToken.None);
            }
            try
            {
                return await SeedRunner.RunAsync(test, seed);
            }
            finally
            {
                slots.Release(needed);
                if (test.Alone)
                {
                    aloneTurn.Release();
                }
            }
        }

        using (var ticking = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            Task ticker = progress.TickAsync(ticking.Token);
            await Task.WhenAll(Enumerable.Range(0, Math.Min(options.Parallel, options.Runs)).Select(_ => Task.Run(WorkerAsync, CancellationToken.None)));
            await ticking.CancelAsync();
            await ticker;
        }
        progress.Clear();
        if (options.Hashes is { } hashFile)
        {
            hashes.Sort(StringComparer.Ordinal);
            await File.WriteAllLinesAsync(hashFile, hashes, CancellationToken.None);
        }

        bool stopped = ct.IsCancellationRequested && results.Count < options.Runs;
        PrintSummary(stdout, results, tests, options, clock.Elapsed, stopped, root, outDir);
        return results.Any(r => r.Failed) ? 1 : stopped ? 130 : 0;
    }

    /// <summary>The fault switches set, for the header line.</summary>
    private static string FaultsNote()
    {
        string[] faults = [.. FaultSwitches.Where(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)))
            .Select(v => $"{v}={Environment.GetEnvironmentVariable(v)}")];
        return faults.Length > 0 ? ", with " + string.Join(' ', faults) : "";
    }

    /// <summary>A short hash of a run's log, to compare runs of one seed.</summary>
    private static string Hash(IReadOnlyList<string> lines) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', lines))))[..16];

    /// <summary>
    /// One run, in a folder of its own: dotnet test's output goes to output.txt, its log to run.trx.
    /// A failing run's failing tests get their pages there; a passing run's folder is removed
    /// unless --keep. Null if the run was stopped before it ended.
    /// </summary>
    private static async Task<RunResult?> RunOnceAsync(int run, string solution, string root, string outDir, string filter, Options options, TextWriter stderr, CancellationToken ct)
    {
        string dir = Path.Combine(outDir, $"run-{run.ToString("D" + options.Runs.ToString(CultureInfo.InvariantCulture).Length, CultureInfo.InvariantCulture)}");
        Directory.CreateDirectory(dir);
        var clock = Stopwatch.StartNew();
        var result = await RunDotnetAsync(
            ["test", solution, "--no-build", "-c", options.Configuration, "--nologo", "-v", "q", "--filter", filter,
             "--logger", "trx;LogFileName=run.trx", "--results-directory", dir, "--", "xUnit.MethodDisplay=Method"],
            root, Path.Combine(dir, "output.txt"), new Dictionary<string, string> { [RunVariable] = run.ToString(CultureInfo.InvariantCulture), ["RAFT_RECORD"] = TestRunner.RecordVariable }, ct);
        if (result.Cancelled)
        {
            return null;
        }
        if (result.ExitCode != 0)
        {
            // Ctrl+C in a terminal reaches the runs too, and one may end of it before this process
            // has heard of it: a run that fails just as the repeat is stopped was stopped, not failed.
            await Task.Delay(TimeSpan.FromMilliseconds(500), CancellationToken.None);
            if (ct.IsCancellationRequested)
            {
                return null;
            }
        }

        string trx = Path.Combine(dir, "run.trx");
        List<ParsedLog> tests;
        try
        {
            tests = File.Exists(trx) ? LogParser.Parse(await File.ReadAllTextAsync(trx, CancellationToken.None)) : [];
        }
        catch (Exception e) when (e is IOException or System.Xml.XmlException)
        {
            tests = [];
        }

        var pages = new List<string>();
        bool failed = result.ExitCode != 0 || tests.Count == 0 || tests.Any(t => t.Status == "FAIL");
        if (failed || options.Keep)
        {
            var names = PageWriter.PageNames(tests);
            for (int i = 0; i < tests.Count; i++)
            {
                if (failed && tests[i].Status == "PASS")
                {
                    continue;
                }
                string page = Path.Combine(dir, names[i] + ".html");
                Program.WriteRecording(tests[i], Path.Combine(dir, names[i] + ".recording.json"), stderr);
                await File.WriteAllTextAsync(page, PageWriter.Render(tests[i], names[i]), CancellationToken.None);
                pages.Add(page);
            }
        }
        else
        {
            Directory.Delete(dir, recursive: true);
        }
        return new RunResult(run, result.ExitCode, tests, dir, pages, clock.Elapsed);
    }

    /// <summary>The table of runs, failures and times per test, then where the failing runs' pages are.</summary>
    private static void PrintSummary(TextWriter stdout, List<RunResult> results, IReadOnlyList<string> tests, Options options, TimeSpan elapsed,
                                     bool stopped, string root, string outDir)
    {
        results.Sort((a, b) => a.Run.CompareTo(b.Run));
        int failedRuns = results.Count(r => r.Failed);
        stdout.WriteLine(stopped
            ? $"repeat: stopped after {results.Count} of {options.Runs} runs ({failedRuns} failed) in {Clock(elapsed)}; runs under way were not counted"
            : $"repeat: {results.Count} runs, {failedRuns} failed, in {Clock(elapsed)}");
        stdout.WriteLine();

        int width = Math.Max("test".Length, tests.Max(t => t.Length));
        stdout.WriteLine($"{"test".PadRight(width)}  {"runs",5}  {"failed",6}  time (mean ± sd)");
        foreach (string test in tests)
        {
            // A theory's cases are named Test(arguments); they count as runs of the one method.
            var runs = results.SelectMany(r => r.Tests).Where(t => t.Name == test || t.Name.StartsWith(test + "(", StringComparison.Ordinal)).ToList();
            var seconds = runs.Select(t => Seconds(t.Duration)).OfType<double>().ToList();
            string time = seconds.Count == 0 ? "-" : $"{seconds.Average():0.00} s ± {StandardDeviation(seconds):0.00} s";
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{test.PadRight(width)}  {runs.Count,5}  {runs.Count(t => t.Status == "FAIL"),6}  {time}"));
        }

        var empty = results.Where(r => r.Tests.Count == 0).ToList();
        if (empty.Count > 0)
        {
            stdout.WriteLine();
            stdout.WriteLine($"{empty.Count} run{(empty.Count == 1 ? "" : "s")} ended with no test result (did the test host crash?); dotnet test's output is in:");
            foreach (var r in empty)
            {
                stdout.WriteLine($"  run {r.Run}: {Path.Combine(r.Dir, "output.txt")}");
            }
        }

        var failing = results.Where(r => r.Failed && r.Pages.Count > 0).ToList();
        if (failing.Count > 0)
        {
            stdout.WriteLine();
            stdout.WriteLine(failing[0].Seed is null ? "Pages of the failing runs:" : "Pages of the failing runs, and the command that replays each:");
            foreach (var r in failing)
            {
                foreach (string page in r.Pages)
                {
                    stdout.WriteLine($"  run {r.Run}: {new Uri(page).AbsoluteUri}");
                }
                foreach (ParsedLog t in r.Seed is null ? [] : r.Tests.Where(t => t.Status == "FAIL"))
                {
                    stdout.WriteLine($"    ./dotest.sh {options.Part.TrimEnd('/', '\\')} {t.Name} --seed {r.Seed}");
                }
            }
        }
        if (options.Keep && results.Any(r => !r.Failed))
        {
            stdout.WriteLine();
            stdout.WriteLine($"The passing runs' logs and pages are kept too, in {Path.GetRelativePath(root, outDir)}.");
        }
    }

    /// <summary>"1.46s", as the log's duration reads, in seconds.</summary>
    private static double? Seconds(string? duration) =>
        duration is not null && double.TryParse(duration.TrimEnd('s'), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) ? s : null;

    /// <summary>The sample standard deviation; 0 for a single value.</summary>
    private static double StandardDeviation(List<double> values)
    {
        if (values.Count < 2)
        {
            return 0;
        }
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }

    /// <summary>A duration as 1m02s (or 12s).</summary>
    private static string Clock(TimeSpan t) =>
        t.TotalMinutes >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes}m{t.Seconds:00}s")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Seconds}s");

    /// <summary>
    /// The progress line: runs done, failures, time so far and an estimate of the time left (the
    /// runs left at the pace so far). In a terminal it is one line, redrawn in place every second
    /// and at each finished run; elsewhere each finished run prints a line. A failure is announced
    /// on a line of its own as it happens, in both.
    /// </summary>
    private sealed class Progress(TextWriter stdout, bool interactive, int total, Stopwatch clock)
    {
        private readonly Lock _mu = new();
        private int _done;
        private int _failed;
        private bool _drawn;

        public void Finished(RunResult result)
        {
            lock (_mu)
            {
                _done++;
                _failed += result.Failed ? 1 : 0;
                if (result.Failed)
                {
                    ClearLine();
                    string why = result.Tests.Count == 0 ? "no test result" : string.Join(", ", result.Tests.Where(t => t.Status == "FAIL").Select(t => t.Name));
                    stdout.WriteLine($"run {result.Run}{(result.Seed is { } seed ? $" (seed {seed})" : "")}: FAIL {(why.Length > 0 ? why : $"dotnet test exited with {result.ExitCode}")}" +
                                     $"{(result.Pages.Count > 0 ? " -> " + new Uri(result.Pages[0]).AbsoluteUri : "")}");
                }
                if (interactive)
                {
                    Draw();
                }
                else
                {
                    stdout.WriteLine($"run {result.Run}: {(result.Failed ? "FAIL" : "PASS")} in {result.Took.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s; {Line()}");
                }
            }
        }

        /// <summary>Redraws the line every second (in a terminal only) until <paramref name="stop"/> is cancelled.</summary>
        public async Task TickAsync(CancellationToken stop)
        {
            if (!interactive)
            {
                return;
            }
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            try
            {
                do
                {
                    lock (_mu)
                    {
                        Draw();
                    }
                }
                while (await timer.WaitForNextTickAsync(stop));
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The runs are over.
            }
        }

        /// <summary>Removes the line, before the table is printed.</summary>
        public void Clear()
        {
            lock (_mu)
            {
                ClearLine();
                interactive = false;   // nothing draws the line again
            }
        }

        private void Draw()
        {
            if (!interactive)
            {
                return;
            }
            stdout.Write($"\r{Line()}\u001b[K");
            stdout.Flush();
            _drawn = true;
        }

        private void ClearLine()
        {
            if (_drawn)
            {
                stdout.Write("\r\u001b[K");
                _drawn = false;
            }
        }

        private string Line()
        {
            var elapsed = clock.Elapsed;
            string left = _done == 0 ? "time left unknown yet" : $"about {Clock(elapsed / _done * (total - _done))} left";
            return $"[{_done}/{total} runs, {_failed} failed] {Clock(elapsed)} elapsed, {left}";
        }
    }

    /// <summary>How a dotnet command ended: its exit code and output, or that it was stopped.</summary>
    private sealed record DotnetResult(int ExitCode, string Output, bool Cancelled);

    /// <summary>
    /// Runs dotnet (the one running this tool, as TestRunner does) with its output gathered, into
    /// <paramref name="outputFile"/> if given. Cancelling kills it and all it started, and waits.
    /// </summary>
    private static async Task<DotnetResult> RunDotnetAsync(string[] args, string workingDir, string? outputFile, Dictionary<string, string>? env, CancellationToken ct)
    {
        ProcessStartInfo start = TestRunner.DotnetStartInfo(args, workingDir, env);
        if (ct.IsCancellationRequested)
        {
            return new DotnetResult(-1, "", Cancelled: true);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var output = new StringBuilder();
        async Task CopyAsync(StreamReader from)
        {
            while (await from.ReadLineAsync(CancellationToken.None) is { } line)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }
        var copying = Task.WhenAll(CopyAsync(process.StandardOutput), CopyAsync(process.StandardError));
        bool cancelled = false;
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            cancelled = true;
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended on its own meanwhile.
            }
            await process.WaitForExitAsync(CancellationToken.None);
        }
        await copying;
        string text = output.ToString();
        if (outputFile is not null)
        {
            await File.WriteAllTextAsync(outputFile, text, CancellationToken.None);
        }
        return new DotnetResult(cancelled ? -1 : process.ExitCode, text, cancelled);
    }

    /// <summary>The error in one line, then status 2.</summary>
    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"TestLogViz repeat: {message}");
        return 2;
    }

    /// <summary>Letters, digits, '_' and '-' stay in a folder's name; anything else ('*', '|') becomes '_'.</summary>
    private static string SafeName(string name)
    {
        string safe = new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_')]);
        // A folder name may hold 255 bytes: a long list of tests keeps its start and a hash of the whole.
        return safe.Length <= 100 ? safe : $"{safe[..80]}-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)))[..12]}";
    }

    /// <summary>Method names, '*' standing for any letters, several joined by '|'.</summary>
    [GeneratedRegex(@"^[A-Za-z_*][A-Za-z0-9_*]*(\|[A-Za-z_*][A-Za-z0-9_*]*)*$")]
    private static partial Regex TestPattern();
}
