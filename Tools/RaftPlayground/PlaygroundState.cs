// What the page is sent: the whole state, as GET /api/state answers and each live update carries.
namespace RaftPlayground;

/// <summary>What GET /api/state answers, and each live update carries.</summary>
internal sealed record PlaygroundState(int Servers, bool CanControl, string Network, IReadOnlyList<ServerView> Cards, TimelineView Timeline, IReadOnlyList<LiveLine> Lines);
