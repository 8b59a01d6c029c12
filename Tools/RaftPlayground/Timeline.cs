// The timeline's ribbons, laid out from the log's state spans for the page to draw as they are.
using System.Globalization;
using TestLogViz;

namespace RaftPlayground;

/// <summary>
/// The ribbons, laid out here so they read as TestLogViz's do (same states, same labels), but
/// by time rather than by log line: the last <see cref="SpanMs"/>, or the first minute while it
/// fills. Followers are the ribbon's white background, as there.
/// </summary>
internal static class Timeline
{
    /// <summary>How much time a ribbon spans: the first minute fills it, then it slides.</summary>
    public const double SpanMs = 60_000;

    /// <summary>The ribbons as they stand now.</summary>
    public static TimelineView Of(LiveLog log)
    {
        double now = log.NowMs;
        double to = Math.Max(now, SpanMs), from = to - SpanMs;
        var lanes = new List<LaneView>();
        foreach (IReadOnlyList<LiveSpan> spans in log.Spans())
        {
            var segs = new List<SegmentView>();
            foreach (LiveSpan s in spans.Where(s => s.State != ServerState.Follower))
            {
                double start = Math.Max(s.StartMs, from), end = Math.Min(s.EndMs ?? now, to);
                if (end <= start && s.EndMs is not null)
                {
                    continue;
                }
                double share = Math.Max(end - start, 0) / SpanMs;
                string term = s.Term is int t ? $" (term {t.ToString(CultureInfo.InvariantCulture)})" : "";
                string until = s.EndMs is double e ? $"{Seconds(e)} s" : "now";
                segs.Add(new SegmentView(s.State.ToString(), s.Term, Math.Round(100 * (start - from) / SpanMs, 3), Math.Round(100 * share, 3),
                    PageWriter.Label(s.State, s.Term, share), $"Server {s.Server}: {s.State}{term}, {Seconds(s.StartMs)} s to {until}"));
            }
            lanes.Add(new LaneView(lanes.Count, segs));
        }
        return new TimelineView(Seconds(from), Seconds(to), Math.Round(100 * (now - from) / SpanMs, 3), lanes);
    }

    private static string Seconds(double ms) => (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture);
}

/// <summary>The ribbons: their time range in seconds since start, where "now" is (in %), and a lane per server.</summary>
internal sealed record TimelineView(string From, string To, double NowPercent, IReadOnlyList<LaneView> Lanes);

internal sealed record LaneView(int Server, IReadOnlyList<SegmentView> Segments);

/// <summary>One ribbon segment, placed in % of the ribbon's width, with TestLogViz's label and a tooltip.</summary>
internal sealed record SegmentView(string State, int? Term, double Left, double Width, string Label, string Title);
