// The command the KV service puts into the Raft log, and the result it carries once applied.
namespace Kv.Service;

/// <summary>
/// One operation on the data store, as it travels through the Raft log. The updater fills in
/// <see cref="ResultValue"/> and <see cref="ResultFound"/> when it applies the command (on a copy:
/// the object in the log is never changed).
/// <list type="bullet">
/// <item><b>Get</b>: reads <see cref="Key"/>. Result: whether it exists, and its value.</item>
/// <item><b>Put</b>: sets <see cref="Key"/> to <see cref="Value"/>. Result: whether the key existed before, and its old value.</item>
/// <item><b>CAS</b>: sets <see cref="Key"/> to <see cref="Value"/> only if the key exists and holds
/// <see cref="CompareValue"/>. Result: whether the key existed, and its value before the CAS.</item>
/// </list>
/// </summary>
public sealed record Command
{
    public CommandKind Kind { get; init; }

    public string Key { get; init; } = "";

    public string Value { get; init; } = "";

    public string CompareValue { get; init; } = "";

    public string ResultValue { get; init; } = "";

    public bool ResultFound { get; init; }

    /// <summary>The id of the service that submitted this command (upstream's only tag).</summary>
    public int Id { get; init; }

    /// <summary>
    /// Names the HTTP handler waiting for this command. Departs from upstream, which tells "my
    /// command" by the service id alone: after a lost and regained leadership another request of
    /// the same service can take the same log index, and only this tells the two apart.
    /// </summary>
    public Guid HandlerId { get; init; }

    /// <summary>Go's %v of upstream's struct, plus the start of the handler id: {put k v   false 0 1a2b3c4d}.</summary>
    public override string ToString() =>
        $"{{{Kind.ToString().ToLowerInvariant()} {Key} {Value} {CompareValue} {ResultValue} {(ResultFound ? "true" : "false")} {Id} {HandlerId.ToString()[..8]}}}";
}

/// <summary>The operations of <see cref="Command"/>; the numbers are upstream's.</summary>
public enum CommandKind
{
    Invalid = 0,
    Get = 1,
    Put = 2,
    CAS = 3,
}
