// What a CM keeps on stable storage, and how it becomes bytes.
//
// What: Figure 2's persistent state, currentTerm, votedFor and the log, as one JSON document,
// each command tagged with a registered type name so it comes back as the same type after a restart.
//
// When: before anyone can learn of a change. A new term or vote is written before the CM answers
// or asks for votes (StartElection, BecomeFollower, RequestVote); a follower's new entries before
// its AppendEntries reply; a leader's new entries before they leave it (the send loop writes a
// whole burst of submits at once, where upstream's Submit writes the log for each command).
//
// Why one write: upstream stores the three under separate keys, so a crash between two of its
// writes could leave a new term beside the old term's vote. Here they travel in one document and
// one IStorage.Set, so storage holds the state from before a save or after it, never a mix. Like
// upstream, every save writes the whole log again.
using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;

namespace Raft;

/// <summary>A CM's persistent state (Figure 2: currentTerm, votedFor, log) as one stored document, so one Set writes all three.</summary>
internal sealed record PersistentState(int CurrentTerm, int VotedFor, IReadOnlyList<LogEntry> Log)
{
    /// <summary>The storage key of the document.</summary>
    public const string StorageKey = "raft";

    /// <summary>Encodes the state: <c>{"currentTerm":2,"votedFor":1,"log":[{"term":1,"type":"int","command":5}]}</c>.</summary>
    public byte[] Encode()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("currentTerm", CurrentTerm);
            writer.WriteNumber("votedFor", VotedFor);
            writer.WriteStartArray("log");
            foreach (LogEntry entry in Log)
            {
                // A command is encoded once (by Submit, or when read back), however often the log is written.
                EncodedCommand command = entry.Encoded ?? CommandTypes.Encode(entry.Command);
                writer.WriteStartObject();
                writer.WriteNumber("term", entry.Term);
                writer.WriteString("type", command.TypeName);
                writer.WritePropertyName("command");
                writer.WriteRawValue(command.Json, skipInputValidation: true);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

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
            using JsonDocument doc = JsonDocument.Parse(data);
            JsonElement root = doc.RootElement;
            int currentTerm = Field(root, "currentTerm").GetInt32();
            int votedFor = Field(root, "votedFor").GetInt32();
            var log = new List<LogEntry>();
            foreach (JsonElement e in Field(root, "log").EnumerateArray())
            {
                int term = Field(e, "term").GetInt32();
                string typeName = Field(e, "type").GetString() ?? "";
                JsonElement commandJson = Field(e, "command");
                object command = commandJson.Deserialize(CommandTypes.TypeOf(typeName))
                    ?? throw new InvalidDataException($"log entry {log.Count} has a null command");
                // The stored bytes are kept, so the next write of this entry need not encode it again.
                var encoded = new EncodedCommand(typeName, JsonSerializer.SerializeToUtf8Bytes(commandJson));
                log.Add(new LogEntry(command, term) { Encoded = encoded });
            }
            Validate(currentTerm, votedFor, log);
            return new PersistentState(currentTerm, votedFor, log);
        }
        catch (Exception e) when (e is not InvalidDataException)
        {
            // Truncated or garbled bytes, a value of the wrong kind (a string for a term), or a
            // command its type cannot be built from: whatever the cause, the storage is unusable.
            throw new InvalidDataException($"stored Raft state is corrupt: {e.Message}", e);
        }
    }

    /// <summary>Checks that the terms make sense: none negative, none beyond currentTerm, and never falling along the log.</summary>
    /// <exception cref="InvalidDataException">They do not; the message says where.</exception>
    private static void Validate(int currentTerm, int votedFor, List<LogEntry> log)
    {
        if (currentTerm < 0 || votedFor < -1)
        {
            throw new InvalidDataException($"currentTerm={currentTerm}, votedFor={votedFor} are out of range");
        }
        for (int i = 0; i < log.Count; i++)
        {
            if (log[i].Term < 0 || log[i].Term > currentTerm || (i > 0 && log[i].Term < log[i - 1].Term))
            {
                throw new InvalidDataException($"log entry {i} has term {log[i].Term}, out of order or beyond currentTerm={currentTerm}");
            }
        }
    }

    /// <summary>A required property of a JSON object.</summary>
    private static JsonElement Field(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out JsonElement value)
            ? value
            : throw new InvalidDataException($"stored Raft state is corrupt: '{name}' is missing");
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
    /// <summary>Registered types by name.</summary>
    private static readonly ConcurrentDictionary<string, Type> ByName = new();

    /// <summary>Registered names by type.</summary>
    private static readonly ConcurrentDictionary<Type, string> ByType = new();

    /// <summary>Makes each registration all or nothing: both maps change together, or neither does.</summary>
    private static readonly Lock RegisterLock = new();

#pragma warning disable CA1810 // An explicit static constructor reads better than a field initializer with side effects.
    static CommandTypes()
#pragma warning restore CA1810
    {
        Register<int>("int");
        Register<long>("long");
        Register<double>("double");
        Register<bool>("bool");
        Register<string>("string");
    }

    /// <summary>
    /// Registers <typeparamref name="T"/> under <paramref name="name"/>. Registering the same pair
    /// again is harmless; reusing a name or a type for something else is an error.
    /// </summary>
    public static void Register<T>(string name)
        where T : notnull
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Type type = typeof(T);
        lock (RegisterLock)
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

    /// <summary>The name <paramref name="command"/>'s type is registered under.</summary>
    /// <exception cref="ArgumentException">The type was never registered.</exception>
    internal static string NameOf(object command)
    {
        Type type = command.GetType();
        return ByType.TryGetValue(type, out string? name)
            ? name
            : throw new ArgumentException(
                $"command type {type} is not registered for persistence; call CommandTypes.Register<{type.Name}>(\"some-name\") first",
                nameof(command));
    }

    /// <summary>
    /// Encodes <paramref name="command"/> as storage will hold it, and checks that it decodes and
    /// encodes again to the same bytes, so that a server which stores it can also restart from it.
    /// </summary>
    /// <exception cref="ArgumentException">The type is not registered, or the command does not survive the round trip.</exception>
    internal static EncodedCommand Encode(object command)
    {
        string name = NameOf(command);
        Type type = command.GetType();
        byte[] json;
        byte[] again;
        try
        {
            json = JsonSerializer.SerializeToUtf8Bytes(command, type);
            object? back = JsonSerializer.Deserialize(json, type);
            again = back is null ? [] : JsonSerializer.SerializeToUtf8Bytes(back, type);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            // ArgumentException is what System.Text.Json throws for NaN and the infinities.
            throw new ArgumentException($"command {command} of type {type} cannot be persisted: {e.Message}", nameof(command), e);
        }
        if (!json.AsSpan().SequenceEqual(again))
        {
            // Typically a member that serializes but cannot be set back (no matching constructor).
            throw new ArgumentException(
                $"command {command} of type {type} cannot be persisted: it does not come back from JSON as it went in",
                nameof(command));
        }
        return new EncodedCommand(name, json);
    }

    /// <summary>The type registered under <paramref name="name"/>.</summary>
    /// <exception cref="InvalidDataException">Nothing is registered under that name.</exception>
    internal static Type TypeOf(string name) =>
        ByName.TryGetValue(name, out Type? type)
            ? type
            : throw new InvalidDataException($"log entry has command type '{name}', which is not registered in this process");
}

/// <summary>A command in its stored form: the registered type name and the command's JSON (never changed after creation).</summary>
internal sealed record EncodedCommand(string TypeName, byte[] Json);
