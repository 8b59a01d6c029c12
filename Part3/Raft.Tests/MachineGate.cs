// A gate that every test process of this repository on the machine goes through, so that suites run
// side by side (dotnet test Raft.sln runs two or more at once) never pile heavy work on a KV cluster.
// The same file, with only its namespace changed, is in the tests of every part and in
// Tools/TestLogViz.Tests: the copies must agree on the folder and on what its files mean.
using System.Diagnostics;

namespace Raft;

/// <summary>What a test does while it holds a pass; see <see cref="MachineGate"/>.</summary>
public enum GateRole
{
    /// <summary>Runs a KV cluster whose clients count on a commit inside their attempt.</summary>
    Cluster,

    /// <summary>Loads the machine for seconds: a browser, a child build or test run, a benchmark.</summary>
    Heavy,

    /// <summary>
    /// Runs clusters whose timers must keep time, but whose tests wait for what they mean rather than
    /// racing a client's attempt: a whole run of Part1-3's tests, or of the playground's. Runs beside
    /// heavy and other light work, never beside a KV cluster, whose commits its clusters would slow.
    /// </summary>
    Light,
}

/// <summary>
/// A machine-wide gate between KV clusters and everything else. At most <see cref="ClusterCapacity"/>
/// KV clusters hold a pass at once, across every process, and never while heavy or light work holds
/// one; heavy and light work run beside each other, but never beside a KV cluster. On 2 cores a
/// browser, a child `dotnet test` or another suite's clusters beside a KV cluster can stall its
/// heartbeats and commits past the client's attempt: a late heartbeat hands leadership on under a
/// test that has just found the leader, and a resend is answered DuplicateRequest.
/// </summary>
/// <remarks>
/// A pass is a file in <see cref="Folder"/>, named for its role and held open with an exclusive lock
/// until the pass is disposed. A pass whose file is no longer locked belongs to a process that ended
/// without disposing it (killed, crashed), and the next admission deletes it. Admissions take turns
/// through a lock on <c>.admit</c>, so two of them never both count the holders and both go in;
/// a release needs no turn, as a pass that goes away can only make room.
/// </remarks>
public static class MachineGate
{
    /// <summary>How many KV clusters may run at once on the whole machine.</summary>
    public const int ClusterCapacity = 4;

    /// <summary>The folder of passes, one per user, as another user's files could not be locked.</summary>
    public static readonly string Folder = Path.Combine(Path.GetTempPath(), "raft-for-csharp-gate-" + Environment.UserName);

    /// <summary>How often a waiting test looks again.</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    /// <summary>A pass that cannot be had in this long means something holds one for good; say who.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Waits until <paramref name="role"/> may go in, then holds a pass until it is disposed. A
    /// cluster's <paramref name="weight"/> is how many of the <see cref="ClusterCapacity"/> places it
    /// takes: all of them for a test that must time a cluster with no other beside it.
    /// </summary>
    public static Task<Pass> EnterAsync(GateRole role, int weight = 1, CancellationToken cancellationToken = default) =>
        EnterAsync(Folder, role, weight, cancellationToken);

    /// <summary><see cref="EnterAsync(GateRole, int, CancellationToken)"/> at a gate of its own, for the gate's tests.</summary>
    internal static async Task<Pass> EnterAsync(string folder, GateRole role, int weight, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(weight, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(weight, ClusterCapacity);
        var waited = Stopwatch.StartNew();
        while (true)
        {
            FileStream? pass = TryAdmit(folder, role, weight, out string holders);
            if (pass is not null)
            {
                return new Pass(pass, waited.Elapsed);
            }
            if (waited.Elapsed > Patience)
            {
                throw new TimeoutException($"no {role} pass at the machine gate ({folder}) in {Patience.TotalMinutes} minutes; held: {holders}");
            }
            await Task.Delay(Poll, cancellationToken);
        }
    }

    /// <summary>One admission: a held pass if <paramref name="role"/> may go in now, else null.</summary>
    private static FileStream? TryAdmit(string folder, GateRole role, int weight, out string holders)
    {
        holders = "(the admission lock was busy)";
        Directory.CreateDirectory(folder);
        FileStream? turn = TryLock(Path.Combine(folder, ".admit"), FileMode.OpenOrCreate, FileOptions.None);
        if (turn is null)
        {
            return null;
        }
        using (turn)
        {
            int clusters = 0, others = 0;
            // A pass is named PID-GUID.ROLE.WEIGHT.pass.
            foreach (string file in Directory.EnumerateFiles(folder, "*.pass"))
            {
                string[] parts = Path.GetFileName(file).Split('.');
                if (parts.Length != 4 || !int.TryParse(parts[2], out int w) || !IsHeld(file))
                {
                    continue;
                }
                if (parts[1] == nameof(GateRole.Cluster))
                {
                    clusters += w;
                }
                else
                {
                    others += w; // heavy or light: to a cluster they are the same
                }
            }
            holders = $"{clusters} of {ClusterCapacity} cluster places, {others} heavy or light";
            bool admitted = role == GateRole.Cluster ? others == 0 && clusters + weight <= ClusterCapacity : clusters == 0;
            if (!admitted)
            {
                return null;
            }
            string name = $"{Environment.ProcessId}-{Guid.NewGuid():N}.{role}.{weight}.pass";
            return TryLock(Path.Combine(folder, name), FileMode.CreateNew, FileOptions.DeleteOnClose)
                ?? throw new IOException($"could not lock the new pass {name}");
        }
    }

    /// <summary>
    /// Whether a pass is still held. One that can be locked is a dead process's: it is deleted.
    /// </summary>
    private static bool IsHeld(string file)
    {
        FileStream? stale;
        try
        {
            stale = TryLock(file, FileMode.Open, FileOptions.DeleteOnClose);
        }
        catch (FileNotFoundException)
        {
            return false; // released while we looked
        }
        if (stale is null)
        {
            return true;
        }
        stale.Dispose();
        return false;
    }

    /// <summary>Opens <paramref name="path"/> with an exclusive lock, or null if another open file holds it.</summary>
    private static FileStream? TryLock(string path, FileMode mode, FileOptions options)
    {
        try
        {
            return new FileStream(path, mode, FileAccess.ReadWrite, FileShare.None, bufferSize: 1, options);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            return null; // locked by another open file (or, for CreateNew, there already)
        }
    }

    /// <summary>A held place at the gate; disposing it lets the next one in.</summary>
    public sealed class Pass(FileStream file, TimeSpan waited) : IDisposable
    {
        /// <summary>How long the holder waited for it.</summary>
        public TimeSpan Waited { get; } = waited;

        public void Dispose() => file.Dispose();
    }
}
