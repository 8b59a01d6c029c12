// How a CM's persistent state becomes bytes and back: one JSON document, with each command
// tagged by a registered type name so it comes back as the same type after a restart.
using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;

namespace Raft;

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
        Type registered = ByName.GetOrAdd(name, type);
        if (registered != type)
        {
            throw new ArgumentException($"command type name '{name}' is already registered for {registered}", nameof(name));
        }
        string registeredName = ByType.GetOrAdd(type, name);
        if (registeredName != name)
        {
            throw new ArgumentException($"{type} is already registered as '{registeredName}'", nameof(name));
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

    /// <summary>The type registered under <paramref name="name"/>.</summary>
    /// <exception cref="InvalidDataException">Nothing is registered under that name.</exception>
    internal static Type TypeOf(string name) =>
        ByName.TryGetValue(name, out Type? type)
            ? type
            : throw new InvalidDataException($"log entry has command type '{name}', which is not registered in this process");
}

/// <summary>
/// A CM's persistent state (Figure 2: currentTerm, votedFor, log), as it is stored: one JSON
/// document under <see cref="StorageKey"/>, so one write saves all three at once.
/// </summary>
internal sealed record PersistentState(int CurrentTerm, int VotedFor, IReadOnlyList<LogEntry> Log)
{
    /// <summary>The storage key of the whole document.</summary>
    public const string StorageKey = "raft";

    /// <summary>Encodes the state: <c>{"currentTerm":2,"votedFor":1,"log":[{"term":1,"type":"int","command":5}]}</c>.</summary>
    public byte[] Encode()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("currentTerm", CurrentTerm);
            w.WriteNumber("votedFor", VotedFor);
            w.WriteStartArray("log");
            foreach (LogEntry entry in Log)
            {
                w.WriteStartObject();
                w.WriteNumber("term", entry.Term);
                w.WriteString("type", CommandTypes.NameOf(entry.Command));
                w.WritePropertyName("command");
                JsonSerializer.Serialize(w, entry.Command, entry.Command.GetType());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Decodes what <see cref="Encode"/> wrote. Every entry and command is a new object.
    /// </summary>
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
                Type type = CommandTypes.TypeOf(Field(e, "type").GetString() ?? "");
                object command = Field(e, "command").Deserialize(type)
                    ?? throw new InvalidDataException($"log entry {log.Count} has a null command");
                log.Add(new LogEntry(command, term));
            }

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
            return new PersistentState(currentTerm, votedFor, log);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // Truncated or garbled bytes, or a value of the wrong kind (a string for a term).
            throw new InvalidDataException($"stored Raft state is corrupt: {e.Message}", e);
        }
    }

    /// <summary>A required property of a JSON object.</summary>
    private static JsonElement Field(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out JsonElement value)
            ? value
            : throw new InvalidDataException($"stored Raft state is corrupt: '{name}' is missing");
}
