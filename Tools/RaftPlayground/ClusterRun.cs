// One run of the playground's cluster: the lab's simulation, paced to the wall clock, with every
// input a learner or a client gives it stamped with its moment, so that the run is its seed plus
// its inputs, and can be run again to any moment of it.
using System.Text.Json.Serialization;
using Kv.Client;
using Lab;
using Microsoft.AspNetCore.Http;
using Raft;

namespace RaftPlayground;

/// <summary>
/// Something from outside that changes the run: a fault action, a dropped message, a console
/// request, a client's HTTP request, a scenario. <see cref="AtTicks"/> is its moment in cluster
/// time (ticks of 100 ns), given when it entered; the other fields are what its
/// <see cref="Kind"/> needs. It is kept in the recording, so a run replays from its seed and these.
/// </summary>
public sealed record PlaygroundInput
{
    public long AtTicks { get; init; }

    /// <summary>crash, restart, disconnect, reconnect, timeout, partition, heal, network, drop, kv, http, scenario, scenario-stop.</summary>
    public required string Kind { get; init; }

    public int? Server { get; init; }

    public IReadOnlyList<IReadOnlyList<int>>? Groups { get; init; }

    public bool? Unreliable { get; init; }

    public long? Message { get; init; }

    /// <summary>A console operation (put, append, get, cas) or a scenario's name.</summary>
    public string? Op { get; init; }

    public string? Key { get; init; }

    public string? Value { get; init; }

    public string? Compare { get; init; }

    /// <summary>A client's request: its method, path ("/put/") and body.</summary>
    public string? Method { get; init; }

    public string? Path { get; init; }

    public string? Body { get; init; }

    [JsonIgnore]
    public double AtMs => TimeSpan.FromTicks(AtTicks).TotalMilliseconds;
}

/// <summary>What a client's HTTP request got from a service inside the simulation.</summary>
public sealed record HttpAnswer(int Status, string ContentType, byte[] Body);

/// <summary>
/// One run: a <see cref="Simulation"/> of a seed, a <see cref="Pacer"/>, the <see cref="Cluster"/>
/// on it, its log, its message board and its recording, and the inputs given so far. The
/// playground's threads never touch the cluster: they read it with <see cref="ReadAsync{T}"/> and
/// change it with <see cref="InputAsync"/>, both run on the simulation's thread.
/// </summary>
public sealed class ClusterRun
{
    /// <summary>The inputs so far, in the order they ran (so by moment).</summary>
    private readonly List<PlaygroundInput> _inputs = [];

    /// <summary>Guards <see cref="_inputs"/> and <see cref="_waiting"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>Answers still owed to the playground's threads; failed if the run is stopped first.</summary>
    private readonly HashSet<TaskCompletionSource<object?>> _waiting = [];

    /// <summary>The scenarios, run inside the simulation.</summary>
    private readonly Scenarios _scenarios;

    /// <summary>The client that forwards outside requests to the services inside; made at the first.</summary>
    private HttpClient? _forwarder;

    /// <summary>Set by <see cref="Stop"/>.</summary>
    private volatile bool _stopped;

    private ClusterRun(int seed, IReadOnlyList<string> kvAddrs, Pacer pacer, TimeSpan scenarioPause, Func<ScenarioView, Task>? stepHook, bool record)
    {
        Seed = seed;
        Pacer = pacer;
        Sim = new Simulation(seed, TimeSpan.MaxValue, pacer);
        Log = new LiveLog(kvAddrs.Count, Sim.Clock);
        Http = new SimulatedHttp();
        Cluster = new Cluster(kvAddrs, Log, Sim, Http);
        if (record)
        {
            Recorder = new Recorder(Sim, kvAddrs.Count, ViewOf, a => a is AppendEntriesArgs { Entries.Length: 0 },
                r => r switch { RequestVoteReply v => v.VoteGranted, AppendEntriesReply a => a.Success, _ => null });
            Log.Recorder = Recorder;
            Cluster.Network.Recorder = Recorder;
            Cluster.Relinked = Recorder.Links;
        }
        _scenarios = new Scenarios(Cluster, Log, scenarioPause, stepHook);
    }

    /// <summary>The seed every random choice of the run follows from.</summary>
    public int Seed { get; }

    public Simulation Sim { get; }

    /// <summary>The run's pace: speed, pause, steps.</summary>
    public Pacer Pacer { get; }

    public Cluster Cluster { get; }

    public LiveLog Log { get; }

    public SimulatedHttp Http { get; }

    /// <summary>
    /// The recording, in a run made to be downloaded. A live run keeps none (an idle cluster
    /// records some 75 KB a second): its recording is made when asked for, by running its seed and
    /// inputs again (see <see cref="Playground"/>'s GET /api/recording).
    /// </summary>
    public Recorder? Recorder { get; }

    /// <summary>The scenario running or last run; read it on the simulation's thread.</summary>
    internal ScenarioView? Scenario => _scenarios.Current;

    /// <summary>The inputs so far.</summary>
    public IReadOnlyList<PlaygroundInput> Inputs
    {
        get
        {
            lock (_mu)
            {
                return [.. _inputs];
            }
        }
    }

    /// <summary>
    /// Starts a run of <paramref name="seed"/>: builds the cluster at time 0, gives it
    /// <paramref name="replay"/>'s inputs at their moments, and returns once it has done everything
    /// due by <paramref name="upTo"/> (at full speed), paused there, if given; else at once,
    /// running at <paramref name="speed"/> or paused at 0.
    /// </summary>
    public static async Task<ClusterRun> StartAsync(int seed, IReadOnlyList<string> kvAddrs, double speed, bool paused,
        IReadOnlyList<PlaygroundInput>? replay = null, TimeSpan? upTo = null, TimeSpan? scenarioPause = null, Func<ScenarioView, Task>? stepHook = null, bool record = false)
    {
        var pacer = new Pacer(speed, paused || upTo is not null);
        var run = new ClusterRun(seed, kvAddrs, pacer, scenarioPause ?? Scenarios.DefaultPause, stepHook, record);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        run.Sim.Enqueue(() => _ = run.BuildAsync(started));
        foreach (PlaygroundInput input in replay ?? [])
        {
            if (upTo is null || input.AtTicks <= upTo.Value.Ticks)
            {
                run.Sim.ScheduleInput(TimeSpan.FromTicks(input.AtTicks), () => _ = run.ApplyAsync(input with { }, TimeSpan.FromTicks(input.AtTicks)));
            }
        }
        run.Sim.Start();
        await started.Task;
        if (upTo is { } at)
        {
            pacer.StepTo(at);
            await pacer.WhenReachedAsync(at);
        }
        return run;
    }

    /// <summary>Builds and starts the cluster, on the simulation's thread.</summary>
    private async Task BuildAsync(TaskCompletionSource started)
    {
        try
        {
            await Cluster.StartAsync();
            started.TrySetResult();
        }
        catch (Exception e)
        {
            started.TrySetException(e);
        }
    }

    /// <summary>Runs <paramref name="read"/> on the simulation's thread; it must not change the run.</summary>
    public Task<T> ReadAsync<T>(Func<T> read)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_stopped)
        {
            done.SetException(Replaced());
            return done.Task;
        }
        Sim.Enqueue(() =>
        {
            try
            {
                done.TrySetResult(read());
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        });
        return done.Task;
    }

    /// <summary>Writes the playground's own line ("[TEST] Clock paused") on the simulation's thread; not an input.</summary>
    public void Note(string text) => Sim.Enqueue(() => Log.Write(text));

    /// <summary>
    /// Gives the run <paramref name="input"/> at the pacer's moment now, and returns what it
    /// answered (a message, a <see cref="KvAnswer"/>, an <see cref="HttpAnswer"/>), or throws its
    /// refusal (a <see cref="PlaygroundException"/>).
    /// </summary>
    public async Task<object?> InputAsync(PlaygroundInput input)
    {
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_mu)
        {
            if (_stopped)
            {
                throw Replaced();
            }
            _waiting.Add(done);
        }
        Sim.Input(at => _ = RunInputAsync(input, at, done));
        try
        {
            return await done.Task;
        }
        finally
        {
            lock (_mu)
            {
                _waiting.Remove(done);
            }
        }
    }

    private async Task RunInputAsync(PlaygroundInput input, TimeSpan at, TaskCompletionSource<object?> done)
    {
        try
        {
            done.TrySetResult(await ApplyAsync(input, at));
        }
        catch (Exception e)
        {
            done.TrySetException(e);
        }
    }

    /// <summary>Records <paramref name="input"/> at <paramref name="at"/> and carries it out, on the simulation's thread.</summary>
    private async Task<object?> ApplyAsync(PlaygroundInput input, TimeSpan at)
    {
        input = input with { AtTicks = at.Ticks };
        lock (_mu)
        {
            _inputs.Add(input);
        }
        int id = input.Server ?? -1;
        switch (input.Kind)
        {
            case "crash": return await Cluster.CrashAsync(id);
            case "restart": return await Cluster.RestartAsync(id);
            case "disconnect": return await Cluster.DisconnectAsync(id);
            case "reconnect": return await Cluster.ReconnectAsync(id);
            case "timeout": return await Cluster.TimeoutNowAsync(id);
            case "partition": return await Cluster.PartitionAsync(input.Groups ?? []);
            case "heal": return await Cluster.HealAsync();
            case "network": return await Cluster.SetNetworkAsync(input.Unreliable == true);
            case "drop":
                if (!Cluster.Messages.Drop(input.Message ?? -1))
                {
                    throw new PlaygroundException(StatusCodes.Status409Conflict, $"message {input.Message} is not on its way any more: it has ended (or never was)");
                }
                Log.Write($"Drop message #{input.Message}");
                return $"message {input.Message} dropped";
            case "kv": return await KvConsole.RunAsync(Cluster, Log, input);
            case "http": return await ForwardAsync(id, input.Method ?? "POST", input.Path ?? "/", input.Body ?? "");
            case "scenario": return _scenarios.Start(input.Op ?? "");
            case "scenario-stop": return await _scenarios.StopRunningAsync();
            default: throw new PlaygroundException(StatusCodes.Status400BadRequest, $"no input '{input.Kind}'");
        }
    }

    /// <summary>A client's POST to service <paramref name="id"/>, through the simulated HTTP, answered as the service answered.</summary>
    private async Task<HttpAnswer> ForwardAsync(int id, string method, string path, string body)
    {
        if (id < 0 || id >= Cluster.Size)
        {
            throw new PlaygroundException(StatusCodes.Status404NotFound, $"no server {id}");
        }
        // One client for every forwarded request of the run (made on the simulation's thread, as all of it is).
        HttpClient http = _forwarder ??= new HttpClient(Http.Handler(), disposeHandler: true);
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri($"http://{Cluster.KvAddrs[id]}{path}"))
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        // A crashed service is not listening: the client's connection fails, as a socket's would.
        using HttpResponseMessage resp = await http.SendAsync(request);
        byte[] bytes = await resp.Content.ReadAsByteArrayAsync();
        return new HttpAnswer((int)resp.StatusCode, resp.Content.Headers.ContentType?.ToString() ?? "application/json", bytes);
    }

    /// <summary>The whole run so far in the recording format, with its inputs, as JSON; for a run made with a recorder.</summary>
    public Task<string> RecordingAsync() => ReadAsync(() => Recorder!.ToJson("RaftPlayground", w =>
    {
        w.WriteString("source", "RaftPlayground");
        w.WriteNumber("speed", Pacer.Speed);
        w.WritePropertyName("inputs");
        System.Text.Json.JsonSerializer.Serialize(w, Inputs, Playground.InputJson);
    }));

    /// <summary>Stops the run where it stands: the simulation ends, and whoever waits for an answer is told the run was replaced.</summary>
    public void Stop()
    {
        TaskCompletionSource<object?>[] waiting;
        lock (_mu)
        {
            _stopped = true;
            waiting = [.. _waiting];
        }
        Log.Close();
        Sim.Stop();
        foreach (var w in waiting)
        {
            w.TrySetException(Replaced());
        }
    }

    /// <summary>Shuts every service down inside the simulation (bounded in time), then stops it.</summary>
    public async Task ShutdownAsync()
    {
        if (_stopped)
        {
            return;
        }
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Sim.Enqueue(() => _ = ShutdownInsideAsync(done));
        await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromSeconds(2)));
        Stop();
    }

    private async Task ShutdownInsideAsync(TaskCompletionSource done)
    {
        try
        {
            await _scenarios.StopAsync();
            await Cluster.ShutdownAsync();
        }
        finally
        {
            _forwarder?.Dispose();
            done.TrySetResult();
        }
    }

    private static PlaygroundException Replaced() =>
        new(StatusCodes.Status503ServiceUnavailable, "the cluster was replaced (a fork or a new cluster) or stopped before it answered");

    /// <summary>What the recording keeps of server <paramref name="id"/> now.</summary>
    private Lab.ServerView? ViewOf(int id) => Cluster.RecordedView(id);
}
