// What each scenario reports: Program prints these and writes them as JSON, the tests check them.
namespace RaftBench;

/// <summary>A burst of N commands: how long until every server delivered all of them.</summary>
/// <param name="Delivered">Per server, how many of the N different commands it delivered.</param>
/// <param name="LeaderChanges">How many times a new leader took over during the burst.</param>
/// <param name="Resubmitted">Commands submitted again to a new leader, as a client would.</param>
public sealed record BurstResult(
    int N,
    double Seconds,
    double CommandsPerSecond,
    double SubmitSeconds,
    int[] Delivered,
    int LeaderChanges,
    int Resubmitted,
    long StorageWrites,
    long StorageBytes);

/// <summary>
/// Submit-to-delivery times on the leader, one command at a time, in milliseconds. A command that
/// met a leader change is timed from its first Submit to its delivery by the new leader.
/// </summary>
public sealed record LatencyResult(int Count, double P50, double P90, double P99, double Max, int LeaderChanges, int Resubmitted);

/// <summary>Time from the ready signal to a single leader, over fresh clusters, in milliseconds.</summary>
public sealed record ElectionResult(int Clusters, double P50, double Max);

/// <summary>
/// One operation run by <see cref="Clients"/> clients at once for <see cref="Seconds"/>.
/// Latencies are in milliseconds, from the client call to its answer, resends included.
/// </summary>
/// <param name="Op">put, get, or echo (KvClient against a stub that answers at once: HTTP and JSON alone).</param>
/// <param name="Ops">Calls that succeeded within the run.</param>
/// <param name="Errors">Calls that failed: a KvException, or no answer within the per-call limit.</param>
/// <param name="PerSecond">Successful calls completed in each second of the run.</param>
/// <param name="StorageWrites">Writes to the three services' storage during the run.</param>
/// <param name="StorageBytes">Bytes written to the three services' storage during the run.</param>
/// <param name="LargestWriteBytes">The largest single write during the run: the whole state as it was then.</param>
/// <param name="Elections">
/// Elections begun during the run (how many terms the cluster moved on by): on a loaded machine a
/// follower may miss heartbeats and stand, and a call whose commit the deposed leader then loses is
/// an error (upstream's "commit failed; please retry").
/// </param>
public sealed record KvResult(
    string Op,
    int Clients,
    double Seconds,
    long Ops,
    double OpsPerSecond,
    long Errors,
    double P50,
    double P90,
    double P99,
    double Max,
    long[] PerSecond,
    long StorageWrites,
    long StorageBytes,
    long LargestWriteBytes,
    int Elections);
