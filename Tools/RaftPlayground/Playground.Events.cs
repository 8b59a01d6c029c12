// The live updates: the state the page draws, sent over Server-Sent Events a few times a second.
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace RaftPlayground;

public sealed partial class Playground
{
    /// <summary>How often the page gets a new state.</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    /// <summary>The most log lines one update carries; a busy cluster writes far more than anyone reads.</summary>
    private const int MaxLinesPerUpdate = 300;

    /// <summary>
    /// The live updates: the whole state every <see cref="Tick"/>, with the log lines written
    /// since the previous one. Ends when the page goes away or the playground stops.
    /// </summary>
    private async IAsyncEnumerable<SseItem<string>> EventsAsync(bool canControl, [EnumeratorCancellation] CancellationToken aborted)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted, _stopping.Token);
        using var ticker = new PeriodicTimer(Tick);
        long lastSeq = 0;
        while (true)
        {
            PlaygroundState state = State(lastSeq, MaxLinesPerUpdate, canControl);
            if (state.Lines.Count > 0)
            {
                lastSeq = state.Lines[^1].Seq;
            }
            yield return new SseItem<string>(JsonSerializer.Serialize(state, JsonOptions), "state");
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

    /// <summary>Everything the page shows, with the log lines after <paramref name="afterSeq"/>; <paramref name="canControl"/> says whether its controls work for this client.</summary>
    internal PlaygroundState State(long afterSeq, int maxLines, bool canControl) => new(
        Cluster.Size,
        canControl,
        Cluster.Unreliable ? "unreliable" : "reliable",
        Cluster.Views(),
        Timeline.Of(_log),
        _log.LinesAfter(afterSeq, maxLines));
}
