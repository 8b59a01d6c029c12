// The JSON control API on a live cluster: elections, faults, the KV console, refusals, shutdown.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

// Each test runs a whole cluster: one at a time with the other tests of the "cluster" collection,
// beside at most one browser test (its collection, "browser", runs beside this one).
[Collection("cluster")]
public sealed class ApiTests
{
    /// <summary>Free ports everywhere, so runs never collide with each other or with a playground in use.</summary>
    private static PlaygroundOptions FreePorts(int servers) => new() { Servers = servers, Port = 0, KvPortBase = 0 };

    /// <summary>Generous for a first election on a loaded machine; polling ends as soon as there is one.</summary>
    private static readonly TimeSpan ElectionLimit = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task TestClusterElectsALeader()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);

        ServerView leader = await api.WaitForLeaderAsync(ElectionLimit);
        PlaygroundState state = await api.StateAsync();
        state.Servers.Should().Be(3);
        state.Network.Should().Be("reliable");
        state.Cards.Should().HaveCount(3).And.OnlyContain(c => c.Status == "connected");
        leader.VotedFor.Should().Be(leader.Id, "a leader voted for itself in its term");
        state.Timeline.Lanes.Should().HaveCount(3);
        state.Timeline.Lanes[leader.Id].Segments.Should().Contain(s => s.State == "Leader", "the leader's ribbon shows its term as leader");
        state.Lines.Should().NotBeEmpty("the state carries the last lines of the log");
        // Looked for in the whole log, not the state's last 100 lines: a round of heartbeats
        // writes a dozen, and on a busy machine the election may be that many rounds back.
        p.Log.LinesAfter(0, LiveLog.MaxLines).Should().Contain(l => l.Id == leader.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) && l.Message.Contains("becomes Leader", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TestCrashLeaderElectsNewLeaderWithin2s()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        ServerView first = await api.WaitForLeaderAsync(ElectionLimit);

        var (status, body) = await api.PostAsync($"servers/{first.Id}/crash");
        status.Should().Be(200, body.ToString());
        var crashed = Stopwatch.StartNew();
        ServerView second = await api.WaitForLeaderAsync(TimeSpan.FromSeconds(2), not: first.Id);
        crashed.Stop();

        second.Term.Should().BeGreaterThan(first.Term);
        PlaygroundState state = await api.StateAsync();
        state.Cards[first.Id].Status.Should().Be("crashed");
        state.Cards[first.Id].Role.Should().Be("Dead");
        state.Cards[first.Id].Data.Should().BeNull("a crashed service's data store is gone");
        crashed.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task TestCrashedCardIsDeadFromItsFirstView()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        ServerView leader = await api.WaitForLeaderAsync(ElectionLimit);

        // A Put the leader cannot commit, its followers being cut off: the crash then has a
        // waiting request to end, and yields while it does, with the server marked crashed
        // but its module not yet stopped.
        foreach (int follower in Enumerable.Range(0, 3).Where(i => i != leader.Id))
        {
            (await api.PostAsync($"servers/{follower}/disconnect")).Status.Should().Be(200);
        }
        using var http = new HttpClient { BaseAddress = new Uri($"http://{p.KvAddrs[leader.Id]}/") };
        Task<HttpResponseMessage> put = http.PostAsync("put/", new StringContent(
            """{"Key":"k","Value":"v","ClientID":1,"RequestID":1}""", System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        await Poll.UntilAsync(async () => (await p.ReadAsync(c => c.Views()))[leader.Id].LogLength > 0, TimeSpan.FromSeconds(5), "the Put in the leader's log");

        // Read the cards as fast as possible while the crash shuts the leader's service down:
        // every view that already calls it crashed must also call it Dead, as the page colours it.
        Task<(int Status, JsonElement Body)> crash = api.PostAsync($"servers/{leader.Id}/crash");
        var seen = new List<ServerView>();
        while (!crash.IsCompleted)
        {
            seen.Add((await p.ReadAsync(c => c.Views()))[leader.Id]);
        }
        (await crash).Status.Should().Be(200);
        seen.Add((await p.ReadAsync(c => c.Views()))[leader.Id]);
        try
        {
            (await put).Dispose();
        }
        catch (HttpRequestException)
        {
            // The service may answer the waiting Put or drop its connection as it goes; either is fine here.
        }

        seen.Where(v => v.Status == "crashed").Should().NotBeEmpty()
            .And.OnlyContain(v => v.Role == "Dead", "a card never says crashed and {0} at once", leader.Role);
    }

    [Fact]
    public async Task TestPutLandsOnEveryRunningServer()
    {
        await using var p = await Playground.StartAsync(FreePorts(5));
        using var api = new ApiClient(p.Address);
        ServerView leader = await api.WaitForLeaderAsync(ElectionLimit);
        int follower = (leader.Id + 1) % 5;
        (await api.PostAsync($"servers/{follower}/crash")).Status.Should().Be(200);

        KvAnswer put = await api.KvAsync("put", "color", "blue");
        put.KeyFound.Should().BeFalse();
        put.Server.Should().NotBeNull().And.NotBe(follower, "a crashed service cannot answer");
        KvAnswer append = await api.KvAsync("append", "color", "-green");
        append.Value.Should().Be("blue");
        KvAnswer cas = await api.KvAsync("cas", "color", "teal", compare: "blue-green");
        cas.Value.Should().Be("blue-green");
        KvAnswer get = await api.KvAsync("get", "color");
        get.Value.Should().Be("teal");
        get.KeyFound.Should().BeTrue();
        get.ElapsedMs.Should().BePositive();

        await Poll.UntilAsync(async () =>
        {
            var running = (await api.StateAsync()).Cards.Where(c => c.Status != "crashed").ToList();
            return running.Count == 4 && running.All(c => c.Data!.TryGetValue("color", out string? v) && v == "teal");
        }, TimeSpan.FromSeconds(5), "color=teal on all 4 running servers");
    }

    [Fact]
    public async Task TestRestartBringsCrashedServerUpToDate()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        ServerView leader = await api.WaitForLeaderAsync(ElectionLimit);
        int follower = (leader.Id + 1) % 3;

        await api.KvAsync("put", "before", "1");
        (await api.PostAsync($"servers/{follower}/crash")).Status.Should().Be(200);
        await api.KvAsync("put", "during", "2");
        var (status, body) = await api.PostAsync($"servers/{follower}/restart");
        status.Should().Be(200, body.ToString());

        await Poll.UntilAsync(async () =>
        {
            PlaygroundState s = await api.StateAsync();
            ServerView back = s.Cards[follower];
            int longest = s.Cards.Max(c => c.LogLength);
            return back.Status == "connected" && back.LogLength == longest
                && back.Data is { } data && data.GetValueOrDefault("before") == "1" && data.GetValueOrDefault("during") == "2";
        }, TimeSpan.FromSeconds(5), $"restarted server {follower} to hold both keys and the whole log");
        p.KvAddrs[follower].Should().Be((await api.StateAsync()).Cards[follower].KvAddr, "a restarted service comes back on its port");
    }

    [Fact]
    public async Task TestDisconnectAndReconnectFollowerCatchesUp()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        ServerView leader = await api.WaitForLeaderAsync(ElectionLimit);
        int follower = (leader.Id + 2) % 3;

        (await api.PostAsync($"servers/{follower}/disconnect")).Status.Should().Be(200);
        await api.KvAsync("put", "k", "v");
        (await api.StateAsync()).Cards[follower].Data.Should().NotContainKey("k", "a cut-off server hears nothing");
        (await api.PostAsync($"servers/{follower}/reconnect")).Status.Should().Be(200);
        await Poll.UntilAsync(async () => (await api.StateAsync()).Cards[follower].Data?.GetValueOrDefault("k") == "v",
            TimeSpan.FromSeconds(5), $"reconnected server {follower} to get k=v");

        // The switch for the unreliable network, and back; the cluster keeps answering through both.
        (await api.PostAsync("network/unreliable")).Status.Should().Be(200);
        (await api.StateAsync()).Network.Should().Be("unreliable");
        (await api.PostAsync("network/reliable")).Status.Should().Be(200);
        await api.KvAsync("get", "k");
    }

    /// <summary>Bad requests, each with the status and the reason it must get; all sent to one cluster, which must go on after each.</summary>
    private static readonly (string Path, string? Body, int Status, string? Reason)[] BadRequests =
    [
        ("servers/9/crash", null, 404, "no server 9"),
        ("servers/-1/crash", null, 400, "not a server id"),
        ("servers/x/restart", null, 400, "not a server id"),
        ("servers/0/explode", null, 404, "no action 'explode'"),
        ("servers/0/restart", null, 409, "only a crashed server can be restarted"),
        ("servers/1/reconnect", null, 409, "only a disconnected server can be reconnected"),
        ("network/sometimes", null, 400, "no network mode"),
        ("network/partition", "{\"groups\":[[0,7]]}", 400, "bad partition: there is no server 7 (group 1): ids are 0 to 2"),
        ("network/partition", "{\"groups\":[[0,1],[1,2]]}", 400, "bad partition: server 1 is in two groups (1 and 2)"),
        ("network/partition", "{\"groups\":[[0,0]]}", 400, "bad partition: server 0 is named twice in group 1"),
        ("network/partition", "{\"groups\":[[0],[]]}", 400, "bad partition: group 2 is empty"),
        ("network/partition", "{\"groups\":[[0,1,2]]}", 400, "no partition"),
        ("network/partition", "{\"groups\":[[0],[1],[2]]}", 200, null),
        ("network/partition", "{}", 400, "a partition needs \"groups\""),
        ("network/partition", "{\"groups\":[[\"a\"]]}", 400, "the body is not a partition's groups"),
        ("network/partition", "", 400, "the body is not a partition's groups"),
        ("kv/delete", "{\"key\":\"k\"}", 404, "no KV operation 'delete'"),
        ("kv/put", "{\"value\":\"v\"}", 400, "needs a non-empty \"key\""),
        ("kv/put", "{\"key\":\"k\"}", 400, "needs a \"value\""),
        ("kv/cas", "{\"key\":\"k\",\"value\":\"v\"}", 400, "needs a \"compare\""),
        ("kv/get", "not json", 400, "not a JSON object"),
        ("nowhere", null, 404, "404 Not Found"),
        ("clock/speed", "{\"speed\":0}", 400, "bad speed 0: give \"speed\" from 0.005 (1/200) to 1"),
        ("clock/speed", "{\"speed\":10000}", 400, "bad speed 10000"),
        ("clock/speed", "{}", 400, "bad speed (none)"),
        ("clock/step", "{\"to\":\"timer\"}", 409, "the clock is running: pause it before stepping"),
        ("clock/step", "{\"ms\":10}", 409, "the clock is running: pause it before stepping"),
        ("clock/warp", null, 404, "no clock action 'warp'"),
        ("messages/x/drop", null, 400, "'x' is not a message id"),
        ("messages/99999999/drop", null, 409, "message 99999999 is not on its way any more"),
    ];

    [Fact]
    public async Task TestBadRequestsAreRefused()
    {
        // One cluster for every case: each is refused (or, the one odd but fine request, undone) and changes nothing.
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        foreach (var (path, body, wantStatus, wantReason) in BadRequests)
        {
            var (status, answer) = await api.PostAsync(path, body);
            status.Should().Be(wantStatus, $"POST {path} {body}: {answer}");
            if (wantReason is null)
            {
                // A request that looks odd but is fine (every server on its own): heal, and go on.
                (await api.PostAsync("network/heal")).Status.Should().Be(200);
            }
            else
            {
                string reason = answer.GetProperty("error").GetString()!;
                reason.Should().Contain(wantReason, $"POST {path} {body}").And.NotContain("\n", "a reason is one line");
                PlaygroundState state = await api.StateAsync();
                state.Groups.Should().BeNull("a refused partition changes nothing");
                state.Clock.Should().Be(state.Clock with { Speed = 1, Paused = false }, "a refused clock request changes nothing");
            }
        }

        // The cluster goes on as if nothing happened.
        await api.WaitForLeaderAsync(ElectionLimit);
        await api.KvAsync("put", "still", "here");
    }

    [Fact]
    public async Task TestCrashTwiceIsRefusedAndConcurrentClicksAreSerialized()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        // Five clicks on one crash button at once: one crashes the server, the others are told it is crashed.
        var clicks = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => api.PostAsync("servers/2/crash")));
        clicks.Count(c => c.Status == 200).Should().Be(1);
        clicks.Where(c => c.Status != 200).Should().OnlyContain(c => c.Status == 409 && c.Body.GetProperty("error").GetString()!.Contains("only a running server can be crashed", StringComparison.Ordinal));

        var restarts = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => api.PostAsync("servers/2/restart")));
        restarts.Count(c => c.Status == 200).Should().Be(1);
        await api.WaitForLeaderAsync(ElectionLimit);
        p.RunningTasks().Should().NotBeEmpty("the cluster is running");
    }

    /// <summary>
    /// Part5Kv's client, a port of upstream's (on to the next service after a failure or a "not
    /// leader"), over real sockets, against a playground started a moment ago: each request enters
    /// the simulation where it arrives and is answered as the service answered. Each try gets 1 s,
    /// not upstream's 50 ms: beside this suite's browser a try can take longer, and a resent
    /// request is answered DuplicateRequest, as Part5 means it to be.
    /// </summary>
    [Fact]
    public async Task TestOutsideClientOnTheKvPorts()
    {
        await using var p = await Playground.StartAsync(FreePorts(5));
        using var client = new Kv.Client.KvClient(p.KvAddrs, attemptTimeout: TimeSpan.FromSeconds(1));
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(20));
        (await client.PutAsync("outside", "1", limit.Token)).Should().Be(("", false));
        (await client.CasAsync("outside", "1", "2", limit.Token)).Should().Be(("1", true));
        (await client.GetAsync("outside", limit.Token)).Should().Be(("2", true));
        using var api = new ApiClient(p.Address);
        await Poll.UntilAsync(async () => (await api.StateAsync()).Cards.All(c => c.Data!.GetValueOrDefault("outside") == "2"),
            TimeSpan.FromSeconds(5), "the outside client's value on every server");
    }

    [Fact]
    public async Task TestStopLeavesNothingRunningAndRestartsOnSamePorts()
    {
        Uri address;
        IReadOnlyList<string> kvAddrs;
        var p = await Playground.StartAsync(FreePorts(3));
        using (var api = new ApiClient(p.Address))
        {
            await api.WaitForLeaderAsync(ElectionLimit);
            await api.KvAsync("put", "k", "v");
            address = p.Address;
            kvAddrs = p.KvAddrs;

            // A live-update stream is open while the playground stops: it must end, not hold shutdown up.
            CancellationToken ct = TestContext.Current.CancellationToken;
            using var events = await api.Http.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead, ct);
            using var reader = new StreamReader(await events.Content.ReadAsStreamAsync(ct));
            (await reader.ReadLineAsync(ct)).Should().Be("event: state");
            (await reader.ReadLineAsync(ct)).Should().StartWith("data: {\"servers\":3,");

            var stopping = Stopwatch.StartNew();
            await p.StopAsync();
            stopping.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
            p.RunningTasks().Should().BeEmpty("every task of every service ends at stop");
            Func<Task> readToEnd = async () => await reader.ReadToEndAsync(ct).WaitAsync(TimeSpan.FromSeconds(5), ct);
            await readToEnd.Should().NotThrowAsync<TimeoutException>("the stream ends with the playground");
        }

        int[] ports = [address.Port, .. kvAddrs.Select(a => new Uri($"http://{a}").Port)];
        foreach (int port in ports)
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
        }

        // Every port is free again: a new playground takes exactly the same ones.
        await using var again = await Playground.StartAsync(new PlaygroundOptions { Servers = 3, Port = address.Port, KvPorts = [.. ports[1..]] });
        again.Address.Should().Be(address);
        again.KvAddrs.Should().Equal(kvAddrs);
        using var api2 = new ApiClient(again.Address);
        await api2.WaitForLeaderAsync(ElectionLimit);
        (await api2.StateAsync()).Cards.Should().OnlyContain(c => c.Data!.Count == 0, "a new playground starts from empty storage");
    }
}
