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
    /// previous update (see <see cref="LiveUpdate"/>). Ends when the page goes away or the
    /// playground stops.
    /// </summary>
    private async IAsyncEnumerable<SseItem<string>> EventsAsync(bool canControl, [EnumeratorCancellation] CancellationToken aborted)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted, _stopping.Token);
        using var ticker = new PeriodicTimer(Tick);
        var writer = new LiveUpdateWriter(Cluster.Size);
        while (true)
        {
            yield return new SseItem<string>(JsonSerializer.Serialize(Update(writer, canControl), UpdateJsonOptions), "state");
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

    /// <summary>The next live update of <paramref name="writer"/>'s stream.</summary>
    internal LiveUpdate Update(LiveUpdateWriter writer, bool canControl)
    {
        var (cards, logs, data) = writer.Changes(Cluster.Read(writer.LogFrom()));
        var (lines, skipped) = writer.Lines(_log);
        return new LiveUpdate(Cluster.Size, canControl, Network(), Cluster.Groups(), Cluster.Links(), cards, logs, data, Timeline.Of(_log), lines, skipped, _scenarios.Current,
            ClockNow(), Cluster.Messages.Take(Tick * Cluster.Clock.Speed));
    }

    /// <summary>Everything the page shows, with the last <paramref name="lines"/> log lines; <paramref name="canControl"/> says whether its controls work for this client.</summary>
    internal PlaygroundState State(int lines, bool canControl)
    {
        IReadOnlyList<ServerReading> readings = Cluster.Read(new int[Cluster.Size]);
        return new PlaygroundState(Cluster.Size, canControl, Network(), Cluster.Groups(), Cluster.Links(),
            [.. readings.Select(r => r.Card)], [.. readings.Select(r => new LogView(r.Card.Id, 0, LogView.RunsOf(r.Terms)))],
            Timeline.Of(_log), _log.LinesAfter(0, lines), _scenarios.Current, ClockNow(), Cluster.Messages.Take(Tick * Cluster.Clock.Speed));
    }

    private ClockView ClockNow() => new(Math.Round(Cluster.Clock.Elapsed.TotalMilliseconds, 2), Cluster.Clock.Speed, Cluster.Clock.IsPaused);

    private string Network() => Cluster.Unreliable ? "unreliable" : "reliable";
}
