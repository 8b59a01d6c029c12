// Beyond upstream: storage and the bytes of the persistent state, including bad input.
using System.Text;
using FluentAssertions;
using Xunit;

namespace Raft;

/// <summary>A command type a service might define, registered the way a service would.</summary>
public sealed record SampleCommand(string Key, int Value);

public sealed class StorageTests
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
        new PersistentState(0, -1, []).Encode().Should().Equal(Encoding.UTF8.GetBytes("{\"currentTerm\":0,\"votedFor\":-1,\"log\":[]}"));
    }

    [Theory]
    [InlineData("", "corrupt")]
    [InlineData("{\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":1,\"ty", "corrupt")]
    [InlineData("{\"currentTerm\":3,\"log\":[]}", "'votedFor' is missing")]
    [InlineData("{\"currentTerm\":\"three\",\"votedFor\":1,\"log\":[]}", "corrupt")]
    [InlineData("{\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":1,\"type\":\"nope\",\"command\":1}]}", "'nope', which is not registered")]
    [InlineData("{\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":4,\"type\":\"int\",\"command\":1}]}", "beyond currentTerm=3")]
    [InlineData("{\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":2,\"type\":\"int\",\"command\":1},{\"term\":1,\"type\":\"int\",\"command\":2}]}", "out of order")]
    [InlineData("{\"currentTerm\":-1,\"votedFor\":1,\"log\":[]}", "out of range")]
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
}
