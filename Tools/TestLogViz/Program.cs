// TestLogViz: reads a captured test run and writes one HTML timeline per test (see Tools/README.md).
//   dotnet run --project Tools/TestLogViz -- artifacts/testlogs/Part1/TestElectionBasic.trx
//   go test -v -run TestElectionBasic |& dotnet run --project Tools/TestLogViz
//   dotnet run --project Tools/TestLogViz -- run Part1 TestElectionBasic    (what dotest.sh does)
//   dotnet run --project Tools/TestLogViz -- repeat Part3 Figure8WithLossAndReordering -n 50 -p 4
// `--help` after the program or a command lists its arguments and options.
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace TestLogViz;

/// <summary>Where the program reads and writes, and where it works: the console's, or a test's stand-ins.</summary>
/// <param name="Stdin">Standard input; null when it is a terminal, where a log must then be named.</param>
/// <param name="Interactive">Whether standard output is a terminal, where repeat redraws one line of progress in place.</param>
/// <param name="Root">The repository's top folder; found from the current folder when null.</param>
public sealed record Terminal(TextReader? Stdin, TextWriter Stdout, TextWriter Stderr, bool Interactive = false, string? Root = null);

/// <summary>The command line: arguments in, pages and a summary out.</summary>
public static class Program
{
    /// <summary>What starts each line naming a page written; the address follows it.</summary>
    public const string EmittedPrefix = "... Emitted ";

    public static Task<int> Main(string[] args) =>
        InvokeAsync(args, new Terminal(Console.IsInputRedirected ? Console.In : null, Console.Out, Console.Error, Interactive: !Console.IsOutputRedirected));

    /// <summary>
    /// Reads the command line and does what it says: shows help (exit code 0), visualizes a log,
    /// or runs the <c>run</c> or <c>repeat</c> command. A bad command line gets one line on
    /// stderr and exit code 2.
    /// </summary>
    public static async Task<int> InvokeAsync(string[] args, Terminal terminal, CancellationToken ct = default)
    {
        Argument<string?> log = new("LOG")
        {
            Description = "a TRX file from `dotnet test --logger trx`, or the output of `go test -v`; standard input if LOG is absent or -",
            Arity = ArgumentArity.ZeroOrOne,
            // An unknown option is not a log's name: passed on, it is refused as unknown.
            CustomParser = r =>
            {
                string value = r.Tokens[0].Value;
                if (value.StartsWith('-') && value != "-")
                {
                    r.OnlyTake(0);
                    return null;
                }
                return value;
            },
        };
        Option<string> outDir = new("--out") { Description = "where the HTML pages go", HelpName = "DIR", DefaultValueFactory = _ => Path.GetTempPath() };
        var root = new RootCommand("Turns a captured test run into one HTML timeline per test.")
        {
            log, outDir, TestRunner.Command(terminal), TestRepeater.Command(terminal),
        };
        root.SetAction(r => Visualize(r.GetValue(log), r.GetRequiredValue(outDir), terminal.Stdin, terminal.Stdout, terminal.Stderr));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors is [var error, ..])
        {
            string prefix = parsed.CommandResult.Command.Name == "repeat" ? "TestLogViz repeat" : "TestLogViz";
            await terminal.Stderr.WriteLineAsync($"{prefix}: {error.Message}");
            return 2;
        }
        // A command's help is about the command: the top level's LOG has no place in it.
        log.Hidden = parsed.CommandResult.Command != root;
        return await parsed.InvokeAsync(new InvocationConfiguration
        {
            Output = terminal.Stdout,
            Error = terminal.Stderr,
            ProcessTerminationTimeout = null,   // repeat handles Ctrl+C itself; elsewhere it ends the program, as it always did
            EnableDefaultExceptionHandler = false,
        }, ct);
    }

    /// <summary>A recording's JSON as the log of one passed test whose output is that recording's line, named by its "test".</summary>
    private static string RecordingAsLog(string json)
    {
        System.Text.Json.Nodes.JsonNode root = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        string name = root["test"]?.GetValue<string>() is { Length: > 0 } test && !test.Any(char.IsWhiteSpace) ? test : "Recording";
        // One line, as a test's output carries it (the download may be indented).
        return $"=== RUN   {name}\n{Lab.Recorder.LinePrefix}{root.ToJsonString()}\n--- PASS: {name} (0.00s)\nPASS\n";
    }

    /// <summary>
    /// An option's value as a whole number of digits that <paramref name="valid"/> accepts; anything
    /// else is refused as "OPTION needs <paramref name="need"/>, not 'VALUE'".
    /// </summary>
    internal static int Number(ArgumentResult result, string need, Func<int, bool> valid)
    {
        string text = result.Tokens[0].Value;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || !valid(n))
        {
            result.AddError($"{((OptionResult)result.Parent!).Option.Name} needs {need}, not '{text}'");
        }
        return n;
    }

    /// <summary>The --seed option of run and repeat.</summary>
    internal static Option<int?> SeedOption(string description) => new("--seed")
    {
        Description = description,
        HelpName = "SEED",
        CustomParser = r => Number(r, $"a whole number from 0 to {int.MaxValue}", _ => true),
    };

    /// <summary>
    /// Reads the log <paramref name="input"/> (standard input when it is null or -) and writes its
    /// pages to <paramref name="outDir"/>. <paramref name="stdin"/> is null when standard input is a
    /// terminal: then a log must be named. Prints, per test, its status, ids and entry count and
    /// the page written; last, the run's status. Returns 0, 1 for a log that cannot be read, 2 when
    /// no log was given.
    /// </summary>
    public static int Visualize(string? input, string outDir, TextReader? stdin, TextWriter stdout, TextWriter stderr)
    {
        bool fromStdin = input is null or "-";
        if (fromStdin && stdin is null)
        {
            stderr.WriteLine("TestLogViz: no log given: name a file, or pipe one in (see --help)");
            return 2;
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

            // A recording on its own (the playground's download): a run of one test, played from it.
            if (text.TrimStart('\uFEFF', ' ', '\t', '\r', '\n').StartsWith('{'))
            {
                if (Lab.Recorder.Problem(text) is { } problem)
                {
                    return Error(stderr, $"not a recording to play: {problem}");
                }
                text = RecordingAsLog(text);
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
                WriteRecording(test, Path.Combine(outDir, names[i] + ".recording.json"), stderr);
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
    /// <summary>
    /// Writes the test's recording to <paramref name="path"/>, beside its page, when it has one
    /// that can be played; one that cannot is said in one line, and the page is made without it.
    /// </summary>
    public static void WriteRecording(ParsedLog test, string path, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(stderr);
        if (test.Recording is not { } recording)
        {
            return;
        }
        if (test.RecordingProblem is { } problem)
        {
            stderr.WriteLine($"TestLogViz: {test.Name}: {problem}; its page is made from the log alone");
            return;
        }
        File.WriteAllText(path, recording);
    }

    private static int Error(TextWriter stderr, string message)
    {
        stderr.WriteLine($"TestLogViz: {message}");
        return 1;
    }
}
