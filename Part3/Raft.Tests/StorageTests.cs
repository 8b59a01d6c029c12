// Beyond upstream: storage and the bytes of the persistent state, including bad input.
using System.Text;
using FluentAssertions;
using Xunit;
using static Raft.Harness;

namespace Raft;

/// <summary>A command type a service might define, registered the way a service would.</summary>
public sealed record SampleCommand(string Key, int Value);

public sealed class StorageTests(ITestOutputHelper output)
{
    static StorageTests() => CommandTypes.Register<SampleCommand>("sample");

    [Fact]
    public void MapStorageKeepsItsOwnCopy()
    {
        var storage = new MapStorage();
        storage.HasData.Should().BeFalse();
        storage.Get("k").Found.Should().BeFalse();

        byte[] value = [1, 2, 3];
        storage.Set("k", value);
        value[0] = 9;

        storage.HasData.Should().BeTrue();
        var (stored, found) = storage.Get("k");
        found.Should().BeTrue();
        stored.Should().Equal(1, 2, 3);

        stored![1] = 9;
        storage.Get("k").Value.Should().Equal(1, 2, 3);
    }

    [Fact]
    public void StateRoundTripsWithEachCommandsOwnType()
    {
        var state = new PersistentState(7, 2,
        [
            new LogEntry(5, 1),
            new LogEntry("set x", 3),
            new LogEntry(new SampleCommand("x", 42), 7),
        ]);

        PersistentState back = PersistentState.Decode(state.Encode());

        back.CurrentTerm.Should().Be(7);
        back.VotedFor.Should().Be(2);
        back.Log.Should().Equal(state.Log);
        back.Log[0].Command.Should().BeOfType<int>();
        back.Log[1].Command.Should().BeOfType<string>();
        back.Log[2].Command.Should().BeOfType<SampleCommand>();
    }

    [Fact]
    public void EncodeWritesTheDocumentAJsonWriterWould()
    {
        // Encode copies bytes by hand for speed; this is the document it must match, byte for byte.
        var state = new PersistentState(12, -1,
        [
            new LogEntry(5, 1),
            new LogEntry("say \"<hi>\" ü", 10),
            new LogEntry(new SampleCommand("x", -42), 12),
        ]);
        var expected = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new System.Text.Json.Utf8JsonWriter(expected))
        {
            w.WriteStartObject();
            w.WriteNumber("epoch", 1);
            w.WriteNumber("from", 0);
            w.WriteNumber("currentTerm", 12);
            w.WriteNumber("votedFor", -1);
            w.WriteStartArray("log");
            foreach (var (term, type, command) in new (int, string, object)[] { (1, "int", 5), (10, "string", "say \"<hi>\" ü"), (12, "sample", new SampleCommand("x", -42)) })
            {
                w.WriteStartObject();
                w.WriteNumber("term", term);
                w.WriteString("type", type);
                w.WritePropertyName("command");
                w.WriteRawValue(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(command, command.GetType()));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }

        state.Encode().Should().Equal(expected.WrittenSpan.ToArray());
        new PersistentState(0, -1, []) { Epoch = 3, From = 7 }.Encode().Should().Equal(Encoding.UTF8.GetBytes("{\"epoch\":3,\"from\":7,\"currentTerm\":0,\"votedFor\":-1,\"log\":[]}"));
    }

    [Theory]
    [InlineData("", "corrupt")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":1,\"ty", "corrupt")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"log\":[]}", "'votedFor' is missing")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":\"three\",\"votedFor\":1,\"log\":[]}", "corrupt")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":1,\"type\":\"nope\",\"command\":1}]}", "'nope', which is not registered")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":4,\"type\":\"int\",\"command\":1}]}", "beyond currentTerm=3")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":2,\"type\":\"int\",\"command\":1},{\"term\":1,\"type\":\"int\",\"command\":2}]}", "out of order")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":-1,\"votedFor\":1,\"log\":[]}", "out of range")]
    [InlineData("{\"currentTerm\":3,\"votedFor\":1,\"log\":[]}", "'epoch' is missing")]
    [InlineData("{\"epoch\":0,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[]}", "epoch=0, from=0 are out of range")]
    [InlineData("{\"epoch\":1,\"from\":2,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":4,\"type\":\"int\",\"command\":1}]}", "log entry 2 has term 4")]
    public void CorruptStateFailsWithAClearMessage(string json, string expected)
    {
        Action decode = () => PersistentState.Decode(Encoding.UTF8.GetBytes(json));

        decode.Should().Throw<InvalidDataException>().WithMessage($"*{expected}*");
    }

    [Fact]
    public void ServerRefusesCorruptStorage()
    {
        var storage = new MapStorage();
        storage.Set(PersistentState.StorageKey, Encoding.UTF8.GetBytes("{\"currentTerm\":1"));
        var server = new Server(4, [0, 1], storage, Task.CompletedTask, System.Threading.Channels.Channel.CreateUnbounded<CommitEntry>().Writer);

        Action serve = server.Serve;

        serve.Should().Throw<InvalidDataException>().WithMessage("server 4: stored Raft state is corrupt*");
    }

    [Fact]
    public void StorageWithoutTheStateKeyIsRefused()
    {
        var storage = new MapStorage();
        storage.Set("something-else", [1]);
        var server = new Server(1, [0], storage, Task.CompletedTask, System.Threading.Channels.Channel.CreateUnbounded<CommitEntry>().Writer);

        Action serve = server.Serve;

        serve.Should().Throw<InvalidDataException>().WithMessage("server 1: storage has data but no 'raft' entry");
    }

    [Fact]
    public void UnregisteredCommandTypeIsRefusedBeforeItReachesTheLog()
    {
        var registerTwice = () => CommandTypes.Register<SampleCommand>("sample");
        registerTwice.Should().NotThrow("registering the same pair again is harmless");

        var reuseName = () => CommandTypes.Register<Guid>("sample");
        reuseName.Should().Throw<ArgumentException>().WithMessage("*'sample' is already registered*");

        var encode = () => new PersistentState(1, -1, [new LogEntry(Guid.Empty, 1)]).Encode();
        encode.Should().Throw<ArgumentException>().WithMessage("*Guid is not registered*CommandTypes.Register<Guid>*");
    }

    [Fact]
    public void PersisterWritesWhatChangedAndLoadsItBack()
    {
        var storage = new MapStorage();
        var persister = new Persister(storage);
        List<LogEntry> log = [];

        // The first save is a checkpoint; later ones are records of what changed.
        persister.Save(1, 0, log);
        storage.Get(PersistentState.StorageKey).Found.Should().BeTrue();
        for (int i = 0; i < 10; i++)
        {
            log.Add(new LogEntry(i, 1));
            persister.Save(1, 0, log);
        }
        byte[] tenth = storage.Get(Persister.RecordKey(10)).Value!;
        PersistentState.Decode(tenth).Should().Match<PersistentState>(r => r.From == 9 && r.Log.Count == 1, "a record holds only the new entry");

        // A new leader cuts the tail and writes its own entries, in a later term.
        log.RemoveRange(6, 4);
        log.Add(new LogEntry("x", 3));
        persister.Save(3, 2, log);
        persister.Save(4, -1, log);

        PersistentState back = new Persister(storage).Load();
        back.CurrentTerm.Should().Be(4);
        back.VotedFor.Should().Be(-1);
        back.Log.Should().Equal(log);
    }

    [Fact]
    public void PersisterWritesAreSmallWhateverTheLogsLength()
    {
        var storage = new CountingStorage();
        var persister = new Persister(storage);
        List<LogEntry> log = [];
        for (int i = 0; i < 5000; i++)
        {
            log.Add(new LogEntry(new SampleCommand("key", i), 1));
            persister.Save(1, 0, log);
        }

        // Now and then a checkpoint writes the whole log, but only once the records since the last
        // one add up to as much, so on average a write stays the size of a record or two; writing
        // the whole log every time would average 2,500 entries.
        long recordSize = storage.Get(Persister.RecordKey(1)).Value!.Length;
        ((double)storage.BytesWritten / storage.Writes).Should().BeLessThan(4 * recordSize);
        new Persister(storage).Load().Log.Should().Equal(log);
    }

    [Fact]
    public void PersisterIgnoresRecordsOfAnOlderCheckpoint()
    {
        var storage = new MapStorage();
        var persister = new Persister(storage);
        List<LogEntry> log = [new LogEntry(1, 1)];
        persister.Save(1, 0, log);
        log.Add(new LogEntry(2, 1));
        persister.Save(1, 0, log);
        log.Add(new LogEntry(3, 1));
        persister.Save(1, 0, log);

        // A later checkpoint, as Save writes it, leaves raft.1 and raft.2 of the old epoch behind.
        storage.Set(PersistentState.StorageKey, new PersistentState(2, 1, [new LogEntry(9, 2)]) { Epoch = 2 }.Encode());

        PersistentState back = new Persister(storage).Load();
        back.CurrentTerm.Should().Be(2);
        back.Log.Should().Equal(new LogEntry(9, 2));
    }

    [Fact]
    public void PersisterRefusesARecordThatDoesNotFit()
    {
        var storage = new MapStorage();
        storage.Set(PersistentState.StorageKey, new PersistentState(1, 0, [new LogEntry(1, 1)]).Encode());
        storage.Set(Persister.RecordKey(1), new PersistentState(1, 0, [new LogEntry(2, 1)]) { From = 5 }.Encode());

        Action load = () => new Persister(storage).Load();

        load.Should().Throw<InvalidDataException>().WithMessage("*record 1 starts at log index 5, past the log's end at 1*");
    }

    [Fact]
    public async Task TestRestartedServerSharesNothingWithItsPredecessor()
    {
        // A restarted server is rebuilt from bytes in storage alone. Its log holds equal
        // entries, but not one object of the server that crashed.
        await using var h = new Harness(output, 3);

        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();
        foreach (int v in new[] { 5, 6, 7 })
        {
            h.SubmitToServer(origLeaderId, v);
        }
        await SleepMs(250);
        h.CheckCommittedN(7, 3);

        int followerId = (origLeaderId + 1) % 3;
        ConsensusModule before = h.Cm(followerId);
        LogEntry[] oldLog;
        lock (before.Mu)
        {
            oldLog = [.. before.Log];
        }

        await h.CrashPeerAsync(followerId);
        await h.RestartPeerAsync(followerId);

        ConsensusModule after = h.Cm(followerId);
        after.Should().NotBeSameAs(before);
        LogEntry[] newLog;
        lock (after.Mu)
        {
            newLog = [.. after.Log];
        }

        newLog.Should().Equal(oldLog, "the restarted server must have the same log");
        for (int i = 0; i < newLog.Length; i++)
        {
            newLog[i].Should().NotBeSameAs(oldLog[i], $"entry {i} must be decoded anew");
            newLog[i].Command.Should().NotBeSameAs(oldLog[i].Command, $"entry {i}'s command must be decoded anew");
            newLog[i].Command.Should().BeOfType<int>("commands come back as their own type");
        }
    }

    /// <summary>A <see cref="MapStorage"/> that counts what is written to it.</summary>
    private sealed class CountingStorage : IStorage
    {
        private readonly MapStorage _inner = new();

        public long BytesWritten { get; private set; }

        public int Writes { get; private set; }

        public void Set(string key, byte[] value)
        {
            BytesWritten += value.Length;
            Writes++;
            _inner.Set(key, value);
        }

        public (byte[]? Value, bool Found) Get(string key) => _inner.Get(key);

        public bool HasData => _inner.HasData;
    }
}
