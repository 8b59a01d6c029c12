// The colours of the four server states and the look of a state ribbon, in one place: the test-log
// pages use them, and so does Tools/RaftPlayground's live page, so both read the same way.
namespace TestLogViz;

/// <summary>CSS for server states: variables, ribbons and their segments, and the legend's keys.</summary>
public static class StateStyle
{
    /// <summary>
    /// Cell and card colours follow upstream's visualizer: white follower, yellow candidate, green
    /// leader, grey dead; a ribbon segment uses the darker "ink" of its state. An element gets a
    /// state's look from a class named as <see cref="ServerState"/> names it.
    /// </summary>
    public const string Css = """

        :root { --follower: #ffffff; --candidate: #f7eeb0; --leader: #d3f3e1; --dead: #e2e2e2;
                --candidate-ink: #d9b829; --leader-ink: #2f9e62; --dead-ink: #9b9b9b; }
        .lane { display: flex; align-items: center; gap: 0.5rem; margin: 3px 0; }
        .lane .name { flex: 0 0 3.2rem; text-align: right; font: 600 12px ui-monospace, monospace; color: #59636e; }
        .ribbon { position: relative; flex: 1; height: 20px; background: var(--follower); border: 1px solid #d0d7de; border-radius: 3px; overflow: hidden; }
        .seg { position: absolute; top: 0; bottom: 0; min-width: 2px; padding: 0 3px; overflow: hidden; white-space: nowrap;
               font-size: 11px; line-height: 18px; color: #fff; cursor: pointer; border-left: 1px solid #fff; text-overflow: ellipsis; }
        .seg.Candidate { background: var(--candidate-ink); color: #3b3000; }
        .seg.Leader { background: var(--leader-ink); }
        .seg.Dead { background: var(--dead-ink); }
        .key { display: inline-block; width: 0.9rem; height: 0.9rem; margin: 0 0.25rem 0 0.6rem; vertical-align: -0.15rem; border: 1px solid #d0d7de; }
        .key.Follower { background: var(--follower); margin-left: 0; }
        .key.Candidate { background: var(--candidate-ink); }
        .key.Leader { background: var(--leader-ink); }
        .key.Dead { background: var(--dead-ink); }

        """;
}
