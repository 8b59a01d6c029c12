// A playground's recording read back to play it again: its seed, its servers and its inputs.
using System.Text.Json;
using Lab;

namespace RaftPlayground;

/// <summary>What <c>--replay FILE</c> runs again: the seed, the cluster's size, and every input at its moment.</summary>
public sealed record ReplayFile(int Seed, int Servers, IReadOnlyList<PlaygroundInput> Inputs, double EndMs)
{
    /// <summary>The recording's JSON read as a replay, or one line saying why it cannot be one.</summary>
    public static (ReplayFile? File, string? Problem) Parse(string json)
    {
        if (Recorder.Problem(json) is { } problem)
        {
            return (null, problem.Replace("this TestLogViz", "this RaftPlayground", StringComparison.Ordinal));
        }
        using var doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        if (!root.TryGetProperty("source", out var source) || source.ValueKind != JsonValueKind.String || source.GetString() != "RaftPlayground"
            || !root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
        {
            return (null, "a recording of a test, not of the playground: it has no inputs to play again (open it with TestLogViz)");
        }
        if (!root.TryGetProperty("seed", out var seed) || !seed.TryGetInt32(out int s)
            || !root.GetProperty("servers").TryGetInt32(out int n) || n is not (3 or 5))
        {
            return (null, "the recording's seed or servers are not whole numbers (servers 3 or 5)");
        }
        PlaygroundInput[] list;
        try
        {
            list = inputs.Deserialize<PlaygroundInput[]>(Playground.InputJson) ?? [];
        }
        catch (JsonException e)
        {
            return (null, $"the recording's inputs are not inputs: {e.Message.Split('\n')[0].Trim()}");
        }
        for (int i = 1; i < list.Length; i++)
        {
            if (list[i].AtTicks < list[i - 1].AtTicks || list[i].AtTicks < 0)
            {
                return (null, $"the recording's input {i + 1} is earlier than the one before it: inputs are in the order of their moments");
            }
        }
        double endMs = root.TryGetProperty("endMs", out var end) && end.TryGetDouble(out double e2) ? e2 : 0;
        return (new ReplayFile(s, n, list, endMs), null);
    }
}
