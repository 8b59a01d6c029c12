// What the page is shown of the cluster: a card per server, each server's log, each link.
namespace RaftPlayground;

/// <summary>What a server's card shows.</summary>
/// <param name="Id">The server's id (also its KV service's).</param>
/// <param name="Role">Follower, Candidate, Leader or Dead (always Dead while crashed): TestLogViz's state names, which pick the card's colour.</param>
/// <param name="Term">Its current term.</param>
/// <param name="VotedFor">Whom it voted for in that term; -1 for nobody.</param>
/// <param name="LogLength">How many entries its log holds.</param>
/// <param name="CommitIndex">The last entry it knows is committed; -1 for none.</param>
/// <param name="LastApplied">The last entry it has handed to its service; -1 for none.</param>
/// <param name="Status">connected, disconnected or crashed.</param>
/// <param name="KvAddr">"127.0.0.1:port" of its KV HTTP API.</param>
/// <param name="Data">Its data store's pairs, by key; null while crashed (the store lived in memory).</param>
/// <param name="NextIndex">For a leader, by peer id: the next log index it will send that peer (null for itself); null for any other role.</param>
/// <param name="MatchIndex">For a leader, by peer id: the highest log index it knows that peer holds, -1 for none yet (null for itself); null for any other role.</param>
/// <param name="TimerMs">A follower's or candidate's election countdown: cluster milliseconds since it last restarted (at most <paramref name="TimeoutMs"/>); null for a leader or a crashed server.</param>
/// <param name="TimeoutMs">The random timeout of that countdown.</param>
public sealed record ServerView(
    int Id, string Role, int Term, int VotedFor, int LogLength, int CommitIndex, int LastApplied,
    string Status, string KvAddr, IReadOnlyDictionary<string, string>? Data,
    IReadOnlyList<int?>? NextIndex = null, IReadOnlyList<int?>? MatchIndex = null, double? TimerMs = null, double? TimeoutMs = null);

/// <summary>The cluster's clock as the page shows it: cluster time, its speed, whether it is paused.</summary>
/// <param name="TimeMs">Cluster milliseconds since the run started: the moment this state is of.</param>
/// <param name="Speed">Cluster time per real time, 1 down to 1/200.</param>
/// <param name="Seed">The run's seed: the same seed and inputs give the same run.</param>
/// <param name="Run">The run's number, 1 for the first: a fork or a new cluster makes a new one.</param>
/// <param name="EndMs">How far the run has got: the same as <paramref name="TimeMs"/> but for a state of the past (GET /api/state?atMs=).</param>
public sealed record ClockView(double TimeMs, double Speed, bool Paused, int Seed = 0, int Run = 0, double EndMs = 0);

/// <summary>The link between servers <paramref name="A"/> and <paramref name="B"/> (A &lt; B), both ways: up, cut (by a partition) or down (a server at either end is disconnected or crashed).</summary>
public sealed record LinkView(int A, int B, string State);

/// <summary>
/// A server's log from index <paramref name="From"/> to its end, as the terms of its entries,
/// run-length coded: [term, count, term, count, ...]. A log of 1,000 entries from three terms
/// is six numbers.
/// </summary>
public sealed record LogView(int Id, int From, IReadOnlyList<int> Runs)
{
    /// <summary>The runs of <paramref name="terms"/>.</summary>
    public static IReadOnlyList<int> RunsOf(ReadOnlySpan<int> terms)
    {
        var runs = new List<int>();
        for (int k = 0; k < terms.Length;)
        {
            int term = terms[k], start = k;
            while (k < terms.Length && terms[k] == term)
            {
                k++;
            }
            runs.Add(term);
            runs.Add(k - start);
        }
        return runs;
    }
}

/// <summary>
/// One server as read at one moment: its card, the module it was read from (a restart makes a
/// new one), and its log's terms from index <paramref name="LogFrom"/> on.
/// </summary>
public sealed record ServerReading(ServerView Card, object Module, int LogFrom, int[] Terms);
