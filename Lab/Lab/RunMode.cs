// How a test run is timed: simulated from a seed (the default), or on the system clock.
using System.Globalization;

namespace Lab;

/// <summary>
/// The switches a harness reads. By default a run is simulated, from a fresh seed that its log
/// names; RAFT_SEED=N replays seed N; RAFT_REAL_TIME=1 runs on the system clock and the thread
/// pool instead, as the code runs for real (and then nothing can be replayed).
/// </summary>
public static class RunMode
{
    /// <summary>The seed a tool chose for the runs of the current async flow (TestLogViz's repeat sets one per run).</summary>
    private static readonly AsyncLocal<int?> ChosenSeed = new();

    /// <summary>Whether a tool asked the current async flow's runs to be recorded (TestLogViz's repeat does, per run).</summary>
    private static readonly AsyncLocal<bool?> ChosenRecording = new();

    /// <summary>
    /// Whether a simulated run is recorded for TestLogViz's player (see <see cref="Recorder"/>):
    /// when a tool asked for it on this flow, else when RAFT_RECORD is set (and not 0 or false).
    /// Off by default, when a run records nothing and pays nothing for it.
    /// </summary>
    public static bool Recording => ChosenRecording.Value ?? RecordSwitch ?? false;

    /// <summary>RAFT_RECORD as set: on or off, or null when it is not set (a tool then picks its own default).</summary>
    public static bool? RecordSwitch => Switch("RAFT_RECORD");

    /// <summary>Whether RAFT_REAL_TIME asks for the system clock (set, and not 0 or false).</summary>
    public static bool RealTime => Switch("RAFT_REAL_TIME") ?? false;

    /// <summary>A switch variable: null when unset or empty, off when 0 or false, on otherwise.</summary>
    private static bool? Switch(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v != "0" && !v.Equals("false", StringComparison.OrdinalIgnoreCase) : null;

    /// <summary>
    /// The seed for the next simulated run: the one a tool chose for this flow, else RAFT_SEED,
    /// else a fresh one.
    /// </summary>
    /// <exception cref="InvalidOperationException">RAFT_SEED is not a whole number, or is set for a real-time run.</exception>
    public static int NextSeed()
    {
        if (ChosenSeed.Value is { } chosen)
        {
            return chosen;
        }
        if (Environment.GetEnvironmentVariable("RAFT_SEED") is not { Length: > 0 } text)
        {
            return Random.Shared.Next();
        }
        if (RealTime)
        {
            throw new InvalidOperationException("RAFT_SEED replays a simulated run; it means nothing with RAFT_REAL_TIME set");
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int seed)
            ? seed
            : throw new InvalidOperationException($"RAFT_SEED must be a whole number from 0 to {int.MaxValue}, not '{text}'");
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a new simulation from <see cref="NextSeed"/>, or with
    /// RAFT_REAL_TIME as it is (then it gets no simulation): for a test that builds a server of its
    /// own rather than a harness's cluster.
    /// </summary>
    public static Task RunAsync(Func<Simulation?, Task> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return RealTime ? body(null) : Simulation.RunAsync(NextSeed(), async sim =>
        {
            await body(sim);
            return true;
        });
    }

    /// <summary>Makes <paramref name="seed"/> the seed of every run started on the current async flow from now on.</summary>
    public static void UseSeed(int? seed) => ChosenSeed.Value = seed;

    /// <summary>Makes every run started on the current async flow from now on recorded, or not (null: as RAFT_RECORD says).</summary>
    public static void UseRecording(bool? record) => ChosenRecording.Value = record;
}
