// RaftBench: how fast is Part3, what does persistence cost, and how fast is Part5Kv's KV service over HTTP?
//   dotnet run -c Release --project Tools/RaftBench -- [--n 1000,5000] [--scenario burst|latency|election|kv|all]
//                                                       [--no-rpc-delay] [--leader-change] [--json FILE]
//                                                       [--kv-seconds 5] [--kv-clients 1,8,32] [--kv-ops put,get[,echo]] [--kv-null-storage]
using System.Globalization;
using System.Text.Json;
using Lab;
using Raft;

namespace RaftBench;

public static class Program
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static async Task<int> Main(string[] args)
    {
        int[] sizes = [1_000, 5_000, 10_000, 20_000];
        string scenario = "all";
        string? jsonPath = null;
        bool leaderChange = false;
        int[] kvClients = [1, 8, 32];
        double kvSeconds = 5;
        string[] kvOps = ["put", "get"];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--n" when i + 1 < args.Length:
                    if (!TryParseSizes(args[++i], out sizes))
                    {
                        return Usage($"--n takes positive whole numbers separated by commas, not '{args[i]}'");
                    }
                    break;
                case "--scenario" when i + 1 < args.Length && args[i + 1] is "burst" or "latency" or "election" or "kv" or "all":
                    scenario = args[++i];
                    break;
                case "--json" when i + 1 < args.Length:
                    jsonPath = args[++i];
                    break;
                case "--no-rpc-delay":
                    BenchCluster.Network = NetworkConditions.Instant;
                    KvScenario.Network = NetworkConditions.Instant;
                    break;
                case "--kv-clients" when i + 1 < args.Length:
                    if (!TryParseSizes(args[++i], out kvClients))
                    {
                        return Usage($"--kv-clients takes positive whole numbers separated by commas, not '{args[i]}'");
                    }
                    break;
                case "--kv-seconds" when i + 1 < args.Length:
                    if (!double.TryParse(args[++i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out kvSeconds) || kvSeconds <= 0)
                    {
                        return Usage($"--kv-seconds takes a positive number, not '{args[i]}'");
                    }
                    break;
                case "--kv-ops" when i + 1 < args.Length:
                    kvOps = args[++i].Split(',');
                    if (kvOps.Length == 0 || kvOps.Any(o => o is not ("put" or "get" or "echo")))
                    {
                        return Usage($"--kv-ops takes put, get and echo separated by commas, not '{args[i]}'");
                    }
                    break;
                case "--kv-null-storage":
                    KvScenario.NullStorage = true;
                    break;
                case "--leader-change":
                    leaderChange = true;
                    break;
                case "--help" or "-h":
                    Usage(null);
                    return 0;
                default:
                    return Usage($"unknown or incomplete option '{args[i]}'");
            }
        }

        Console.WriteLine($"RaftBench: Part3, 3 servers in one process, logging off, simulated RPC delay {(BenchCluster.Network == NetworkConditions.Instant ? "off" : "1-5 ms")}, {Environment.ProcessorCount} cores");
        var bursts = new List<BurstResult>();
        LatencyResult? latency = null;
        ElectionResult? election = null;
        List<KvResult>? kv = null;
        try
        {
            if (scenario is "burst" or "all")
            {
                foreach (int n in sizes)
                {
                    bursts.Add(await RaftScenarios.BurstAsync(n, Progress, leaderChange ? (n / 2) + 1 : null));
                    ClearProgress();
                }
                PrintBursts(bursts);
            }
            if (scenario is "latency" or "all")
            {
                latency = await RaftScenarios.LatencyAsync(200, Progress, leaderChange ? 101 : null);
                ClearProgress();
                Console.WriteLine();
                Console.WriteLine($"latency, 200 commands one at a time (Submit to the leader's delivery): " +
                                  $"p50 {latency.P50:F2} ms, p90 {latency.P90:F2} ms, p99 {latency.P99:F2} ms, max {latency.Max:F2} ms; " +
                                  $"leader changes {latency.LeaderChanges}, commands resubmitted {latency.Resubmitted}");
            }
            if (scenario is "election" or "all")
            {
                election = await RaftScenarios.ElectionAsync(20, Progress);
                ClearProgress();
                Console.WriteLine();
                Console.WriteLine($"election, 20 fresh clusters (ready signal to a single leader): p50 {election.P50:F0} ms, max {election.Max:F0} ms");
            }
            if (scenario is "kv" or "all")
            {
                kv = await KvScenario.RunAsync(kvClients, TimeSpan.FromSeconds(kvSeconds), kvOps, Progress);
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

        if (jsonPath is not null)
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
        Console.WriteLine($"{"op",5} {"clients",7} {"ops/s",8} {"errors",6} {"p50 ms",7} {"p90 ms",7} {"p99 ms",7} {"max ms",7} {"writes",7} {"MB written",10} {"max KB",8}  ops each second");
        foreach (KvResult r in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Op,5} {r.Clients,7} {r.OpsPerSecond,8:F0} {r.Errors,6} {r.P50,7:F2} {r.P90,7:F2} {r.P99,7:F2} {r.Max,7:F1} {r.StorageWrites,7} {r.StorageBytes / 1e6,10:F1} {r.LargestWriteBytes / 1e3,8:F0}  {string.Join(' ', r.PerSecond)}"));
        }
        Console.WriteLine("(latency: from the KvClient call to its answer, resends included; errors: a KvException, or no answer within 2 s)");
        Console.WriteLine("(writes, MB written: all three services' storage during the run; max KB: the largest single write, the whole state)");
    }

    private static bool TryParseSizes(string text, out int[] sizes)
    {
        var list = new List<int>();
        foreach (string part in text.Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n <= 0)
            {
                sizes = [];
                return false;
            }
            list.Add(n);
        }
        sizes = [.. list];
        return true;
    }

    private static int Usage(string? error)
    {
        if (error is not null)
        {
            Console.Error.WriteLine($"RaftBench: {error}");
        }
        Console.Error.WriteLine("usage: dotnet run -c Release --project Tools/RaftBench -- [--n 1000,5000,10000,20000] " +
                                "[--scenario burst|latency|election|kv|all] [--no-rpc-delay] [--leader-change] [--json FILE] " +
                                "[--kv-seconds 5] [--kv-clients 1,8,32] [--kv-ops put,get,echo] [--kv-null-storage]");
        return error is null ? 0 : 2;
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
