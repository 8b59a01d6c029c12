// Ready-made scenarios: short scripts of fault actions and client requests that set up a case
// worth watching (a leader in a minority, a follower far behind, Figure 7's overwritten entries),
// one step at a time, each step said in words on the page and in the log.
using System.Net.Http.Json;
using Kv.Api;
using Kv.Client;
using Microsoft.AspNetCore.Http;

namespace RaftPlayground;

/// <summary>A scenario the page offers: its name in the API, its title, and what it shows.</summary>
public sealed record ScenarioInfo(string Name, string Title, string Summary);

/// <summary>
/// The scenario running or last run: its step (from 1) of how many, what that step does, and
/// whether it is still running. <paramref name="Failed"/> says the scenario could not go on
/// (say, no leader came in time, or the learner crashed a server it needed).
/// </summary>
public sealed record ScenarioView(string Name, string Title, bool Running, int Step, int Steps, string Text, bool Failed);

/// <summary>
/// Runs one scenario at a time, as a tracked task cancelled and awaited when the playground
/// stops. A scenario first makes the cluster whole (servers restarted and reconnected, the
/// partition healed, the network reliable), then goes step by step, pausing between steps so
/// that each one can be seen; where a step needs Raft to have done something (a new leader, a
/// log caught up) it waits for exactly that, and fails, saying so, if it does not come. It runs
/// inside the run's simulation, as one input: its pauses, limits and requests are in the
/// cluster's time, so in slow motion a scenario is as slow as the cluster, while the clock is
/// paused so is the scenario, and a replay of the run plays it again exactly.
/// </summary>
internal sealed class Scenarios(Cluster cluster, LiveLog log, TimeSpan pause, Func<ScenarioView, Task>? stepHook = null)
{
    /// <summary>The cluster the scenarios act on.</summary>
    private readonly Cluster _cluster = cluster;

    /// <summary>Where each step is written, as the playground's own line.</summary>
    private readonly LiveLog _log = log;

    /// <summary>The pause after each step, for the learner to see what it did.</summary>
    private readonly TimeSpan _pause = pause;

    /// <summary>The tests' look at the end of each step; see <see cref="PlaygroundOptions.ScenarioStepHook"/>.</summary>
    private readonly Func<ScenarioView, Task>? _stepHook = stepHook;

    /// <summary>The pause after each step, in cluster time.</summary>
    public static readonly TimeSpan DefaultPause = TimeSpan.FromSeconds(2);

    /// <summary>The KV API's wire format: Go's field names.</summary>
    private static readonly System.Text.Json.JsonSerializerOptions WireJson = new() { PropertyNamingPolicy = null };

    /// <summary>The longest a step waits for what it needs.</summary>
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(10);

    public static readonly IReadOnlyList<ScenarioInfo> All =
    [
        new("minority-leader", "Leader in a minority",
            "The leader and one follower are cut off from the other three. The old leader takes a request it can never commit; the majority elects a new leader and commits; the heal replaces the old leader's entry."),
        new("follower-behind", "A follower far behind",
            "A follower crashes and misses 20 requests. Restarted, it gets every entry it missed from the leader, and its row of the log fills up."),
        new("figure-7", "Uncommitted entries overwritten (Figure 7)",
            "A cut-off leader appends three entries nobody else has, and crashes. The new leader commits other entries at those indices; the old leader, restarted, has its conflicting entries replaced."),
    ];

    /// <summary>Guards the fields below.</summary>
    private readonly Lock _mu = new();

    /// <summary>The running scenario's task; null before the first.</summary>
    private Task? _task;

    /// <summary>Cancels the running scenario.</summary>
    private CancellationTokenSource? _cts;

    /// <summary>The running or last scenario, as the page shows it.</summary>
    private ScenarioView? _view;

    /// <summary>Set once the playground stops: no new scenario starts.</summary>
    private bool _stopped;

    /// <summary>The running or last scenario; null before the first.</summary>
    public ScenarioView? Current
    {
        get
        {
            lock (_mu)
            {
                return _view;
            }
        }
    }

    /// <summary>Starts scenario <paramref name="name"/>; 404 if there is none of that name, 409 while another runs.</summary>
    public string Start(string name)
    {
        ScenarioInfo info = All.FirstOrDefault(s => s.Name == name)
            ?? throw new PlaygroundException(StatusCodes.Status404NotFound, $"no scenario '{name}': use {string.Join(", ", All.Select(s => s.Name))}");
        lock (_mu)
        {
            if (_stopped)
            {
                throw new PlaygroundException(StatusCodes.Status503ServiceUnavailable, "cannot start a scenario: the playground is stopping");
            }
            if (_task is { IsCompleted: false })
            {
                throw new PlaygroundException(StatusCodes.Status409Conflict, $"scenario '{_view!.Name}' is running: wait for it to end, or stop it first");
            }
            _cts?.Dispose();
            _cts = new CancellationTokenSource();
            var run = new Run(this, info, _cts.Token);
            _view = new ScenarioView(info.Name, info.Title, true, 0, run.Steps, "starting", false);
            _task = GoAsync(run);
        }
        return $"scenario '{name}' started";

        // Begins after this input's answer, on the simulation's thread, as a tracked task.
        static async Task GoAsync(Run run)
        {
            await Task.Yield();
            await run.GoAsync();
        }
    }

    /// <summary>Stops the running scenario where it is (the cluster stays as it got); 409 if none runs.</summary>
    public async Task<string> StopRunningAsync()
    {
        Task? task;
        string name;
        lock (_mu)
        {
            if (_task is not { IsCompleted: false })
            {
                throw new PlaygroundException(StatusCodes.Status409Conflict, "no scenario is running");
            }
            task = _task;
            name = _view!.Name;
            _cts!.Cancel();
        }
        await task;
        return $"scenario '{name}' stopped";
    }

    /// <summary>Cancels the running scenario, if any, and waits for it; no scenario starts after this.</summary>
    public async Task StopAsync()
    {
        Task? task;
        lock (_mu)
        {
            _stopped = true;
            _cts?.Cancel();
            task = _task;
        }
        if (task is not null)
        {
            await task;
        }
        _cts?.Dispose();
    }

    private void Show(ScenarioView view)
    {
        lock (_mu)
        {
            _view = view;
        }
    }

    /// <summary>A step could not be done; the scenario ends with this reason.</summary>
    private sealed class ScenarioFailedException(string message) : Exception(message);

    /// <summary>One run of one scenario: its steps, and the waits and requests they are made of.</summary>
    private sealed class Run(Scenarios owner, ScenarioInfo info, CancellationToken ct)
    {
        /// <summary>Requests sent in the background (to a leader that cannot commit them); cancelled and awaited at the end.</summary>
        private readonly List<Task> _background = [];

        /// <summary>Cancels the background requests.</summary>
        private readonly CancellationTokenSource _backgroundCts = CancellationTokenSource.CreateLinkedTokenSource(ct);

        private int _step;

        /// <summary>What the last step said.</summary>
        private string? _lastSaid;

        private Cluster Cluster => owner._cluster;

        public int Steps => info.Name switch
        {
            "minority-leader" => 7,
            "follower-behind" => 5,
            _ => 8,
        };

        public async Task GoAsync()
        {
            try
            {
                ServerView leader = await SetTheStageAsync();
                await (info.Name switch
                {
                    "minority-leader" => MinorityLeaderAsync(leader),
                    "follower-behind" => FollowerBehindAsync(leader),
                    _ => Figure7Async(leader),
                });
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                End("stopped", failed: true);
            }
            catch (ScenarioFailedException e)
            {
                End(e.Message, failed: true);
            }
            catch (PlaygroundException e)
            {
                // A fault action refused: the learner changed the cluster under the scenario, or the playground is stopping.
                End($"could not go on: {e.Message}", failed: true);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                End($"a request failed: {e.Message}", failed: true);
            }
            catch (Exception e)
            {
                // A bug of the scenario's own: said on the page, rather than a scenario shown running for ever.
                End($"it failed: {e.GetType().Name}: {e.Message}", failed: true);
            }
            finally
            {
                _backgroundCts.Cancel();
                await Task.WhenAll(_background);
                _backgroundCts.Dispose();
            }
        }

        /// <summary>Step 1 of every scenario: every server up and connected, the network whole and reliable, one leader.</summary>
        private async Task<ServerView> SetTheStageAsync()
        {
            Say("Setting the stage: every server running and connected, the network whole and reliable; waiting for one leader.");
            foreach (ServerView c in Cluster.Views())
            {
                if (c.Status == "crashed")
                {
                    await Cluster.RestartAsync(c.Id);
                }
                else if (c.Status == "disconnected")
                {
                    await Cluster.ReconnectAsync(c.Id);
                }
            }
            await Cluster.HealAsync();
            if (Cluster.Unreliable)
            {
                await Cluster.SetNetworkAsync(false);
            }
            // One leader that every server has heard from: the same term everywhere.
            ServerView? leader = null;
            await UntilAsync(v =>
            {
                leader = v.Where(c => c.Role == "Leader").MaxBy(c => c.Term);
                return leader is not null && v.All(c => c.Term == leader.Term);
            }, "one leader followed by every server");
            await PauseAsync();
            return leader!;
        }

        private async Task MinorityLeaderAsync(ServerView leader)
        {
            Say($"Put a=1 through the leader S{leader.Id}: it is committed on every server (solid cells, commit marks moved).");
            await PutAsync(Enumerable.Range(0, Cluster.Size), "a", "1");
            await CommittedEverywhereAsync();
            await PauseAsync();

            leader = await IsolateLeaderAsync(id => [id, (id + 1) % Cluster.Size]);
            int old = leader.Id, follower = (old + 1) % Cluster.Size;
            int[] minority = [.. new[] { old, follower }.Order()];
            int[] majority = [.. Enumerable.Range(0, Cluster.Size).Except(minority)];
            Say($"Partition {Cluster.Describe([minority, majority])}: the leader S{old} now reaches only S{follower}.");
            await PauseAsync();

            int length = Cluster.Views()[old].LogLength;
            Say($"A client sends Put b=stale to S{old}, which still thinks it leads: it appends the entry and sends it to S{follower}, but 2 of {Cluster.Size} is no majority, so it stays uncommitted (dashed).");
            PutInBackground(old, "b", "stale");
            await UntilAsync(v => v[old].LogLength > length && v[follower].LogLength > length, $"the Put in S{old}'s and S{follower}'s logs");
            await PauseAsync();

            Say($"The majority {Cluster.Describe([majority])} hears no leader: an election timer runs out and one of them wins a higher term.");
            ServerView fresh = await LeaderAsync(majority, leader.Term, "a new leader in the majority");
            await PauseAsync();

            Say($"Put b=fresh through the new leader S{fresh.Id}: committed on the majority; the minority's commit marks do not move.");
            await PutAsync(majority, "b", "fresh");
            await PauseAsync();

            Say($"Heal: S{old} hears the higher term and steps down; the new leader replaces its uncommitted entry, and S{follower}'s, with its own.");
            await Cluster.HealAsync();
            await LogsAgreeAsync();
            End($"Done: S{fresh.Id} leads in term {Cluster.Views()[fresh.Id].Term}; every log is the same, and b=stale was never committed.");
        }

        private async Task FollowerBehindAsync(ServerView leader)
        {
            int follower = (leader.Id + 1) % Cluster.Size;
            int[] others = [.. Enumerable.Range(0, Cluster.Size).Where(i => i != follower)];

            Say($"Crash S{follower}: the others carry on without it; its log stays as it was, in its storage.");
            await Cluster.CrashAsync(follower);
            await PauseAsync();

            Say($"20 Puts while S{follower} is down: every log grows but S{follower}'s.");
            for (int i = 1; i <= 20; i++)
            {
                await PutAsync(others, $"k{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            await PauseAsync();

            Say($"Restart S{follower} from its storage: far behind, it is a follower; the leader's next AppendEntries to it carries what it missed (watch nextIndex ▼ on its row).");
            await Cluster.RestartAsync(follower);
            await UntilAsync(v =>
            {
                // Between two leaders (a loaded machine's spurious election) there is none to compare with: poll on.
                ServerView? now = v.Where(c => c.Role == "Leader").MaxBy(c => c.Term);
                return now is not null && v[follower].LogLength == now.LogLength && v[follower].CommitIndex == now.CommitIndex;
            }, $"S{follower}'s log to catch up with the leader's");
            await PauseAsync();

            ServerView[] views = [.. Cluster.Views()];
            Say($"S{follower} has caught up: {views[follower].LogLength} entries, commit index {views[follower].CommitIndex}, as the leader.");
            await PauseAsync();
            End($"Done: S{follower} missed 20 entries and got them all from the leader.");
        }

        private async Task Figure7Async(ServerView leader)
        {
            Say($"Put a=1 through the leader S{leader.Id}: committed on every server.");
            await PutAsync(Enumerable.Range(0, Cluster.Size), "a", "1");
            await CommittedEverywhereAsync();
            await PauseAsync();

            leader = await IsolateLeaderAsync(id => [id]);
            int old = leader.Id;
            int[] others = [.. Enumerable.Range(0, Cluster.Size).Where(i => i != old)];
            Say($"Cut the leader S{old} off ({Cluster.Describe([[old], others])}), and send it three Puts: it appends them to its own log only, uncommitted (dashed).");
            int length = Cluster.Views()[old].LogLength;
            for (int i = 1; i <= 3; i++)
            {
                PutInBackground(old, $"lost{i}", "x");
            }
            await UntilAsync(v => v[old].LogLength >= length + 3, $"three entries in S{old}'s log");
            await PauseAsync();

            Say($"Crash S{old}: its three uncommitted entries stay in its storage.");
            await Cluster.CrashAsync(old);
            await PauseAsync();

            Say("The others elect a new leader, in a higher term.");
            ServerView fresh = await LeaderAsync(others, leader.Term, "a new leader among the others");
            await PauseAsync();

            Say($"Two Puts through S{fresh.Id}: committed at the very indices where S{old} holds its old entries.");
            await PutAsync(others, "c", "1");
            await PutAsync(others, "d", "2");
            await PauseAsync();

            Say($"Heal, and restart S{old}: it comes back a follower, its stale entries of term {leader.Term} still there.");
            await Cluster.HealAsync();
            await Cluster.RestartAsync(old);
            await PauseAsync();

            Say($"S{fresh.Id}'s AppendEntries fail S{old}'s log check until they reach the entry they share; S{old} then deletes its conflicting entries and takes the leader's.");
            await LogsAgreeAsync();
            End($"Done: S{old}'s three entries of term {leader.Term} were replaced; every log is the same.");
        }

        /// <summary>
        /// Partitions the leader into the group <paramref name="groupOf"/> gives for it, and
        /// returns it as it stands once cut off. On a loaded machine a follower may time out
        /// and take over just before the cut, leaving a mere follower in the group: then the
        /// partition is healed and tried again with the new leader. Once cut off, a leader stays
        /// one: nobody can reach it with a higher term.
        /// </summary>
        private async Task<ServerView> IsolateLeaderAsync(Func<int, int[]> groupOf)
        {
            for (int attempt = 1; ; attempt++)
            {
                ServerView leader = await LeaderAsync(Enumerable.Range(0, Cluster.Size), -1, "a leader to cut off");
                await Cluster.PartitionAsync([[.. groupOf(leader.Id).Order()]]);
                ServerView now = Cluster.Views()[leader.Id];
                if (now.Role == "Leader" && now.Term == leader.Term)
                {
                    return now;
                }
                if (attempt == 3)
                {
                    throw new ScenarioFailedException($"the leader changed just before the partition {attempt} times: the machine is too busy");
                }
                await Cluster.HealAsync();
            }
        }

        /// <summary>Waits for a leader among <paramref name="ids"/> in a term above <paramref name="aboveTerm"/>.</summary>
        private async Task<ServerView> LeaderAsync(IEnumerable<int> ids, int aboveTerm, string what)
        {
            HashSet<int> among = [.. ids];
            ServerView? leader = null;
            await UntilAsync(v =>
            {
                leader = v.Where(c => among.Contains(c.Id) && c.Role == "Leader" && c.Status == "connected" && c.Term > aboveTerm).MaxBy(c => c.Term);
                return leader is not null;
            }, what);
            return leader!;
        }

        /// <summary>Waits until every running server's commit index is the leader's, and every log as long.</summary>
        private Task CommittedEverywhereAsync() => UntilAsync(v =>
        {
            ServerView? leader = v.FirstOrDefault(c => c.Role == "Leader");
            return leader is not null && v.Where(c => c.Status != "crashed").All(c => c.CommitIndex == leader.CommitIndex && c.LogLength == leader.LogLength);
        }, "the entry to be committed on every server");

        /// <summary>Waits until every server's log holds the same terms, one leader leads them, and all have committed all of it.</summary>
        private async Task LogsAgreeAsync()
        {
            int[] from = new int[Cluster.Size];
            await UntilAsync(_ =>
            {
                IReadOnlyList<ServerReading> r = Cluster.Read(from);
                return r.Count(s => s.Card.Role == "Leader") == 1
                    && r.All(s => s.Terms.AsSpan().SequenceEqual(r[0].Terms) && s.Card.CommitIndex == s.Card.LogLength - 1);
            }, "every log to agree");
        }

        /// <summary>Polls the cards until <paramref name="done"/> holds; a scenario failure after <see cref="WaitLimit"/> of cluster time.</summary>
        private async Task UntilAsync(Func<IReadOnlyList<ServerView>, bool> done, string what)
        {
            long started = Cluster.Clock.GetTimestamp();
            while (!done(Cluster.Views()))
            {
                if (Cluster.Clock.GetElapsedTime(started) > WaitLimit)
                {
                    throw new ScenarioFailedException($"waited {WaitLimit.TotalSeconds:0} s for {what}, in vain");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(20), Cluster.Clock, ct);
            }
        }

        /// <summary>
        /// A Put through a client of <paramref name="ids"/> only, which must succeed. Each
        /// attempt at one server may take seconds: these servers can reach a majority, so only a
        /// slow commit makes an attempt long, and a short one would have the client resend and be
        /// told its request was a duplicate. A Put the cluster could not commit (a leader change
        /// under way) is sent again as a new request; a second copy of a Put changes nothing here.
        /// </summary>
        private async Task PutAsync(IEnumerable<int> ids, string key, string value)
        {
            using var client = new KvClient([.. ids.Order().Select(i => Cluster.KvAddrs[i])], owner._log, TimeSpan.FromSeconds(3),
                Cluster.Http.Handler(), Cluster.Clock, Cluster.NewRandom());
            using var limit = new CancellationTokenSource(WaitLimit, Cluster.Clock);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
            string? failure = null;
            try
            {
                while (true)
                {
                    try
                    {
                        await client.PutAsync(key, value, deadline.Token);
                        return;
                    }
                    catch (KvException e)
                    {
                        failure = e.Message;
                    }
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new ScenarioFailedException($"Put {key}={value} was not committed in {WaitLimit.TotalSeconds:0} s{(failure is null ? "" : $" ({failure})")}");
            }
        }

        /// <summary>
        /// A Put sent once to server <paramref name="id"/> alone, as a client that knows no
        /// other server would, left waiting in the background: the server appends it to its log
        /// whether or not it can ever commit it. It ends when the server answers (a failed commit,
        /// once it has stepped down), when the server crashes, or at the scenario's end.
        /// </summary>
        private void PutInBackground(int id, string key, string value)
        {
            long clientId = Cluster.NewRandom().NextInt64(1, long.MaxValue);
            async Task PutAsync()
            {
                await Task.Yield();
                using var http = new HttpClient(Cluster.Http.Handler()) { Timeout = Timeout.InfiniteTimeSpan };
                var req = new PutRequest { Key = key, Value = value, ClientID = clientId, RequestID = 1 };
                try
                {
                    using HttpResponseMessage resp = await http.PostAsJsonAsync($"http://{Cluster.KvAddrs[id]}/put/", req, WireJson, _backgroundCts.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
                {
                    // Never committed, as the scenario means it: how it ends is not the point.
                }
            }
            _background.Add(PutAsync());
        }

        /// <summary>The pause after a step (after the tests' look at it, if they asked for one).</summary>
        private async Task PauseAsync()
        {
            if (owner._stepHook is { } hook)
            {
                await hook(owner.Current!);
            }
            await Task.Delay(owner._pause, Cluster.Clock, ct);
        }

        /// <summary>Shows the next step, on the page and in the log.</summary>
        private void Say(string text)
        {
            _lastSaid = text;
            _step++;
            owner._log.Write($"Scenario {info.Name} {_step}/{Steps}: {text}");
            owner.Show(new ScenarioView(info.Name, info.Title, true, _step, Steps, text, false));
        }

        private void End(string text, bool failed = false)
        {
            owner._log.Write($"Scenario {info.Name} {(failed ? "failed" : "done")}: {text}");
            // The last step's own text stays, with the end after it: it may have been on screen a moment only.
            string end = failed ? $"Stopped at step {_step}: {text}" : text;
            owner.Show(new ScenarioView(info.Name, info.Title, false, _step, Steps, _lastSaid is null ? end : $"{_lastSaid} — {end}", failed));
        }
    }
}
