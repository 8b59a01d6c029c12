// Watches a whole run for broken Raft safety properties, as Coyote's Raft sample does with a
// monitor: whatever a test asserts, no run may break these.
using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Lab;

/// <summary>
/// The logger a harness hands to its servers: it passes every line on and checks two of Raft's
/// safety properties (Figure 3 of the paper) on the way. Election Safety (at most one leader per
/// term) is read from the CMs' own "becomes Leader; term=N" lines; State Machine Safety (no two
/// servers, in any incarnation, apply different commands at one index) from what the harness
/// reports with <see cref="Committed"/>. The harness fails the run on any <see cref="Violations"/>.
/// </summary>
public sealed class SafetyMonitor(ILogger inner) : ILogger
{
    /// <summary>How a CM announces its win.</summary>
    private const string LeaderLine = "becomes Leader; term=";

    /// <summary>The server that became leader in each term seen so far.</summary>
    private readonly ConcurrentDictionary<int, int> _leaderOfTerm = new();

    /// <summary>The first command any server applied at each index, and which server it was.</summary>
    private readonly ConcurrentDictionary<int, (int ServerId, object Command)> _appliedAt = new();

    /// <summary>Backs <see cref="Violations"/>.</summary>
    private readonly ConcurrentQueue<string> _violations = new();

    /// <summary>Every violation reported so far, so each is reported once (a restarted server applies its log again).</summary>
    private readonly ConcurrentDictionary<string, bool> _seen = new();

    /// <summary>Told of each violation, with the servers and the index involved; null tells nobody.</summary>
    public Recorder? Recorder { get; set; }

    /// <summary>What broke, in words; empty in a correct run.</summary>
    public IReadOnlyCollection<string> Violations => _violations;

    /// <summary>Checks that server <paramref name="serverId"/> applying <paramref name="command"/> at <paramref name="index"/> agrees with every earlier apply there.</summary>
    public void Committed(int serverId, int index, object command)
    {
        var (firstId, firstCommand) = _appliedAt.GetOrAdd(index, (serverId, command));
        if (!Equals(firstCommand, command))
        {
            Violated($"state machine safety: server {firstId} applied {firstCommand} at index {index}, server {serverId} applied {command}", [firstId, serverId], index);
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    /// <summary>Passes the line on, and checks Election Safety on the CMs' "becomes Leader" lines.</summary>
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        inner.Log(logLevel, eventId, state, exception, formatter);
        // A CM logs "[{Id}] {Message}": the values come as pairs, so nothing needs parsing but the term.
        if (state is IReadOnlyList<KeyValuePair<string, object?>> values
            && Value(values, "Id") is int id
            && Value(values, "Message") is string message
            && message.StartsWith(LeaderLine, StringComparison.Ordinal))
        {
            int end = message.IndexOf(',', LeaderLine.Length);
            int term = int.Parse(message.AsSpan(LeaderLine.Length, (end < 0 ? message.Length : end) - LeaderLine.Length), CultureInfo.InvariantCulture);
            int first = _leaderOfTerm.GetOrAdd(term, id);
            if (first != id)
            {
                Violated($"election safety: both {first} and {id} became leader in term {term}", [first, id], null);
            }
        }
    }

    /// <summary>Records a violation the first time it is seen, and writes it in the log at the moment it happened, as the test's own line.</summary>
    private void Violated(string violation, int[] servers, int? index)
    {
        if (_seen.TryAdd(violation, true))
        {
            _violations.Enqueue(violation);
            Recorder?.Violation(violation, servers, index);
            inner.LogError("[TEST] {Violation}", $"SAFETY VIOLATED: {violation}");
        }
    }

    private static object? Value(IReadOnlyList<KeyValuePair<string, object?>> values, string key)
    {
        foreach (var (k, v) in values)
        {
            if (k == key)
            {
                return v;
            }
        }
        return null;
    }
}
