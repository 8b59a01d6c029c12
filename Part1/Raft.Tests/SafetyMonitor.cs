// Watches a whole test run for broken Raft safety properties, as Coyote's Raft sample does with a
// monitor: whatever a test asserts, no run may break these.
using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Raft;

/// <summary>
/// The logger the harness hands to its servers: it passes every line on to the test's log and
/// checks Raft's safety properties (Figure 3 of the paper) on the way. The harness fails the test
/// on any violation.
/// </summary>
public sealed class SafetyMonitor(ILogger inner) : ILogger
{
    /// <summary>The server that became leader in each term seen so far.</summary>
    private readonly ConcurrentDictionary<int, int> _leaderOfTerm = new();

    /// <summary>Backs <see cref="Violations"/>.</summary>
    private readonly ConcurrentQueue<string> _violations = new();

    /// <summary>What broke, in words; empty in a correct run.</summary>
    public IReadOnlyCollection<string> Violations => _violations;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    /// <summary>Passes the line on, and checks Election Safety (one leader per term) on the CMs' "becomes Leader" lines.</summary>
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        inner.Log(logLevel, eventId, state, exception, formatter);
        // Dlog writes "[{Id}] {Message}": the values come as pairs, so nothing needs parsing but the term.
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
                _violations.Enqueue($"election safety: both {first} and {id} became leader in term {term}");
            }
        }
    }

    /// <summary>How a CM announces its win.</summary>
    private const string LeaderLine = "becomes Leader; term=";

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
