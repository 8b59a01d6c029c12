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
// one IStorage.Set, so storage holds the state from before a save or after it, never a mix.
// Persister.cs decides what that one write holds: the whole state, or only what changed.
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Raft;

/// <summary>
/// A CM's persistent state (Figure 2: currentTerm, votedFor, log) as one stored document, so one
/// Set writes all three. <see cref="Epoch"/> and <see cref="From"/> serve <see cref="Persister"/>,
/// which writes only what changed: a whole state has <see cref="From"/> 0.
/// </summary>
internal sealed record PersistentState(int CurrentTerm, int VotedFor, IReadOnlyList<LogEntry> Log)
{
    /// <summary>The storage key of the checkpoint; records go under "raft.1", "raft.2" and so on.</summary>
    public const string StorageKey = "raft";

    /// <summary>Which checkpoint this document belongs to: a record counts only if it has its checkpoint's epoch.</summary>
    public int Epoch { get; init; } = 1;

    /// <summary>The log index of <see cref="Log"/>'s first entry: whatever the log held from there on is replaced.</summary>
    public int From { get; init; }

    /// <summary>Encodes the state: <c>{"epoch":1,"from":0,"currentTerm":2,"votedFor":1,"log":[{"term":1,"type":"int","command":5}]}</c>.</summary>
    /// <remarks>
    /// A checkpoint runs over every entry of the log, under the CM's lock, so this does as little
    /// per entry as it can: each entry's part of the document is made once (see <see cref="StoredForm"/>)
    /// and every later write only copies it, into one array of the exact size. A JSON writer would
    /// format every entry anew and grow its buffer, copying a multi-megabyte state several times.
    /// </remarks>
    public byte[] Encode()
    {
        var parts = new byte[Log.Count][];
        long size = Header.Length + Digits(Epoch) + FromProperty.Length + Digits(From) + CurrentTermProperty.Length + Digits(CurrentTerm) + VotedForProperty.Length + Digits(VotedFor) + LogProperty.Length + Footer.Length;
        for (int i = 0; i < Log.Count; i++)
        {
            parts[i] = StoredForm(Log[i]);
            size += (i > 0 ? 1 : 0) + parts[i].Length;
        }

        byte[] bytes = new byte[size];
        var rest = bytes.AsSpan();
        Put(ref rest, Header);
        PutNumber(ref rest, Epoch);
        Put(ref rest, FromProperty);
        PutNumber(ref rest, From);
        Put(ref rest, CurrentTermProperty);
        PutNumber(ref rest, CurrentTerm);
        Put(ref rest, VotedForProperty);
        PutNumber(ref rest, VotedFor);
        Put(ref rest, LogProperty);
        for (int i = 0; i < parts.Length; i++)
        {
            if (i > 0)
            {
                Put(ref rest, ","u8);
            }
            Put(ref rest, parts[i]);
        }
        Put(ref rest, Footer);
        Debug.Assert(rest.IsEmpty, "the size worked out above is the size written");
        return bytes;
    }

    /// <summary>Type names as JSON strings, escaped once each, as Utf8JsonWriter escapes them.</summary>
    private static readonly ConcurrentDictionary<string, byte[]> EscapedTypeNames = new();

    /// <summary>
    /// <paramref name="entry"/>'s part of the document, <c>{"term":1,"type":"int","command":5}</c>,
    /// made by the first write that needs it and kept on the entry. Entries never change and are
    /// shared by the servers' logs, so all of them reuse it; two threads making it at once make
    /// the same bytes, and either copy will do.
    /// </summary>
    private static byte[] StoredForm(LogEntry entry)
    {
        if (entry.Stored is { } stored)
        {
            return stored;
        }
        EncodedCommand encoded = entry.Encoded ?? CommandTypes.Encode(entry.Command);
        byte[] typeName = EscapedTypeNames.GetOrAdd(encoded.TypeName, name => JsonEncodedText.Encode(name).EncodedUtf8Bytes.ToArray());
        byte[] part = new byte[TermProperty.Length + Digits(entry.Term) + TypeProperty.Length + typeName.Length + CommandProperty.Length + encoded.Json.Length + 1];
        var rest = part.AsSpan();
        Put(ref rest, TermProperty);
        PutNumber(ref rest, entry.Term);
        Put(ref rest, TypeProperty);
        Put(ref rest, typeName);
        Put(ref rest, CommandProperty);
        Put(ref rest, encoded.Json);
        Put(ref rest, "}"u8);
        entry.Stored = part;
        return part;
    }

    // The fixed parts of the document, in the order Encode writes them.
    private static ReadOnlySpan<byte> Header => "{\"epoch\":"u8;

    private static ReadOnlySpan<byte> FromProperty => ",\"from\":"u8;

    private static ReadOnlySpan<byte> CurrentTermProperty => ",\"currentTerm\":"u8;

    private static ReadOnlySpan<byte> VotedForProperty => ",\"votedFor\":"u8;

    private static ReadOnlySpan<byte> LogProperty => ",\"log\":["u8;

    private static ReadOnlySpan<byte> TermProperty => "{\"term\":"u8;

    private static ReadOnlySpan<byte> TypeProperty => ",\"type\":\""u8;

    private static ReadOnlySpan<byte> CommandProperty => "\",\"command\":"u8;

    private static ReadOnlySpan<byte> Footer => "]}"u8;

    /// <summary>Copies <paramref name="text"/> to the start of <paramref name="rest"/> and moves past it.</summary>
    private static void Put(ref Span<byte> rest, ReadOnlySpan<byte> text)
    {
        text.CopyTo(rest);
        rest = rest[text.Length..];
    }

    /// <summary>Writes <paramref name="n"/> in decimal, as JSON writes an integer, and moves past it.</summary>
    private static void PutNumber(ref Span<byte> rest, int n)
    {
        Utf8Formatter.TryFormat(n, rest, out int written);
        rest = rest[written..];
    }

    /// <summary>How many bytes <paramref name="n"/> takes in decimal, the sign included.</summary>
    private static int Digits(int n)
    {
        Span<byte> scratch = stackalloc byte[11];
        Utf8Formatter.TryFormat(n, scratch, out int written);
        return written;
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
            int epoch = Field(root, "epoch").GetInt32();
            int from = Field(root, "from").GetInt32();
            int currentTerm = Field(root, "currentTerm").GetInt32();
            int votedFor = Field(root, "votedFor").GetInt32();
            var log = new List<LogEntry>();
            foreach (JsonElement e in Field(root, "log").EnumerateArray())
            {
                int term = Field(e, "term").GetInt32();
                string typeName = Field(e, "type").GetString() ?? "";
                JsonElement commandJson = Field(e, "command");
                object command = commandJson.Deserialize(CommandTypes.TypeOf(typeName))
                    ?? throw new InvalidDataException($"log entry {from + log.Count} has a null command");
                // The stored bytes are kept, so the next write of this entry need not encode it again.
                var encoded = new EncodedCommand(typeName, JsonSerializer.SerializeToUtf8Bytes(commandJson));
                log.Add(new LogEntry(command, term) { Encoded = encoded });
            }

            if (epoch < 1 || from < 0)
            {
                throw new InvalidDataException($"epoch={epoch}, from={from} are out of range");
            }
            Validate(currentTerm, votedFor, log, from);
            return new PersistentState(currentTerm, votedFor, log) { Epoch = epoch, From = from };
        }
        catch (Exception e) when (e is not InvalidDataException)
        {
            // Truncated or garbled bytes, a value of the wrong kind (a string for a term), or a
            // command its type cannot be built from: whatever the cause, the storage is unusable.
            throw new InvalidDataException($"stored Raft state is corrupt: {e.Message}", e);
        }
    }

    /// <summary>
    /// Checks that the terms make sense: none negative, none beyond currentTerm, and never
    /// falling along the log. <paramref name="from"/> is the log index of <paramref name="log"/>'s first entry.
    /// </summary>
    /// <exception cref="InvalidDataException">They do not; the message says where.</exception>
    public static void Validate(int currentTerm, int votedFor, IReadOnlyList<LogEntry> log, int from = 0)
    {
        if (currentTerm < 0 || votedFor < -1)
        {
            throw new InvalidDataException($"currentTerm={currentTerm}, votedFor={votedFor} are out of range");
        }
        for (int i = 0; i < log.Count; i++)
        {
            if (log[i].Term < 0 || log[i].Term > currentTerm || (i > 0 && log[i].Term < log[i - 1].Term))
            {
                throw new InvalidDataException($"log entry {from + i} has term {log[i].Term}, out of order or beyond currentTerm={currentTerm}");
            }
        }
    }

    /// <summary>A required property of a JSON object.</summary>
    private static JsonElement Field(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out JsonElement value)
            ? value
            : throw new InvalidDataException($"stored Raft state is corrupt: '{name}' is missing");
}

/// <summary>
/// What a log entry keeps of its stored form (the rest of it is in ConsensusModule.cs), so that
/// no command or entry is encoded twice however often the log is written.
/// </summary>
public sealed partial record LogEntry
{
    /// <summary>
    /// The command as storage holds it, made once by Submit and carried along to the followers,
    /// so writing the log never serializes a command twice. Null only for entries built by hand.
    /// </summary>
    internal EncodedCommand? Encoded { get; init; }

    /// <summary>The entry as the stored log holds it, made by the first write of it and reused by every later one.</summary>
    internal byte[]? Stored { get; set; }

    /// <summary>Two entries are equal when command and term are; the cached encodings do not count.</summary>
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
