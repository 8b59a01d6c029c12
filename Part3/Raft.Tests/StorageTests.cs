// Beyond upstream: storage and the bytes of the persistent state, including bad input.
using System.Text;
using FluentAssertions;
using Xunit;

namespace Raft;

/// <summary>A command type a service might define, registered the way a service would.</summary>
public sealed record SampleCommand(string Key, int Value);

/// <summary>A registered command type that JSON cannot hold.</summary>
public sealed record DelegateCommand(Func<int> Make);

public sealed class StorageTests(ITestOutputHelper output)
{
    static StorageTests() => CommandTypes.Register<SampleCommand>("sample");

    [Theory]
    [InlineData("", "corrupt")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":1,\"ty", "corrupt")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"log\":[]}", "missing required properties including: 'votedFor'")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":1,\"type\":\"nope\",\"command\":1}]}", "'nope', which is not registered")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":4,\"type\":\"int\",\"command\":1}]}", "beyond currentTerm=3")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":3,\"votedFor\":1,\"log\":[{\"term\":2,\"type\":\"int\",\"command\":1},{\"term\":1,\"type\":\"int\",\"command\":2}]}", "out of order")]
    [InlineData("{\"epoch\":1,\"from\":0,\"currentTerm\":-1,\"votedFor\":1,\"log\":[]}", "out of range")]
    public void CorruptStateFailsWithAClearMessage(string json, string expected)
    {
        Action decode = () => PersistentState.Decode(Encoding.UTF8.GetBytes(json));

        decode.Should().Throw<InvalidDataException>().WithMessage($"*{expected}*");
    }

    [Fact]
    public void SavesAddUpToTheLastOneAfterARestart()
    {
        var storage = new MapStorage();
        var persister = new Persister(storage);
        var log = new List<LogEntry>();
        int saved = 0;
        for (int i = 0; i < 3000; i++)
        {
            // One more entry per save; every tenth save first cuts the last five, as a follower may.
            if (i % 10 == 9)
            {
                log.RemoveRange(log.Count - 5, 5);
                saved = Math.Min(saved, log.Count);
            }
            object command = (i % 3) switch { 0 => i, 1 => $"cmd {i}", _ => new SampleCommand("x", i) };
            log.Add(new LogEntry(command, 1 + (i / 100)));
            persister.Save(1 + (i / 100), i % 3, log, saved);
            saved = log.Count;
        }

        var restarted = new Persister(storage);
        PersistentState back = restarted.Load();
        back.Should().BeEquivalentTo(new { CurrentTerm = 30, VotedFor = 2999 % 3 });
        back.Log.Should().Equal(log, "each command comes back as its own type, equal to what was saved");
        back.Epoch.Should().BeGreaterThan(3, "the records outgrew a checkpoint several times");

        // The restarted server saves on where its predecessor stopped.
        log.Add(new LogEntry("after", 31));
        restarted.Save(31, -1, log, saved);
        new Persister(storage).Load().Log.Should().Equal(log);
    }

    [Theory]
    [InlineData("raft", "{\"currentTerm\":1", "stored Raft state is corrupt*")]
    [InlineData("something-else", "1", "storage has data but no 'raft' entry")]
    public void ServerRefusesCorruptStorage(string key, string value, string expected)
    {
        var storage = new MapStorage();
        storage.Set(key, Encoding.UTF8.GetBytes(value));
        var server = new Server(4, [0, 1], storage, Task.CompletedTask, System.Threading.Channels.Channel.CreateUnbounded<CommitEntry>().Writer);

        Action serve = server.Serve;

        serve.Should().Throw<InvalidDataException>().WithMessage(expected);
    }

    [Fact]
    public void WhatCannotBeStoredIsRefusedBeforeItReachesTheLog()
    {
        var registerTwice = () => CommandTypes.Register<SampleCommand>("sample");
        registerTwice.Should().NotThrow("registering the same pair again is harmless");
        var reuseName = () => CommandTypes.Register<Guid>("sample");
        reuseName.Should().Throw<ArgumentException>().WithMessage("*'sample' is already registered*");

        // Submit encodes a command before it takes the lock; upstream finds out in a later write, its state half changed.
        CommandTypes.Register<DelegateCommand>("test.delegate");
        object[] bad = [double.NaN, double.PositiveInfinity, new DelegateCommand(() => 1), Guid.Empty];
        foreach (object cmd in bad)
        {
            var encode = () => CommandTypes.Encode(cmd);
            encode.Should().Throw<ArgumentException>().WithMessage(cmd is Guid ? "*Guid is not registered*CommandTypes.Register<Guid>*" : "*cannot be persisted*", $"{cmd} cannot be stored");
        }
    }

    [Fact]
    public async Task TestRestartedServerSharesNothingWithItsPredecessor()
    {
        // A restarted server is rebuilt from bytes in storage alone: equal entries, not one shared object.
        await using var h = new Harness(output, 3);

        var (origLeaderId, _) = await h.CheckSingleLeaderAsync();
        h.SubmitToServer(origLeaderId, 5);
        h.SubmitToServer(origLeaderId, 6);
        await h.WaitCommittedAsync(6, 3);

        int followerId = (origLeaderId + 1) % 3;
        IReadOnlyList<LogEntry> oldLog = h.Cm(followerId).Status().Log;
        await h.CrashPeerAsync(followerId);
        await h.RestartPeerAsync(followerId);
        IReadOnlyList<LogEntry> newLog = h.Cm(followerId).Status().Log;

        newLog.Should().Equal(oldLog, "the restarted server must have the same log, each command of its own type");
        newLog.Zip(oldLog).Should().OnlyContain(p => !ReferenceEquals(p.First, p.Second) && !ReferenceEquals(p.First.Command, p.Second.Command),
            "every entry and command must be decoded anew");
    }
}
