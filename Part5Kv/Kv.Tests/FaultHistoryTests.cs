// Beyond upstream: clients hammer a five-service cluster while services crash, restart, drop off
// the network and come back; everything the clients saw must be linearizable.
using FluentAssertions;
using Kv.Client;
using Lab;
using Raft;
using Xunit;
using static Kv.Tests.Harness;

namespace Kv.Tests;

public sealed class FaultHistoryTests(ITestOutputHelper output)
{
    /// <summary>How long faults come and go while the clients work.</summary>
    private static readonly TimeSpan FaultPhase = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A client's limit on one operation. A call still running at this point counts as unknown: it
    /// may yet be applied, at any later time, and the checker allows for that.
    /// </summary>
    private static readonly TimeSpan OperationDeadline = TimeSpan.FromMilliseconds(1500);

    private const int Services = 5;

    private const int Clients = 5;

    /// <summary>Few keys, so that clients often touch the same one at the same time.</summary>
    private static readonly string[] Keys = ["k0", "k1", "k2", "k3"];

    [Fact, LongTest]
    public async Task HistoryUnderFaultsIsLinearizable()
    {
        await using var h = await NewHarnessAsync(output, Services);
        await h.CheckSingleLeaderAsync();

        // Its faults and clients draw from the run's seed (the log's first line), so a replay makes the same moves.
        var run = new FaultRun(h, h.NewRandom().Next());
        using var faultsOver = new CancellationTokenSource();
        Task[] clients = [.. Enumerable.Range(0, Clients).Select(c => run.ClientLoopAsync(c, faultsOver.Token))];

        await run.InjectFaultsAsync(FaultPhase);
        faultsOver.Cancel();
        await run.HealAsync();
        await Task.WhenAll(clients);

        // Once healed, the cluster must serve every client again; these reads end the history.
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(run.FinalReadsAsync));

        var history = run.History();
        CheckResult result = Linearizability.Check(history);
        // Straight to the output too: a run this long fills the test log, which then drops its lines.
        string summary = run.Summary();
        h.Tlog(summary);
        output.WriteLine($"[TEST] {summary}");
        result.Ok.Should().BeTrue(result.Explain());
        history.Count(op => op.Output is not null).Should().BeGreaterThan(Clients * Keys.Length, "the cluster must have served some operations besides the final reads");
    }

    /// <summary>The shared state of one run: the clients' history and the faults in force.</summary>
    private sealed class FaultRun(Harness h, int seed)
    {
        private readonly List<KvOperation> _history = [];

        /// <summary>Bumped by each restart: a restarted service listens on a new port, so clients made earlier no longer reach it.</summary>
        private int _generation;

        private readonly bool[] _crashed = new bool[Services];

        private readonly bool[] _disconnected = new bool[Services];

        private bool _unreliable;

        private int _crashes, _restarts, _disconnects, _reconnects, _networkSwitches;

        public IReadOnlyList<KvOperation> History()
        {
            lock (_history)
            {
                return [.. _history];
            }
        }

        public string Summary()
        {
            var history = History();
            int unknown = history.Count(op => op.Output is null);
            string byKind = string.Join(", ", Enum.GetValues<OpKind>().Select(k => $"{k} {history.Count(op => op.Kind == k)}"));
            return $"{history.Count} operations ({byKind}), {unknown} with unknown outcome; " +
                   $"faults: {_crashes} crashes, {_restarts} restarts, {_disconnects} disconnections, {_reconnects} reconnections, {_networkSwitches} network switches";
        }

        /// <summary>
        /// Every 150-400 ms, one change: crash or cut off a service (the leader half the time),
        /// bring one back, or switch the network between reliable and lossy. At most two services
        /// are down at once, so a majority can always make progress once the network allows.
        /// </summary>
        public async Task InjectFaultsAsync(TimeSpan duration)
        {
            var rng = new Random(seed);
            long start = h.Clock.GetTimestamp();
            while (h.Clock.GetElapsedTime(start) < duration)
            {
                await SleepMs(rng.Next(150, 400));
                int[] down = [.. Enumerable.Range(0, Services).Where(i => _crashed[i] || _disconnected[i])];
                double roll = rng.NextDouble();
                if (roll < 0.15)
                {
                    SwitchNetwork(!_unreliable);
                }
                else if (down.Length >= 2 || (down.Length > 0 && roll < 0.45))
                {
                    await BringBackAsync(down[rng.Next(down.Length)]);
                }
                else
                {
                    int[] up = [.. Enumerable.Range(0, Services).Where(i => !_crashed[i] && !_disconnected[i])];
                    int leader = up.FirstOrDefault(h.IsLeader, -1);
                    int target = leader >= 0 && rng.Next(2) == 0 ? leader : up[rng.Next(up.Length)];
                    if (rng.Next(2) == 0)
                    {
                        _crashed[target] = true;
                        _crashes++;
                        await h.CrashServiceAsync(target);
                    }
                    else
                    {
                        _disconnected[target] = true;
                        _disconnects++;
                        h.DisconnectServiceFromPeers(target);
                    }
                }
            }
        }

        /// <summary>Ends every fault: a reliable network, every service running and connected.</summary>
        public async Task HealAsync()
        {
            SwitchNetwork(false);
            for (int i = 0; i < Services; i++)
            {
                if (_crashed[i] || _disconnected[i])
                {
                    await BringBackAsync(i);
                }
            }
        }

        private async Task BringBackAsync(int id)
        {
            if (_crashed[id])
            {
                _crashed[id] = false;
                _restarts++;
                await h.RestartServiceAsync(id);
                Interlocked.Increment(ref _generation);
            }
            else
            {
                _disconnected[id] = false;
                _reconnects++;
                h.ReconnectServiceToPeers(id);
            }
        }

        private void SwitchNetwork(bool unreliable)
        {
            if (unreliable != _unreliable)
            {
                _unreliable = unreliable;
                _networkSwitches++;
                h.SetNetwork(unreliable ? NetworkConditions.Unreliable : NetworkConditions.Reliable);
            }
        }

        /// <summary>
        /// One client: random operations on random keys, one at a time, until the faults are over.
        /// Every value written is unique, so a read shows exactly which write it saw.
        /// </summary>
        public async Task ClientLoopAsync(int clientId, CancellationToken faultsOver)
        {
            await Task.Yield(); // Each client goes its own way from here.
            var rng = new Random(seed + 1 + clientId);
            int generation = -1;
            KvClient client = null!;
            var lastSeen = new Dictionary<string, string>();
            for (int seq = 0; !faultsOver.IsCancellationRequested; seq++)
            {
                if (Volatile.Read(ref _generation) != generation)
                {
                    generation = Volatile.Read(ref _generation);
                    client = h.NewClientWithRandomAddrsOrder();
                }
                string key = Keys[rng.Next(Keys.Length)];
                string value = $"{clientId}.{seq};";
                int roll = rng.Next(100);
                OpKind kind = roll switch
                {
                    < 30 => OpKind.Get,
                    < 55 => OpKind.Put,
                    < 80 => OpKind.Append,
                    _ => OpKind.CAS,
                };
                // Comparing with what this client saw last makes some CASes succeed.
                string compare = lastSeen.GetValueOrDefault(key, "");
                KvOutput? result = await RunAsync(client, clientId, kind, key, value, compare);
                // A pause between operations: on the simulation's instant HTTP requests would come
                // back to back, and a history of thousands, some of unknown outcome, outgrows what
                // the checker can search (its states grow with every operation that may yet apply).
                await SleepMs(rng.Next(10, 40));
                if (result is not null)
                {
                    lastSeen[key] = kind switch
                    {
                        OpKind.Get => result.Value,
                        OpKind.Put => value,
                        OpKind.Append => result.Value + value,
                        _ => result.Found && result.Value == compare ? value : result.Value,
                    };
                }
            }
        }

        /// <summary>A fresh client reads every key; each read must succeed within 5 s.</summary>
        public async Task FinalReadsAsync(int clientId)
        {
            await Task.Yield(); // Each client goes its own way from here.
            KvClient client = h.NewClientWithRandomAddrsOrder();
            foreach (string key in Keys)
            {
                long start = h.Clock.GetTimestamp();
                while (await RunAsync(client, clientId, OpKind.Get, key, null, null) is null)
                {
                    h.Clock.GetElapsedTime(start).Should().BeLessThan(TimeSpan.FromSeconds(5), $"client {clientId} must read {key} within 5 s of the cluster healing");
                }
            }
        }

        /// <summary>Runs one operation and records it; returns its output, or null if its outcome is unknown.</summary>
        private async Task<KvOutput?> RunAsync(KvClient client, int clientId, OpKind kind, string key, string? value, string? compare)
        {
            using var deadline = h.Deadline(OperationDeadline);
            long call = h.Clock.GetTimestamp();
            KvOutput? output;
            try
            {
                var (v, found) = kind switch
                {
                    OpKind.Get => await client.GetAsync(key, deadline.Token),
                    OpKind.Put => await client.PutAsync(key, value!, deadline.Token),
                    OpKind.Append => await client.AppendAsync(key, value!, deadline.Token),
                    _ => await client.CasAsync(key, compare!, value!, deadline.Token),
                };
                output = new KvOutput(v, found);
            }
            catch (Exception e) when (e is KvException or OperationCanceledException)
            {
                // Not committed in time, failed, or a resend answered as a duplicate: it may have been applied or not.
                output = null;
            }
            long ret = h.Clock.GetTimestamp();
            lock (_history)
            {
                _history.Add(new KvOperation(clientId, kind, key, value, compare, output, call, ret));
            }
            return output;
        }
    }
}
