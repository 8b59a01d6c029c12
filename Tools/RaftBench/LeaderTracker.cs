// Following the leader through a scenario: who leads now, and what it must be given again.
namespace RaftBench;

/// <summary>
/// The leader a scenario submits to. When a new leader appears (one of a higher term), commands
/// the old one accepted may be lost: a deposed leader's uncommitted entries are overwritten by the
/// new leader's log, and nobody resubmits them, so waiting for them would end in a false stall.
/// <see cref="Follow"/> gives the new leader every command it has not delivered yet. A command that
/// was not lost after all is then delivered twice; the cluster counts each command once.
/// </summary>
internal sealed class LeaderTracker
{
    private readonly BenchCluster _cluster;

    /// <summary>A server cut off on purpose (<see cref="DisconnectLeader"/>), to reconnect once another leads.</summary>
    private int? _disconnected;

    private LeaderTracker(BenchCluster cluster, (int Id, int Term) leader)
    {
        _cluster = cluster;
        Leader = leader;
    }

    /// <summary>The leader followed now: its id and the term it leads in.</summary>
    public (int Id, int Term) Leader { get; private set; }

    /// <summary>How many times a new leader took over (a new server, or the same one in a new term).</summary>
    public int Changes { get; private set; }

    /// <summary>How many commands were submitted again, to a new leader.</summary>
    public int Resubmitted { get; private set; }

    /// <summary>Waits for the first leader of a fresh cluster and starts following it.</summary>
    public static async Task<LeaderTracker> StartAsync(BenchCluster cluster, TimeSpan limit) =>
        new(cluster, await WaitForLeaderAsync(cluster, -1, limit));

    /// <summary>
    /// Cuts the current leader off from the others: the fault a scenario can inject to show (and
    /// test) that it survives a leader change. The leader keeps accepting commands it can never
    /// commit; it is reconnected as soon as the others have elected a new leader.
    /// </summary>
    public void DisconnectLeader()
    {
        _cluster.Disconnect(Leader.Id);
        _disconnected = Leader.Id;
    }

    /// <summary>
    /// Checks for a new leader and, if there is one, follows it and resubmits to it each of
    /// commands 1..<paramref name="submitted"/> it has not delivered. Returns whether it changed.
    /// </summary>
    public bool Follow(int submitted)
    {
        if (_cluster.CurrentLeader() is not { } now || now.Term <= Leader.Term)
        {
            return false;
        }
        TakeOver(now, submitted);
        return true;
    }

    /// <summary>
    /// The leader refused a command: waits until a new leader is elected, then follows it as
    /// <see cref="Follow"/> does.
    /// </summary>
    public async Task NextLeaderAsync(int submitted, TimeSpan limit) =>
        TakeOver(await WaitForLeaderAsync(_cluster, Leader.Term, limit), submitted);

    private void TakeOver((int Id, int Term) leader, int submitted)
    {
        Leader = leader;
        Changes++;
        if (_disconnected is { } old && old != leader.Id)
        {
            _cluster.Reconnect(old);
            _disconnected = null;
        }
        // "Not delivered by the new leader" rather than "delivered by nobody": a new leader commits
        // entries of earlier terms only once an entry of its own term commits (Figure 8 of the
        // paper), so without something new to replicate, even a command that is safe could wait forever.
        for (int c = 1; c <= submitted; c++)
        {
            if (!_cluster.HasDelivered(leader.Id, c))
            {
                if (_cluster.Submit(leader.Id, c) < 0)
                {
                    // Deposed already: the next call to Follow takes it from there.
                    return;
                }
                Resubmitted++;
            }
        }
    }

    /// <summary>Waits for a leader of a term above <paramref name="afterTerm"/>; polls every millisecond.</summary>
    private static async Task<(int Id, int Term)> WaitForLeaderAsync(BenchCluster cluster, int afterTerm, TimeSpan limit)
    {
        long start = TimeProvider.System.GetTimestamp();
        while (true)
        {
            if (cluster.CurrentLeader() is { } leader && leader.Term > afterTerm)
            {
                return leader;
            }
            if (TimeProvider.System.GetElapsedTime(start) > limit)
            {
                throw new StallException($"no new leader within {limit.TotalSeconds} s", cluster.Describe());
            }
            await Task.Delay(1);
        }
    }
}
