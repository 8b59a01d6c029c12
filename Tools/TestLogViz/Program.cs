// TestLogViz: reads a captured test run and writes one HTML timeline per test (see Tools/README.md).
//   dotnet run --project Tools/TestLogViz -- artifacts/testlogs/Part1/TestElectionBasic.trx
//   go test -v -run TestElectionBasic |& dotnet run --project Tools/TestLogViz
//   dotnet run --project Tools/TestLogViz -- run Part1 TestElectionBasic    (what dotest.sh does)
//   dotnet run --project Tools/TestLogViz -- repeat Part3 Figure8WithLossAndReordering -n 50 -p 4
namespace TestLogViz;

/// <summary>The command line: arguments in, pages and a summary out.</summary>
public static class Program
{
    private const string Usage = """
        usage: TestLogViz [LOG] [--out DIR]
          LOG        a TRX file from `dotnet test --logger trx`, or the output of `go test -v`;
                     standard input if LOG is absent or -
          --out DIR  where the HTML pages go (default: the system temp folder)
        or:    TestLogViz run PART TEST_NAME   runs one test, then writes its page (see `run --help`)
        or:    TestLogViz repeat PART TEST -n RUNS -p PARALLEL   runs a test many times, keeps the failures (see `repeat --help`)
        """;

    /// <summary>What starts each line naming a page written; the address follows it.</summary>
    public const string EmittedPrefix = "... Emitted ";

    public static async Task<int> Main(string[] args)
    {
        if (args is ["run", ..])
        {
            if (args is [_, "-h" or "--help", ..])
            {
                Console.WriteLine(TestRunner.Usage);
                return 0;
            }
            return await TestRunner.RunAsync(args[1..], root: null, Console.Out, Console.Error);
        }
        if (args is ["repeat", ..])
        {
            if (args is [_, "-h" or "--help", ..])
            {
                Console.WriteLine(TestRepeater.Usage);
                return 0;
            }
            return await RepeatAsync(args[1..]);
        }
        return Run(args, Console.IsInputRedirected ? Console.In : null, Console.Out, Console.Error);
    }

    /// <summary>
    /// The repeat command, stopped cleanly by the first Ctrl+C (the runs under way end, the table
    /// is printed); a second Ctrl+C ends the program at once.
    /// </summary>
    private static async Task<int> RepeatAsync(string[] args)
    {
        using var stop = new CancellationTokenSource();
        void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            e.Cancel = !stop.IsCancellationRequested;
            stop.Cancel();
        }
        Console.CancelKeyPress += OnCancel;
        try
        {
            return await TestRepeater.RepeatAsync(args, root: null, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected, stop.Token);
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
        }
    }

    /// <summary>
    /// Does the work of <see cref="Main"/> with its streams passed in, so tests can run it.
    /// <paramref name="stdin"/> is null when standard input is a terminal: then a log must be named.
    /// Prints, per test, its status, ids and entry count and the page written; last, the run's status.
    /// Returns 0, 1 for a log that cannot be read, 2 for a usage error.
    /// </summary>
    public static int Run(string[] args, TextReader? stdin, TextWriter stdout, TextWriter stderr)
    {
        string? input = null;
        string outDir = Path.GetTempPath();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    stdout.WriteLine(Usage);
                    return 0;
                case "--out" when i + 1 < args.Length:
                    outDir = args[++i];
                    break;
                case "--out":
                    return UsageError(stderr, "--out needs a folder");
                case var arg when arg.StartsWith('-') && arg != "-":
                    return UsageError(stderr, $"unknown option '{arg}'");
                case var arg when input is null:
                    input = arg;
                    break;
                default:
                    return UsageError(stderr, "give at most one log");
            }
        }
        bool fromStdin = input is null or "-";
        if (fromStdin && stdin is null)
        {
            return UsageError(stderr, "no log given: name a file, or pipe one in");
        }

        // Whatever goes wrong from here (an unreadable file, a broken TRX, a full disk) is reported
        // in one line, never as a stack trace: the user of a log reader did nothing wrong.
        try
        {
            string text = fromStdin ? stdin!.ReadToEnd() : File.ReadAllText(input!);
            if (string.IsNullOrWhiteSpace(text.Replace("\uFEFF", "", StringComparison.Ordinal)))
            {
                return Error(stderr, "the log is empty");
            }

            var tests = LogParser.Parse(text);
            if (tests.Count == 0)
            {
                return Error(stderr, "found no test in the log (expected a TRX file's test results, or go test -v's '=== RUN' lines)");
            }

            Directory.CreateDirectory(outDir);
            var names = PageWriter.PageNames(tests);
            string overall = "PASS";
            for (int i = 0; i < tests.Count; i++)
            {
                var test = tests[i];
                stdout.WriteLine($"{test.Status} {test.Name} ids: [{string.Join(' ', test.AllIds)}]; entries: {test.Lines.Count}");

                string path = Path.GetFullPath(Path.Combine(outDir, names[i] + ".html"));
                File.WriteAllText(path, PageWriter.Render(test, names[i]));
                stdout.WriteLine($"{EmittedPrefix}{new Uri(path).AbsoluteUri}");
                stdout.WriteLine();

                // A failure decides the run; otherwise the first status that is not a pass (a skip, say).
                if (test.Status == "FAIL" || (test.Status != "PASS" && overall == "PASS"))
                {
                    overall = test.Status;
                }
            }
            stdout.WriteLine(overall);
            return 0;
        }
        catch (Exception e)
        {
            return Error(stderr, e.Message);
        }
    }

    /// <summary>One line on stderr saying what went wrong with the log.</summary>
    private static int Error(TextWriter stderr, string message)
    {
        stderr.WriteLine($"TestLogViz: {message}");
        return 1;
    }

    /// <summary>What was wrong with the command line, then how to use it.</summary>
    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"TestLogViz: {message}");
        stderr.WriteLine(Usage);
        return 2;
    }
}
