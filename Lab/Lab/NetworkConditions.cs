// How unreliable the simulated network is, and the presets tests and tools pick from.
namespace Lab;

/// <summary>
/// How the network into one server treats calls: what share is lost before the server sees them,
/// what share of replies is lost after it acted, how long calls are delayed, and what share is
/// held so long that later calls overtake it. Immutable: build one with <c>with</c> and hand it
/// to <see cref="Network.SetConditions"/>.
/// </summary>
public sealed record NetworkConditions
{
    /// <summary>The chance (0 to 1) that a call is lost before the server sees it.</summary>
    public double RequestLoss { get; init => field = Chance(value); }

    /// <summary>The chance (0 to 1) that the reply is lost after the server acted on the call.</summary>
    public double ReplyLoss { get; init => field = Chance(value); }

    /// <summary>The shortest delay of a call that is neither lost nor held.</summary>
    public TimeSpan MinDelay { get; init => field = Duration(value); }

    /// <summary>The longest delay of a call that is neither lost nor held.</summary>
    public TimeSpan MaxDelay { get; init => field = Duration(value); }

    /// <summary>The chance (0 to 1) that a call is held for a long delay, so later calls overtake it.</summary>
    public double LongDelayChance { get; init => field = Chance(value); }

    /// <summary>The shortest long delay.</summary>
    public TimeSpan LongDelayMin { get; init => field = Duration(value); }

    /// <summary>The longest long delay.</summary>
    public TimeSpan LongDelayMax { get; init => field = Duration(value); }

    /// <summary>The shortest delay of a reply on its way back; replies take no time unless <see cref="ReplyMaxDelay"/> is set.</summary>
    public TimeSpan ReplyMinDelay { get; init => field = Duration(value); }

    /// <summary>The longest delay of a reply on its way back (not held, not lost); zero, the default, delivers replies at once, as upstream's RPC does.</summary>
    public TimeSpan ReplyMaxDelay { get; init => field = Duration(value); }

    /// <summary>
    /// Where a long delay falls: false (the default) holds the call before the server sees it;
    /// true holds the reply after the server acted on the call, as MIT's labrpc reorders, so the
    /// server hears of the call on time while its sender learns the outcome late.
    /// </summary>
    public bool LongDelayOnReply { get; init; }

    /// <summary>Upstream's normal network: every call is delayed by 1-5 ms, none is lost.</summary>
    public static NetworkConditions Reliable { get; } = new()
    {
        MinDelay = TimeSpan.FromMilliseconds(1),
        MaxDelay = TimeSpan.FromMilliseconds(5),
    };

    /// <summary>
    /// <see cref="Reliable"/> both ways: replies travel back 1-5 ms too, so a watcher sees them on
    /// the link (RaftPlayground; upstream's replies take no time of their own).
    /// </summary>
    public static NetworkConditions ReliableBothWays { get; } = Reliable with
    {
        ReplyMinDelay = TimeSpan.FromMilliseconds(1),
        ReplyMaxDelay = TimeSpan.FromMilliseconds(5),
    };

    /// <summary>Upstream's RAFT_UNRELIABLE_RPC: one call in ten lost, one in ten delayed by 75 ms, the rest at once.</summary>
    public static NetworkConditions Unreliable { get; } = new()
    {
        RequestLoss = 0.1,
        LongDelayChance = 0.1,
        LongDelayMin = TimeSpan.FromMilliseconds(75),
        LongDelayMax = TimeSpan.FromMilliseconds(75),
    };

    /// <summary>
    /// Much harsher, after the figures of MIT 6.824's Raft lab: 10% of calls and 10% of replies
    /// lost, 0-27 ms of delay, and one call in ten held 200-2200 ms, which reorders messages.
    /// </summary>
    public static NetworkConditions Harsh { get; } = new()
    {
        RequestLoss = 0.1,
        ReplyLoss = 0.1,
        MinDelay = TimeSpan.Zero,
        MaxDelay = TimeSpan.FromMilliseconds(27),
        LongDelayChance = 0.1,
        LongDelayMin = TimeSpan.FromMilliseconds(200),
        LongDelayMax = TimeSpan.FromMilliseconds(2200),
    };

    /// <summary>No delay and no loss: what the code itself costs (Tools/RaftBench).</summary>
    public static NetworkConditions Instant { get; } = new();

    /// <summary><see cref="Unreliable"/> if RAFT_UNRELIABLE_RPC is set, as upstream reads it; otherwise <see cref="Reliable"/>.</summary>
    public static NetworkConditions FromEnvironment() =>
        string.IsNullOrEmpty(Environment.GetEnvironmentVariable("RAFT_UNRELIABLE_RPC")) ? Reliable : Unreliable;

    private static double Chance(double p) =>
        p is >= 0 and <= 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), p, "a chance must be between 0 and 1");

    private static TimeSpan Duration(TimeSpan t) =>
        t >= TimeSpan.Zero && t <= TimeSpan.FromMinutes(1)
            ? t
            : throw new ArgumentOutOfRangeException(nameof(t), t, "a delay must be between 0 and 1 minute");
}
