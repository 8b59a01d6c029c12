// The live updates: the state the page draws, sent over Server-Sent Events a few times a second.
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RaftPlayground;

public sealed partial class Playground
{
    /// <summary>How often the page gets a new state.</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    /// <summary>The live updates' JSON: the API's, with null fields left out.</summary>
    private static readonly JsonSerializerOptions UpdateJsonOptions = new(JsonOptions) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>
    /// The live updates: every <see cref="Tick"/>, the state with what changed since the
    /// previous update (see <see cref="LiveUpdate"/>); after a fork or a new cluster, everything
    /// again, as a first update. Ends when the page goes away or the playground stops.
    /// </summary>
    private async IAsyncEnumerable<SseItem<string>> EventsAsync(bool canControl, [EnumeratorCancellation] CancellationToken aborted)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted, _stopping.Token);
        using var ticker = new PeriodicTimer(Tick);
        LiveUpdateWriter? writer = null;
        int writerGeneration = 0;
        while (true)
        {
            (ClusterRun run, int generation) = Current;
            if (writer is null || writerGeneration != generation)
            {
                writer = new LiveUpdateWriter(run.Cluster.Size);
                writerGeneration = generation;
            }
            LiveUpdate? update = null;
            try
            {
                LiveUpdateWriter w = writer;
                update = await run.ReadAsync(() => Update(run, generation, w, canControl));
            }
            catch (PlaygroundException)
            {
                // The run was replaced meanwhile: the next tick reads the new one.
            }
            if (update is not null)
            {
                yield return new SseItem<string>(JsonSerializer.Serialize(update, UpdateJsonOptions), "state");
            }
            try
            {
                if (!await ticker.WaitForNextTickAsync(cts.Token))
                {
                    yield break;
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                yield break;
            }
        }
    }

    /// <summary>The next live update of <paramref name="writer"/>'s stream; on the run's simulation thread.</summary>
    internal static LiveUpdate Update(ClusterRun run, int generation, LiveUpdateWriter writer, bool canControl)
    {
        Cluster cluster = run.Cluster;
        var (cards, logs, data) = writer.Changes(cluster.Read(writer.LogFrom()));
        var (lines, skipped) = writer.Lines(run.Log);
        return new LiveUpdate(cluster.Size, canControl, NetworkOf(cluster), cluster.Groups(), cluster.Links(), cards, logs, data, Timeline.Of(run.Log), lines, skipped, run.Scenario,
            ClockNow(run, generation), cluster.Messages.Take(Tick * run.Pacer.Speed));
    }

    /// <summary>Everything the page shows, with the last <paramref name="lines"/> log lines; <paramref name="canControl"/> says whether its controls work for this client.</summary>
    internal async Task<PlaygroundState> StateAsync(int lines, bool canControl)
    {
        (ClusterRun run, int generation) = Current;
        return await run.ReadAsync(() => State(run, generation, lines, canControl));
    }

    /// <summary>The state of <paramref name="run"/> now; on its simulation's thread.</summary>
    private static PlaygroundState State(ClusterRun run, int generation, int lines, bool canControl)
    {
        Cluster cluster = run.Cluster;
        IReadOnlyList<ServerReading> readings = cluster.Read(new int[cluster.Size]);
        return new PlaygroundState(cluster.Size, canControl, NetworkOf(cluster), cluster.Groups(), cluster.Links(),
            [.. readings.Select(r => r.Card)], [.. readings.Select(r => new LogView(r.Card.Id, 0, LogView.RunsOf(r.Terms)))],
            Timeline.Of(run.Log), run.Log.LinesAfter(0, lines), run.Scenario, ClockNow(run, generation), cluster.Messages.Take(Tick * run.Pacer.Speed));
    }

    /// <summary>The clock now: the run's own time (what its servers' timers count from), its pace, seed and number.</summary>
    private static ClockView ClockNow(ClusterRun run, int generation)
    {
        double now = Math.Round(run.Cluster.Clock.Now.TotalMilliseconds, 3);
        return new ClockView(now, run.Pacer.Speed, run.Pacer.IsPaused, run.Seed, generation, now);
    }

    private async Task<ClockView> ClockNowAsync()
    {
        (ClusterRun run, int generation) = Current;
        return await run.ReadAsync(() => ClockNow(run, generation));
    }

    private static string NetworkOf(Cluster cluster) => cluster.Unreliable ? "unreliable" : "reliable";
}
