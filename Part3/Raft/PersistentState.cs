// What a CM keeps on stable storage, as one JSON document whose commands carry a registered type name.
using System.Text.Json;

namespace Raft;

/// <summary>A CM's persistent state (Figure 2: currentTerm, votedFor, log), written whole by one Set: upstream's three keys can be torn by a crash.</summary>
internal sealed record PersistentState(int CurrentTerm, int VotedFor, IReadOnlyList<LogEntry> Log)
{
    /// <summary>The storage key of the document.</summary>
    public const string StorageKey = "raft";

    /// <summary>camelCase names, and every member required when read back.</summary>
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { RespectRequiredConstructorParameters = true };

    /// <summary>Encodes the state: <c>{"currentTerm":2,"votedFor":1,"log":[{"term":1,"type":"int","command":5}]}</c>.</summary>
    public byte[] Encode() => JsonSerializer.SerializeToUtf8Bytes(new Stored(CurrentTerm, VotedFor, [.. Log.Select(Stored.Entry.Of)]), Options);

    /// <summary>Reads the state back from <paramref name="storage"/>.</summary>
    /// <exception cref="InvalidDataException">The storage has no state, or not a whole, consistent one; the message says what is wrong.</exception>
    public static PersistentState Load(IStorage storage) =>
        storage.Get(StorageKey) is (byte[] data, true)
            ? Decode(data)
            : throw new InvalidDataException($"storage has data but no '{StorageKey}' entry");

    /// <summary>Decodes what <see cref="Encode"/> wrote. Every entry and command is a new object.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a whole, consistent state; the message says what is wrong.</exception>
    public static PersistentState Decode(byte[] data)
    {
        try
        {
            Stored stored = JsonSerializer.Deserialize<Stored>(data, Options) ?? throw new InvalidDataException("stored Raft state is corrupt: it is null");
            var log = new List<LogEntry>();
            if (stored.CurrentTerm < 0 || stored.VotedFor < -1)
            {
                throw new InvalidDataException($"currentTerm={stored.CurrentTerm}, votedFor={stored.VotedFor} are out of range");
            }
            foreach (Stored.Entry e in stored.Log)
            {
                if (e.Term < 0 || e.Term > stored.CurrentTerm || (log.Count > 0 && e.Term < log[^1].Term))
                {
                    throw new InvalidDataException($"log entry {log.Count} has term {e.Term}, out of order or beyond currentTerm={stored.CurrentTerm}");
                }
                object command = e.Command.Deserialize(CommandTypes.TypeOf(e.Type))
                    ?? throw new InvalidDataException($"log entry {log.Count} has a null command");
                // The stored form is kept, so the next write of this entry need not encode it again.
                log.Add(new LogEntry(command, e.Term) { Encoded = new EncodedCommand(e.Type, e.Command.Clone()) });
            }
            return new PersistentState(stored.CurrentTerm, stored.VotedFor, log);
        }
        catch (Exception e) when (e is not InvalidDataException)
        {
            // Truncated or garbled bytes, a value of the wrong kind, a command that cannot be built.
            throw new InvalidDataException($"stored Raft state is corrupt: {e.Message}", e);
        }
    }

    /// <summary>The document as JSON holds it.</summary>
    private sealed record Stored(int CurrentTerm, int VotedFor, Stored.Entry[] Log)
    {
        /// <summary>One log entry: its term, its command's registered type name, and the command.</summary>
        public sealed record Entry(int Term, string Type, JsonElement Command)
        {
            public static Entry Of(LogEntry e)
            {
                // A command is encoded once (by Submit, or when read back), however often the log is written.
                EncodedCommand c = e.Encoded ?? CommandTypes.Encode(e.Command);
                return new(e.Term, c.TypeName, c.Json);
            }
        }
    }
}

/// <summary>What a log entry keeps of its stored form (the rest of it is in ConsensusModule.cs).</summary>
public sealed partial record LogEntry
{
    /// <summary>
    /// The command as storage holds it, made once by Submit and carried along to the followers,
    /// so writing the log never serializes a command twice. Null only for entries built by hand.
    /// </summary>
    internal EncodedCommand? Encoded { get; init; }

    /// <summary>Two entries are equal when command and term are; the cached encoding does not count.</summary>
    public bool Equals(LogEntry? other) =>
        other is not null && Equals(Command, other.Command) && Term == other.Term;

    public override int GetHashCode() => HashCode.Combine(Command, Term);
}

/// <summary>
/// The command types a log may hold, each under a short name written next to the command in
/// storage. Like Go's gob.Register: a service registers its own command type once, at startup,
/// e.g. <c>CommandTypes.Register&lt;KvCommand&gt;("kv")</c>. Common simple types are registered already.
/// </summary>
public static class CommandTypes
{
    /// <summary>Guards both maps, which change together.</summary>
    private static readonly Lock Mu = new();

    /// <summary>Registered types by name.</summary>
    private static readonly Dictionary<string, Type> ByName = new()
    {
        ["int"] = typeof(int),
        ["long"] = typeof(long),
        ["double"] = typeof(double),
        ["bool"] = typeof(bool),
        ["string"] = typeof(string),
    };

    /// <summary>Registered names by type.</summary>
    private static readonly Dictionary<Type, string> ByType = ByName.ToDictionary(e => e.Value, e => e.Key);

    /// <summary>Registers <typeparamref name="T"/> under <paramref name="name"/>; again is harmless, another pairing an error.</summary>
    public static void Register<T>(string name)
        where T : notnull
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Type type = typeof(T);
        lock (Mu)
        {
            if (ByName.TryGetValue(name, out Type? registered) && registered != type)
            {
                throw new ArgumentException($"command type name '{name}' is already registered for {registered}", nameof(name));
            }
            if (ByType.TryGetValue(type, out string? registeredName) && registeredName != name)
            {
                throw new ArgumentException($"{type} is already registered as '{registeredName}'", nameof(name));
            }
            ByName[name] = type;
            ByType[type] = name;
        }
    }

    /// <summary>Encodes <paramref name="command"/> for storage, checking it decodes to the same: a server that stores it must restart from it.</summary>
    /// <exception cref="ArgumentException">The type is not registered, or the command does not survive the round trip.</exception>
    internal static EncodedCommand Encode(object command)
    {
        Type type = command.GetType();
        string? name;
        lock (Mu)
        {
            ByType.TryGetValue(type, out name);
        }
        if (name is null)
        {
            throw new ArgumentException($"command type {type} is not registered for persistence; call CommandTypes.Register<{type.Name}>(\"some-name\") first", nameof(command));
        }
        JsonElement json;
        string again;
        try
        {
            json = JsonSerializer.SerializeToElement(command, type);
            object? back = json.Deserialize(type);
            again = back is null ? "" : JsonSerializer.Serialize(back, type);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            // ArgumentException is what System.Text.Json throws for NaN and the infinities.
            throw new ArgumentException($"command {command} of type {type} cannot be persisted: {e.Message}", nameof(command), e);
        }
        // Typically unequal for a member that serializes but cannot be set back (no matching constructor).
        return json.GetRawText() == again
            ? new EncodedCommand(name, json)
            : throw new ArgumentException($"command {command} of type {type} cannot be persisted: it does not come back from JSON as it went in", nameof(command));
    }

    /// <summary>The type registered under <paramref name="name"/>.</summary>
    /// <exception cref="InvalidDataException">Nothing is registered under that name.</exception>
    internal static Type TypeOf(string name)
    {
        lock (Mu)
        {
            return ByName.TryGetValue(name, out Type? type)
                ? type
                : throw new InvalidDataException($"log entry has command type '{name}', which is not registered in this process");
        }
    }
}

/// <summary>A command in its stored form: the registered type name and the command's JSON (never changed after creation).</summary>
internal sealed record EncodedCommand(string TypeName, JsonElement Json);
