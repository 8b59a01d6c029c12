// Works out each server's Raft state at every line of a test's log, from the lines the servers
// write when their state changes ("becomes Leader; term=1" and the like).
using System.Globalization;
using System.Text.RegularExpressions;

namespace TestLogViz;

/// <summary>A server's role, as the consensus module logs it.</summary>
public enum ServerState
{
    Follower,
    Candidate,
    Leader,
    Dead,
}

/// <summary>A stretch of rows during which one server kept one state.</summary>
/// <param name="Server">Which server (its column's id).</param>
/// <param name="State">The state it was in.</param>
/// <param name="Term">The term the state began in, when the line said (Dead does not).</param>
/// <param name="FirstRow">The row (index in the log's lines) of the line that began it.</param>
/// <param name="LastRow">The last row before the next change, or the log's last row.</param>
public sealed record StateSpan(string Server, ServerState State, int? Term, int FirstRow, int LastRow);

/// <summary>The states of all servers, row by row, and the spans a state ribbon draws.</summary>
public sealed partial class ServerStates
{
    /// <summary>States[row][column]: the state of server ServerIds[column] when the row was logged.</summary>
    public IReadOnlyList<ServerState[]> States { get; }

    /// <summary>For each row, whether its line is the one that changed its server's state.</summary>
    public IReadOnlyList<bool> IsChange { get; }

    /// <summary>Each server's spans, in order; together they cover every row.</summary>
    public IReadOnlyDictionary<string, List<StateSpan>> Spans { get; }

    /// <summary>Replays the log. Every server starts as a follower, as a new consensus module does.</summary>
    public ServerStates(ParsedLog log)
    {
        var servers = log.ServerIds;
        var column = servers.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        var now = new ServerState[servers.Count];
        var states = new List<ServerState[]>(log.Lines.Count);
        var isChange = new List<bool>(log.Lines.Count);
        var spans = servers.ToDictionary(id => id, id => new List<StateSpan> { new(id, ServerState.Follower, null, 0, 0) });

        for (int row = 0; row < log.Lines.Count; row++)
        {
            var entry = log.Lines[row];
            bool changed = false;
            if (column.TryGetValue(entry.Id, out int col) && StateAfter(entry.Message) is { } state)
            {
                // The line that announces a state is drawn in that state, as upstream does.
                now[col] = state;
                changed = true;
                var own = spans[entry.Id];
                own[^1] = own[^1] with { LastRow = row - 1 };
                own.Add(new StateSpan(entry.Id, state, TermIn(entry.Message), row, row));
            }
            states.Add((ServerState[])now.Clone());
            isChange.Add(changed);
        }

        // Close every server's last span where the log stops, and drop any that covered no row
        // (a server whose first line is already a state change).
        foreach (var own in spans.Values)
        {
            own[^1] = own[^1] with { LastRow = log.Lines.Count - 1 };
            own.RemoveAll(s => s.LastRow < s.FirstRow);
        }

        States = states;
        IsChange = isChange;
        Spans = spans;
    }

    /// <summary>
    /// The state a message puts its server in, or null if it changes nothing. The phrases are the
    /// ones the consensus module and server log, the same in Go and C#.
    /// </summary>
    public static ServerState? StateAfter(string message)
    {
        if (message.Contains("becomes Follower", StringComparison.Ordinal)
            || message.Contains("listening", StringComparison.Ordinal)
            || message.Contains("created in state Follower", StringComparison.Ordinal))
        {
            return ServerState.Follower;
        }
        if (message.Contains("becomes Candidate", StringComparison.Ordinal))
        {
            return ServerState.Candidate;
        }
        if (message.Contains("becomes Leader", StringComparison.Ordinal))
        {
            return ServerState.Leader;
        }
        if (message.Contains("becomes Dead", StringComparison.Ordinal))
        {
            return ServerState.Dead;
        }
        return null;
    }

    /// <summary>The term a state change names: term=1 (Follower, Leader) or currentTerm=1 (Candidate).</summary>
    public static int? TermIn(string message) =>
        TermPattern().Match(message) is { Success: true } m
            && int.TryParse(m.Groups["term"].Value, CultureInfo.InvariantCulture, out int term)
            ? term
            : null;

    [GeneratedRegex(@"\b(?:term|currentTerm)=(?<term>\d+)")]
    private static partial Regex TermPattern();
}
