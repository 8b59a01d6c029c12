// How to start a playground: what the command line sets, and what the tests set instead.
using System.Net;

namespace RaftPlayground;

/// <summary>How to start a playground.</summary>
public sealed record PlaygroundOptions
{
    /// <summary>How many servers: 3 or 5.</summary>
    public int Servers { get; init; } = 5;

    /// <summary>The page's port; 0 for a free one.</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Service i's KV API listens on KvPortBase+i, as upstream's 14200+i; 0 for free ports.</summary>
    public int KvPortBase { get; init; } = 14200;

    /// <summary>Each service's KV port, when given: overrides <see cref="KvPortBase"/> (tests restart on the ports they were given).</summary>
    public IReadOnlyList<int>? KvPorts { get; init; }

    /// <summary>The address the page listens on: loopback, unless asked otherwise.</summary>
    public string Bind { get; init; } = "127.0.0.1";

    /// <summary>Whether clients on other machines may only watch: the controls and the KV console answer only this machine's.</summary>
    public bool WatchOnly { get; init; }

    /// <summary>The first run's seed; null for a new one each start.</summary>
    public int? Seed { get; init; }

    /// <summary>Whether the cluster starts paused at time 0, before its first election.</summary>
    public bool StartPaused { get; init; }

    /// <summary>The cluster's first speed: cluster time per real time.</summary>
    public double Speed { get; init; } = 1;

    /// <summary>A recording to play again (its seed, servers and inputs), from --replay.</summary>
    public ReplayFile? Replay { get; init; }

    /// <summary>How long a scenario pauses after each step (cluster time), for the learner to see it; tests make it short.</summary>
    internal TimeSpan ScenarioPause { get; init; } = Scenarios.DefaultPause;

    /// <summary>For tests: called at the end of each scenario step, before its pause, so a test can look at the cluster exactly there.</summary>
    internal Func<ScenarioView, Task>? ScenarioStepHook { get; init; }

    /// <summary>For tests: every client counts as another machine's, so watch-only can be tried from loopback.</summary>
    internal bool EveryClientIsRemote { get; init; }

    /// <summary>
    /// What to tell whoever starts a playground on an address other machines can reach: null on
    /// loopback, where only this machine's programs can.
    /// </summary>
    internal string? BindWarning() =>
        IPAddress.IsLoopback(IPAddress.Parse(Bind)) ? null
        : WatchOnly ? $"warning: listening on {Bind}: anyone who can reach it can watch the cluster; only this machine can crash servers or write keys (--watch-only)"
        : $"warning: listening on {Bind}: anyone who can reach it can crash servers and write keys; add --watch-only to let other machines only watch";

    internal IReadOnlyList<int> KvPortList =>
        KvPorts ?? [.. Enumerable.Range(0, Servers).Select(i => KvPortBase == 0 ? 0 : KvPortBase + i)];
}
