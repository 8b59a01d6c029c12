// What the page is sent: the whole state, as GET /api/state answers and each live update carries.
namespace RaftPlayground;

/// <summary>What GET /api/state answers, and each live update carries.</summary>
/// <param name="CanControl">Whether this client may use the controls (false for another machine's under --watch-only).</param>
/// <param name="Groups">The partition's groups, each a sorted list of server ids; null while the network is whole.</param>
/// <param name="Links">Every pair of servers' link: up, cut or down.</param>
/// <param name="Logs">Every server's whole log (each from 0).</param>
/// <param name="Scenario">The scenario running or last run; null before the first.</param>
/// <param name="Clock">The cluster's time, speed and pause.</param>
/// <param name="Messages">The messages on their way and just ended.</param>
internal sealed record PlaygroundState(
    int Servers, bool CanControl, string Network, IReadOnlyList<IReadOnlyList<int>>? Groups, IReadOnlyList<LinkView> Links,
    IReadOnlyList<ServerView> Cards, IReadOnlyList<LogView> Logs, TimelineView Timeline, IReadOnlyList<LiveLine> Lines, ScenarioView? Scenario,
    ClockView Clock, MessagesView Messages);
