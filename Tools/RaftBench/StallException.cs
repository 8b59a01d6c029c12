// How a scenario gives up: no progress for too long, with each server's state for the report.
namespace RaftBench;

/// <summary>A scenario made no progress for too long; carries each server's state.</summary>
internal sealed class StallException(string message, IReadOnlyList<string> servers) : Exception(message)
{
    public IReadOnlyList<string> Servers { get; } = servers;
}
