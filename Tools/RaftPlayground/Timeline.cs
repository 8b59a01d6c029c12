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

    /// <summary>
    /// The ribbons as they stand now. A run of spans of one state with no gap between them (a
    /// server cut off from the rest is a candidate again and again, a term each time, hundreds
    /// a minute) is drawn as one segment, whose tooltip gives the range of terms: each of them
    /// would be a sliver too thin to label, and the live updates would carry them all.
    /// </summary>
    public static TimelineView Of(LiveLog log)
    {
        double now = log.NowMs;
        double to = Math.Max(now, SpanMs), from = to - SpanMs;
        var lanes = new List<LaneView>();
        foreach (IReadOnlyList<LiveSpan> spans in log.Spans())
        {
            var segs = new List<SegmentView>();
            foreach (Run run in Runs(spans.Where(s => s.EndMs is not double e || e > from)))
            {
                if (run.State == ServerState.Follower)
                {
                    continue;
                }
                double start = Math.Max(run.StartMs, from), end = Math.Min(run.EndMs ?? now, to);
                if (end <= start && run.EndMs is not null)
                {
                    continue;
                }
                double share = Math.Max(end - start, 0) / SpanMs;
                int? term = run.FirstTerm == run.LastTerm ? run.FirstTerm : null;
                string terms = (run.FirstTerm, run.LastTerm) switch
                {
                    (int a, int b) when a == b => $" (term {a.ToString(CultureInfo.InvariantCulture)})",
                    (int a, int b) => $" ({run.Count} times, terms {a.ToString(CultureInfo.InvariantCulture)} to {b.ToString(CultureInfo.InvariantCulture)})",
                    _ => "",
                };
                string until = run.EndMs is double e ? $"{Seconds(e)} s" : "now";
                segs.Add(new SegmentView(run.State.ToString(), term, Math.Round(100 * (start - from) / SpanMs, 3), Math.Round(100 * share, 3),
                    PageWriter.Label(run.State, term, share), $"Server {run.Server}: {run.State}{terms}, {Seconds(run.StartMs)} s to {until}"));
            }
            lanes.Add(new LaneView(lanes.Count, segs));
        }
        return new TimelineView(Seconds(from), Seconds(to), Math.Round(100 * (now - from) / SpanMs, 3), lanes);
    }

    /// <summary>Spans of one state, one after the other with no gap: drawn as one segment.</summary>
    private sealed record Run(int Server, ServerState State, int? FirstTerm, int? LastTerm, double StartMs, double? EndMs, int Count);

    private static IEnumerable<Run> Runs(IEnumerable<LiveSpan> spans)
    {
        Run? run = null;
        foreach (LiveSpan s in spans)
        {
            if (run is not null && run.State == s.State && run.EndMs == s.StartMs)
            {
                run = run with { LastTerm = s.Term, EndMs = s.EndMs, Count = run.Count + 1 };
                continue;
            }
            if (run is not null)
            {
                yield return run;
            }
            run = new Run(s.Server, s.State, s.Term, s.Term, s.StartMs, s.EndMs, 1);
        }
        if (run is not null)
        {
            yield return run;
        }
    }

    private static string Seconds(double ms) => (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture);
}

/// <summary>The ribbons: their time range in seconds since start, where "now" is (in %), and a lane per server.</summary>
internal sealed record TimelineView(string From, string To, double NowPercent, IReadOnlyList<LaneView> Lanes);

internal sealed record LaneView(int Server, IReadOnlyList<SegmentView> Segments);

/// <summary>One ribbon segment, placed in % of the ribbon's width, with TestLogViz's label and a tooltip.</summary>
internal sealed record SegmentView(string State, int? Term, double Left, double Width, string Label, string Title);
