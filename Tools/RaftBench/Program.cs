// RaftBench: how fast is Part3, what does persistence cost, and how fast is Part5Kv's KV service over HTTP?
//   dotnet run -c Release --project Tools/RaftBench -- [--n 1000,5000] [--scenario burst|latency|election|kv|all]
//                                                       [--no-rpc-delay] [--leader-change] [--json FILE]
//                                                       [--kv-seconds 5] [--kv-clients 1,8,32] [--kv-ops put,get[,echo]] [--kv-null-storage]
// `--help` lists the options and their defaults.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lab;
using Raft;

namespace RaftBench;

/// <summary>What the command line asked for.</summary>
internal sealed record BenchOptions(int[] Sizes, string Scenario, string? JsonPath, bool NoRpcDelay, bool LeaderChange,
                                    int[] KvClients, double KvSeconds, string[] KvOps, bool KvNullStorage);

public static class Program
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Task<int> Main(string[] args) => InvokeAsync(args, Console.Out, Console.Error, BenchAsync);

    /// <summary>
    /// Reads the command line and runs <paramref name="bench"/> with what it asked for. Help goes
    /// to <paramref name="stdout"/>; a bad command line gets one line on <paramref name="stderr"/>
    /// and exit code 2.
    /// </summary>
    internal static async Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr, Func<BenchOptions, Task<int>> bench)
    {
        Option<string> sizes = NumberList("--n", "how many commands each burst submits", "1000,5000,10000,20000");
        Option<string> scenario = new("--scenario")
        {
            Description = "which scenario to run",
            HelpName = "burst|latency|election|kv|all",
            DefaultValueFactory = _ => "all",
        };
        scenario.Validators.Add(r =>
        {
            string value = r.GetValueOrDefault<string>();
            if (value is not ("burst" or "latency" or "election" or "kv" or "all"))
            {
                r.AddError($"--scenario takes burst, latency, election, kv or all, not '{value}'");
            }
        });
        Option<string?> json = new("--json") { Description = "also write the results to FILE, as JSON", HelpName = "FILE" };
        Option<bool> noRpcDelay = new("--no-rpc-delay") { Description = "turn the simulated network's 1-5 ms delay off (for the kv scenario's Raft servers too)" };
        Option<bool> leaderChange = new("--leader-change") { Description = "cut the leader off halfway through each burst and before the latency run's command 101" };
        Option<double> kvSeconds = new("--kv-seconds")
        {
            Description = "how long each kv client count runs each op, in seconds",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 5,
            CustomParser = r =>
            {
                string text = r.Tokens[0].Value;
                if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double seconds) || seconds <= 0)
                {
                    r.AddError($"--kv-seconds takes a positive number, not '{text}'");
                }
                return seconds;
            },
        };
        Option<string> kvClients = NumberList("--kv-clients", "the kv scenario's client counts, a fresh cluster for each", "1,8,32");
        Option<string> kvOps = new("--kv-ops")
        {
            Description = "the kv scenario's operations: put, get and echo (a stub that answers every put at once)",
            HelpName = "put,get,echo",
            DefaultValueFactory = _ => "put,get",
        };
        kvOps.Validators.Add(r =>
        {
            string value = r.GetValueOrDefault<string>();
            if (value.Split(',').Any(o => o is not ("put" or "get" or "echo")))
            {
                r.AddError($"--kv-ops takes put, get and echo separated by commas, not '{value}'");
            }
        });
        Option<bool> kvNullStorage = new("--kv-null-storage") { Description = "give the kv services a storage that throws the bytes away" };

        var root = new RootCommand("Measures Part3's commit path (throughput, latency, election time) and Part5Kv's KV service over HTTP.")
        {
            sizes, scenario, noRpcDelay, leaderChange, json, kvSeconds, kvClients, kvOps, kvNullStorage,
        };
        root.SetAction(r => bench(new BenchOptions(
            Numbers(r.GetRequiredValue(sizes))!, r.GetRequiredValue(scenario), r.GetValue(json), r.GetValue(noRpcDelay), r.GetValue(leaderChange),
            Numbers(r.GetRequiredValue(kvClients))!, r.GetValue(kvSeconds), r.GetRequiredValue(kvOps).Split(','), r.GetValue(kvNullStorage))));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors is [var error, ..])
        {
            await stderr.WriteLineAsync($"RaftBench: {error.Message}");
            return 2;
        }
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
    }

    /// <summary>An option taking positive whole numbers separated by commas, kept as typed (so help shows the default so).</summary>
    private static Option<string> NumberList(string name, string description, string defaults)
    {
        Option<string> option = new(name) { Description = description, HelpName = "N,N,...", DefaultValueFactory = _ => defaults };
        option.Validators.Add(r =>
        {
            string value = r.GetValueOrDefault<string>();
            if (Numbers(value) is null)
            {
                r.AddError($"{name} takes positive whole numbers separated by commas, not '{value}'");
            }
        });
        return option;
    }

    /// <summary>The positive whole numbers in <paramref name="text"/>, separated by commas; null if it holds anything else.</summary>
    private static int[]? Numbers(string text)
    {
        var list = new List<int>();
        foreach (string part in text.Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n <= 0)
            {
                return null;
            }
            list.Add(n);
        }
        return [.. list];
    }

    /// <summary>Runs the scenarios asked for and prints their results: 0, or 3 when a cluster stalled.</summary>
    private static async Task<int> BenchAsync(BenchOptions options)
    {
        if (options.NoRpcDelay)
        {
            BenchCluster.Network = NetworkConditions.Instant;
            KvScenario.Network = NetworkConditions.Instant;
        }
        KvScenario.NullStorage = options.KvNullStorage;
        Console.WriteLine($"RaftBench: Part3, 3 servers in one process, logging off, simulated RPC delay {(BenchCluster.Network == NetworkConditions.Instant ? "off" : "1-5 ms")}, {Environment.ProcessorCount} cores");
        var bursts = new List<BurstResult>();
        LatencyResult? latency = null;
        ElectionResult? election = null;
        List<KvResult>? kv = null;
        try
        {
            if (options.Scenario is "burst" or "all")
            {
                foreach (int n in options.Sizes)
                {
                    bursts.Add(await RaftScenarios.BurstAsync(n, Progress, options.LeaderChange ? (n / 2) + 1 : null));
                    ClearProgress();
                }
                PrintBursts(bursts);
            }
            if (options.Scenario is "latency" or "all")
            {
                latency = await RaftScenarios.LatencyAsync(200, Progress, options.LeaderChange ? 101 : null);
                ClearProgress();
                Console.WriteLine();
                Console.WriteLine($"latency, 200 commands one at a time (Submit to the leader's delivery): " +
                                  $"p50 {latency.P50:F2} ms, p90 {latency.P90:F2} ms, p99 {latency.P99:F2} ms, max {latency.Max:F2} ms; " +
                                  $"leader changes {latency.LeaderChanges}, commands resubmitted {latency.Resubmitted}");
            }
            if (options.Scenario is "election" or "all")
            {
                election = await RaftScenarios.ElectionAsync(20, Progress);
                ClearProgress();
                Console.WriteLine();
                Console.WriteLine($"election, 20 fresh clusters (ready signal to a single leader): p50 {election.P50:F0} ms, max {election.Max:F0} ms");
            }
            if (options.Scenario is "kv" or "all")
            {
                kv = await KvScenario.RunAsync(options.KvClients, TimeSpan.FromSeconds(options.KvSeconds), options.KvOps, Progress);
                ClearProgress();
                PrintKv(kv);
            }
        }
        catch (StallException e)
        {
            ClearProgress();
            Console.Error.WriteLine($"STALL: {e.Message}");
            foreach (string line in e.Servers)
            {
                Console.Error.WriteLine($"  {line}");
            }
            return 3;
        }

        if (options.JsonPath is { } jsonPath)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new { bursts, latency, election, kv, kvNullStorage = KvScenario.NullStorage, rpcDelay = BenchCluster.Network != NetworkConditions.Instant }, JsonOptions));
            Console.WriteLine($"wrote {jsonPath}");
        }
        return 0;
    }

    private static void PrintBursts(List<BurstResult> bursts)
    {
        Console.WriteLine();
        Console.WriteLine("burst: submit N commands to the leader at once, time until all 3 servers delivered them");
        Console.WriteLine($"{"N",8} {"seconds",9} {"cmds/s",9} {"submit s",9} {"delivered",20} {"leaders+",8} {"resubmit",8} {"writes",8} {"MB written",11}");
        foreach (BurstResult b in bursts)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{b.N,8} {b.Seconds,9:F2} {b.CommandsPerSecond,9:F0} {b.SubmitSeconds,9:F3} {string.Join('/', b.Delivered),20} {b.LeaderChanges,8} {b.Resubmitted,8} {b.StorageWrites,8} {b.StorageBytes / 1e6,11:F1}"));
        }
        Console.WriteLine("(leaders+: how many times a new leader took over; resubmit: commands given again to a new leader, since the old one may have lost them)");
    }

    private static void PrintKv(List<KvResult> results)
    {
        Console.WriteLine();
        Console.WriteLine($"kv: Part5Kv, 3 services on loopback HTTP, each client its own KvClient calling back to back{(KvScenario.NullStorage ? ", storage discarding writes" : "")}");
        Console.WriteLine($"{"op",5} {"clients",7} {"ops/s",8} {"errors",6} {"p50 ms",7} {"p90 ms",7} {"p99 ms",7} {"max ms",7} {"writes",7} {"MB written",10} {"max KB",8} {"elect",5}  ops each second");
        foreach (KvResult r in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Op,5} {r.Clients,7} {r.OpsPerSecond,8:F0} {r.Errors,6} {r.P50,7:F2} {r.P90,7:F2} {r.P99,7:F2} {r.Max,7:F1} {r.StorageWrites,7} {r.StorageBytes / 1e6,10:F1} {r.LargestWriteBytes / 1e3,8:F0} {r.Elections,5}  {string.Join(' ', r.PerSecond)}"));
        }
        Console.WriteLine("(latency: from the KvClient call to its answer, resends included; errors: a KvException, or no answer within 2 s)");
        Console.WriteLine("(writes, MB written: all three services' storage during the run; max KB: the largest single write, the whole state)");
        Console.WriteLine("(elect: elections begun during the run; a call whose commit a deposed leader lost is an error)");
    }

    private static void Progress(string line)
    {
        if (!Console.IsOutputRedirected)
        {
            Console.Write($"\r{line,-100}");
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }

    private static void ClearProgress()
    {
        if (!Console.IsOutputRedirected)
        {
            Console.Write($"\r{"",-100}\r");
        }
    }
}
