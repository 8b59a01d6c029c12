// What a CM keeps on stable storage, as JSON documents whose commands carry a registered type name:
// now and then the whole state, and between those, small records of what changed.
using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Raft;

/// <summary>
/// A CM's persistent state (Figure 2: currentTerm, votedFor, log) as one stored document: a checkpoint
/// of the whole state, or a save's record, whose log is the entries from <see cref="From"/> on.
/// </summary>
internal sealed record PersistentState(int CurrentTerm, int VotedFor, IReadOnlyList<LogEntry> Log, int Epoch = 0, int From = 0)
{
    /// <summary>The storage key of the checkpoint; records follow under "raft.1", "raft.2", ...</summary>
    public const string StorageKey = "raft";

    /// <summary>camelCase names, and every member required when read back.</summary>
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { RespectRequiredConstructorParameters = true };

    /// <summary>Encodes the document: <c>{"epoch":1,"from":0,"currentTerm":2,"votedFor":1,"log":[{"term":1,"type":"int","command":5}]}</c>.</summary>
    public byte[] Encode()
    {
        byte[] head = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"epoch\":{Epoch},\"from\":{From},\"currentTerm\":{CurrentTerm},\"votedFor\":{VotedFor},\"log\":["));
        // Each command's JSON is made once (by Submit, or Decode); a save under the CM's lock copies it into an exact-size array: per entry {"term":} (9), commas between.
        (byte[] Json, byte[] Type)[] parts = [.. Log.Select(e => (e.Json ?? CommandTypes.Encode(e.Command), CommandTypes.Head(e.Command.GetType())))];
        byte[] bytes = new byte[head.Length + 2 + Math.Max(Log.Count - 1, 0) + Log.Sum(e => 9 + Digits(e.Term)) + parts.Sum(p => p.Json.Length + p.Type.Length)];
        using var stream = new MemoryStream(bytes);
        stream.Write(head);
        Span<byte> term = stackalloc byte[11];
        for (int i = 0; i < parts.Length; i++)
        {
            stream.Write(i == 0 ? "{\"term\":"u8 : ",{\"term\":"u8);
            stream.Write(term[..(Log[i].Term.TryFormat(term, out int written, default, CultureInfo.InvariantCulture) ? written : 0)]);
            stream.Write(parts[i].Type);
            stream.Write(parts[i].Json);
            stream.Write("}"u8);
        }
        stream.Write("]}"u8);
        return bytes;
    }

    private static int Digits(int n) => n < 10 ? 1 : 1 + Digits(n / 10);

    /// <summary>Decodes what <see cref="Encode"/> wrote. Every entry and command is a new object.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a whole, consistent document; the message says what is wrong.</exception>
    public static PersistentState Decode(byte[] data)
    {
        try
        {
            Stored doc = JsonSerializer.Deserialize<Stored>(data, Options) ?? throw new InvalidDataException("stored Raft state is corrupt: it is null");
            if (doc.CurrentTerm < 0 || doc.VotedFor < -1 || doc.Epoch < 0 || doc.From < 0)
            {
                throw new InvalidDataException($"currentTerm={doc.CurrentTerm}, votedFor={doc.VotedFor}, epoch={doc.Epoch}, from={doc.From} are out of range");
            }
            var log = new List<LogEntry>();
            foreach (JsonElement stored in doc.Log)
            {
                Stored.Entry e = stored.Deserialize<Stored.Entry>(Options) ?? throw new InvalidDataException($"log entry {doc.From + log.Count} is null");
                if (e.Term < 0 || e.Term > doc.CurrentTerm || (log.Count > 0 && e.Term < log[^1].Term))
                {
                    throw new InvalidDataException($"log entry {doc.From + log.Count} has term {e.Term}, out of order or beyond currentTerm={doc.CurrentTerm}");
                }
                object command = e.Command.Deserialize(CommandTypes.TypeOf(e.Type))
                    ?? throw new InvalidDataException($"log entry {doc.From + log.Count} has a null command");
                log.Add(new LogEntry(command, e.Term) { Json = JsonMarshal.GetRawUtf8Value(e.Command).ToArray() });
            }
            return new PersistentState(doc.CurrentTerm, doc.VotedFor, log, doc.Epoch, doc.From);
        }
        catch (Exception e) when (e is not InvalidDataException)
        {
            // Truncated or garbled bytes, a value of the wrong kind, a command that cannot be built.
            throw new InvalidDataException($"stored Raft state is corrupt: {e.Message}", e);
        }
    }

    /// <summary>The document as it is read back.</summary>
    private sealed record Stored(int Epoch, int From, int CurrentTerm, int VotedFor, JsonElement[] Log)
    {
        /// <summary>One log entry: its term, its command's registered type name, and the command.</summary>
        public sealed record Entry(int Term, string Type, JsonElement Command);
    }
}

/// <summary>
/// Saves a CM's state at the cost of what changed (upstream's rewrites the whole log): one small record
/// under the next key "raft.N", or, once the records outweigh the checkpoint, a new checkpoint of a new
/// epoch under "raft". Either way one Set: a crash leaves the state before or after the save, never between.
/// </summary>
internal sealed class Persister(IStorage storage)
{
    /// <summary>The epoch of the checkpoint in storage (0: none yet), and how many records follow it.</summary>
    private int _epoch, _records;

    /// <summary>The size of the checkpoint, and of its records so far.</summary>
    private long _checkpointBytes, _recordBytes;

    /// <summary>Saves the state, whose log storage holds unchanged up to index <paramref name="from"/>.</summary>
    public void Save(int currentTerm, int votedFor, List<LogEntry> log, int from)
    {
        if (_epoch == 0 || _recordBytes > Math.Max(_checkpointBytes, 64 * 1024))
        {
            byte[] checkpoint = new PersistentState(currentTerm, votedFor, log, _epoch + 1).Encode();
            storage.Set(PersistentState.StorageKey, checkpoint);
            (_epoch, _records, _checkpointBytes, _recordBytes) = (_epoch + 1, 0, checkpoint.Length, 0);
            return;
        }
        byte[] record = new PersistentState(currentTerm, votedFor, log[from..], _epoch, from).Encode();
        storage.Set($"{PersistentState.StorageKey}.{_records + 1}", record);
        _records++;
        _recordBytes += record.Length;
    }

    /// <summary>Reads the checkpoint and, in order, the records of its epoch, and returns the state they add up to.</summary>
    /// <exception cref="InvalidDataException">Storage has no checkpoint, or what it holds does not add up to a whole, consistent state.</exception>
    public PersistentState Load()
    {
        byte[] data = storage.Get(PersistentState.StorageKey) is (byte[] d, true) ? d : throw new InvalidDataException($"storage has data but no '{PersistentState.StorageKey}' entry");
        PersistentState state = PersistentState.Decode(data);
        (_epoch, _records, _checkpointBytes, _recordBytes) = (state.Epoch, 0, data.Length, 0);
        List<LogEntry> log = [.. state.Log];
        while (storage.Get($"{PersistentState.StorageKey}.{_records + 1}") is (byte[] r, true) && PersistentState.Decode(r) is { } record && record.Epoch == _epoch)
        {
            if (record.From > log.Count)
            {
                throw new InvalidDataException($"stored Raft state is corrupt: record {_records + 1} starts at log index {record.From}, past the log's end at {log.Count}");
            }
            log.RemoveRange(record.From, log.Count - record.From);
            log.AddRange(record.Log);
            state = record;
            _records++;
            _recordBytes += r.Length;
        }
        return new PersistentState(state.CurrentTerm, state.VotedFor, log, _epoch);
    }
}

/// <summary>What a log entry keeps of its stored form (the rest of it is in ConsensusModule.cs).</summary>
public sealed partial record LogEntry
{
    /// <summary>The command's JSON, made once by Submit or when read back and carried to the followers; null for entries built by hand.</summary>
    internal byte[]? Json { get; init; }

    /// <summary>Two entries are equal when command and term are; the cached JSON does not count.</summary>
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
    /// <summary>Serializes registrations, which change both maps together.</summary>
    private static readonly Lock Mu = new();

    /// <summary>Registered types by name.</summary>
    private static readonly ConcurrentDictionary<string, Type> ByName = new()
    {
        ["int"] = typeof(int),
        ["long"] = typeof(long),
        ["double"] = typeof(double),
        ["bool"] = typeof(bool),
        ["string"] = typeof(string),
    };

    /// <summary>Registered names by type.</summary>
    private static readonly ConcurrentDictionary<Type, string> ByType = new(ByName.Select(e => KeyValuePair.Create(e.Value, e.Key)));

    private static readonly ConcurrentDictionary<Type, byte[]> Heads = new(); // by Head, once per type

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

    /// <summary>Encodes <paramref name="command"/> as JSON, checking it decodes to the same.</summary>
    /// <exception cref="ArgumentException">The type is not registered, or the command does not survive the round trip.</exception>
    internal static byte[] Encode(object command)
    {
        Type type = command.GetType();
        if (!ByType.ContainsKey(type))
        {
            throw new ArgumentException($"command type {type} is not registered for persistence; call CommandTypes.Register<{type.Name}>(\"some-name\") first", nameof(command));
        }
        byte[] json, again;
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
        // Typically unequal for a member that serializes but cannot be set back (no matching constructor).
        return json.AsSpan().SequenceEqual(again)
            ? json
            : throw new ArgumentException($"command {command} of type {type} cannot be persisted: it does not come back from JSON as it went in", nameof(command));
    }

    /// <summary>What a stored entry holds between its term and its command, <c>,"type":"int","command":</c>, for a registered type; made once per type.</summary>
    internal static byte[] Head(Type type) =>
        Heads.GetOrAdd(type, t => Encoding.UTF8.GetBytes($",\"type\":{JsonSerializer.Serialize(ByType[t])},\"command\":"));

    /// <summary>The type registered under <paramref name="name"/>.</summary>
    /// <exception cref="InvalidDataException">Nothing is registered under that name.</exception>
    internal static Type TypeOf(string name) =>
        ByName.TryGetValue(name, out Type? type)
            ? type
            : throw new InvalidDataException($"log entry has command type '{name}', which is not registered in this process");
}
