// RaftPlayground: a live Part5Kv cluster in one process, and a page to watch it and break it.
using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using RaftPlayground;

return await CommandLine.InvokeAsync(args, Console.Out, Console.Error, RunAsync);

/// <summary>Starts the playground and runs it until Ctrl+C or SIGTERM.</summary>
static async Task<int> RunAsync(PlaygroundOptions options)
{
    Playground playground;
    try
    {
        playground = await Playground.StartAsync(options);
    }
    catch (IOException e)
    {
        Console.Error.WriteLine($"RaftPlayground: cannot listen: {e.Message} (choose other ports with --port and --kv-port-base, or 0 for free ones)");
        return 1;
    }

    // Ctrl+C (and a plain kill) end the wait below instead of the process, so shutdown is clean.
    var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    using (PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); }))
    using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); }))
    {
        Console.WriteLine($"RaftPlayground: {playground.KvAddrs.Count} servers, seed {playground.Seed}{(options.Replay is null ? "" : " (replayed)")}; KV APIs on {string.Join(", ", playground.KvAddrs)}");
        if (options.BindWarning() is { } warning)
        {
            Console.WriteLine($"RaftPlayground: {warning}");
        }
        Console.WriteLine($"Open {playground.Address} in a browser. Ctrl+C stops the cluster.");
        await stop.Task;
    }
    Console.WriteLine("RaftPlayground: stopping...");
    await playground.StopAsync();
    IReadOnlyList<string> left = playground.RunningTasks();
    Console.WriteLine(left.Count == 0 ? "RaftPlayground: stopped." : $"RaftPlayground: stopped, but tasks still running: {string.Join("; ", left)}");
    return 0;
}

/// <summary>The command line, read strictly: anything unknown or out of range is an error.</summary>
internal static class CommandLine
{
    /// <summary>
    /// Reads <paramref name="args"/> and calls <paramref name="start"/> with the options they give.
    /// Help goes to <paramref name="stdout"/>; a bad command line gets one line on
    /// <paramref name="stderr"/> and exit code 2.
    /// </summary>
    public static async Task<int> InvokeAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, Func<PlaygroundOptions, Task<int>> start)
    {
        var defaults = new PlaygroundOptions();
        Option<int> servers = Number("--servers", "N", "servers in the cluster, 3 or 5", defaults.Servers,
            n => n is 3 or 5 ? null : $"--servers must be 3 or 5, not {n}");
        Option<int> port = Number("--port", "PORT", "the page's port, 0 for a free one", defaults.Port,
            n => n <= 65535 ? null : $"--port {n} is not a usable port");
        Option<int> kvPortBase = Number("--kv-port-base", "PORT", "service i serves its KV API on PORT+i, as upstream; 0 for free ports", defaults.KvPortBase,
            n => n == 0 || (n >= 1024 && n <= 65535 - 4) ? null : $"--kv-port-base {n} is not a usable port");
        Option<string> bind = new("--bind")
        {
            Description = "the page's address; the default is this machine only",
            HelpName = "ADDRESS",
            DefaultValueFactory = _ => defaults.Bind,
        };
        bind.Validators.Add(r =>
        {
            string value = r.GetValueOrDefault<string>();
            if (!IPAddress.TryParse(value, out _))
            {
                r.AddError($"--bind wants an IP address, not '{value}'");
            }
        });
        Option<bool> watchOnly = new("--watch-only") { Description = "other machines may watch, but only this machine may use the controls" };
        Option<int?> seed = new("--seed")
        {
            Description = "the run's seed: the same seed and the same clicks give the same run (default: a new one, shown on the page)",
            HelpName = "N",
            CustomParser = r => ParseNumber(r, "--seed", "a whole number from 0", _ => null),
        };
        Option<bool> startPaused = new("--start-paused") { Description = "start with the clock paused at 0, before the first election" };
        Option<ReplayFile?> replay = new("--replay")
        {
            Description = "play again a run downloaded from GET /api/recording: its seed, servers and inputs",
            HelpName = "FILE",
            CustomParser = r =>
            {
                string path = r.Tokens[0].Value;
                string json;
                try
                {
                    json = File.ReadAllText(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    r.AddError($"--replay: cannot read {path}: {e.Message}");
                    return null;
                }
                var (file, problem) = ReplayFile.Parse(json);
                if (problem is not null)
                {
                    r.AddError($"--replay {path}: {problem}");
                }
                return file;
            },
        };

        var root = new RootCommand("A live Part5Kv cluster in one process, and a page to watch it and break it.") { servers, port, kvPortBase, bind, watchOnly, seed, startPaused, replay };
        root.SetAction(r => start(new PlaygroundOptions
        {
            Servers = r.GetValue(servers),
            Port = r.GetValue(port),
            KvPortBase = r.GetValue(kvPortBase),
            Bind = r.GetRequiredValue(bind),
            WatchOnly = r.GetValue(watchOnly),
            Seed = r.GetValue(seed),
            StartPaused = r.GetValue(startPaused),
            Replay = r.GetValue(replay),
        }));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors is [var error, ..])
        {
            await stderr.WriteLineAsync($"RaftPlayground: {error.Message}");
            return 2;
        }
        // The playground stops itself on Ctrl+C and SIGTERM; so do exceptions, as they always did.
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
    }

    /// <summary>An option taking a whole number that <paramref name="check"/> accepts (it returns what is wrong, or null).</summary>
    private static Option<int> Number(string name, string helpName, string description, int defaultValue, Func<int, string?> check) => new(name)
    {
        Description = description,
        HelpName = helpName,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r => ParseNumber(r, name, "a number", check),
    };

    /// <summary>The option's token as a whole number that <paramref name="check"/> accepts; else an error saying it wants <paramref name="want"/>, or what <paramref name="check"/> said.</summary>
    private static int ParseNumber(System.CommandLine.Parsing.ArgumentResult r, string name, string want, Func<int, string?> check)
    {
        string text = r.Tokens[0].Value;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            r.AddError($"{name} wants {want}, not '{text}'");
        }
        else if (check(n) is { } error)
        {
            r.AddError(error);
        }
        return n;
    }
}
