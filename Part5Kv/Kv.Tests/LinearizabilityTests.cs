// Tests of the linearizability checker: hand-made histories, histories from a simulated store with
// and without injected anomalies, and a large history that must be checked quickly.
using FluentAssertions;
using Xunit;

namespace Kv.Tests;

public sealed class LinearizabilityTests
{
    /// <summary>Builds an operation that answered <paramref name="value"/> and <paramref name="found"/>.</summary>
    private static KvOperation Op(int client, OpKind kind, string key, string? v, long call, long ret, string value, bool found, string? compare = null) =>
        new(client, kind, key, v, compare, new KvOutput(value, found), call, ret);

    /// <summary>Builds an operation whose outcome the client never learned.</summary>
    private static KvOperation Failed(int client, OpKind kind, string key, string? v, long call) =>
        new(client, kind, key, v, null, null, call, long.MaxValue);

    [Fact]
    public void TestSequentialHistoryIsLinearizable()
    {
        KvOperation[] history =
        [
            Op(1, OpKind.Get, "k", null, 0, 1, "", false),
            Op(1, OpKind.Put, "k", "a", 2, 3, "", false),
            Op(2, OpKind.Append, "k", "b", 4, 5, "a", true),
            Op(1, OpKind.CAS, "k", "c", 6, 7, "ab", true, compare: "xx"),
            Op(2, OpKind.CAS, "k", "c", 8, 9, "ab", true, compare: "ab"),
            Op(1, OpKind.Get, "k", null, 10, 11, "c", true),
            Op(1, OpKind.CAS, "other", "c", 12, 13, "", false, compare: ""),
            Op(2, OpKind.Get, "other", null, 14, 15, "", false),
        ];

        Linearizability.Check(history).Ok.Should().BeTrue();
    }

    /// <summary>A Get that overlaps a Put may see the value before it or after it.</summary>
    [Fact]
    public void TestConcurrentPutGetEitherOrder()
    {
        var put = Op(1, OpKind.Put, "k", "new", 10, 20, "old", true);
        KvOperation[] before = [Op(1, OpKind.Put, "k", "old", 0, 1, "", false), put];

        foreach (string seen in new[] { "old", "new" })
        {
            KvOperation[] history = [.. before, Op(2, OpKind.Get, "k", null, 12, 18, seen, true)];
            Linearizability.Check(history).Ok.Should().BeTrue($"the Get may see \"{seen}\"");
        }
    }

    /// <summary>Two concurrent Appends may go in either order, as their previous values say.</summary>
    [Fact]
    public void TestConcurrentAppendsInTheOrderTheirResultsSay()
    {
        KvOperation[] history =
        [
            Op(1, OpKind.Append, "k", "x", 0, 10, "y", true),
            Op(2, OpKind.Append, "k", "y", 1, 9, "", false),
            Op(3, OpKind.Get, "k", null, 11, 12, "yx", true),
        ];

        Linearizability.Check(history).Ok.Should().BeTrue();
    }

    [Fact]
    public void TestReadOfValueNeverWritten()
    {
        KvOperation[] history =
        [
            Op(1, OpKind.Put, "k", "a", 0, 10, "", false),
            Op(2, OpKind.Get, "k", null, 5, 15, "b", true),
        ];

        var result = Linearizability.Check(history);

        result.Ok.Should().BeFalse();
        result.BadKey.Should().Be("k");
        result.BadOperations.Should().Equal(history);
    }

    /// <summary>Once a newer write has completed, a later read must not see the older value.</summary>
    [Fact]
    public void TestReadGoesBackInTime()
    {
        KvOperation[] history =
        [
            Op(1, OpKind.Put, "k", "old", 0, 1, "", false),
            Op(1, OpKind.Put, "k", "new", 2, 3, "old", true),
            Op(2, OpKind.Get, "k", null, 4, 5, "new", true),
            Op(2, OpKind.Get, "k", null, 6, 7, "old", true),
        ];

        Linearizability.Check(history).Ok.Should().BeFalse();
    }

    [Fact]
    public void TestTwoAppendsClaimTheSamePrev()
    {
        KvOperation[] history =
        [
            Op(1, OpKind.Put, "k", "a", 0, 1, "", false),
            Op(1, OpKind.Append, "k", "b", 2, 10, "a", true),
            Op(2, OpKind.Append, "k", "c", 3, 9, "a", true),
        ];

        Linearizability.Check(history).Ok.Should().BeFalse();
    }

    /// <summary>The report names the failing key with the fewest operations, and only its operations.</summary>
    [Fact]
    public void TestNamesTheSmallestBadKey()
    {
        KvOperation[] history =
        [
            // "big": three operations, not linearizable.
            Op(1, OpKind.Put, "big", "a", 0, 1, "", false),
            Op(1, OpKind.Get, "big", null, 2, 3, "a", true),
            Op(1, OpKind.Get, "big", null, 4, 5, "z", true),
            // "good": fine.
            Op(2, OpKind.Put, "good", "a", 0, 1, "", false),
            // "small": two operations, not linearizable.
            Op(3, OpKind.Put, "small", "a", 0, 1, "", false),
            Op(3, OpKind.Get, "small", null, 2, 3, "", false),
        ];

        var result = Linearizability.Check(history);

        result.Ok.Should().BeFalse();
        result.BadKey.Should().Be("small");
        result.BadOperations.Should().Equal(history[4], history[5]);
        result.Explain().Should().Contain("\"small\"").And.Contain("client 3 [2, 3] Get(\"small\")");
    }

    /// <summary>A Put that timed out may have happened or not: later reads may see either.</summary>
    [Fact]
    public void TestTimedOutPutMayOrMayNotHaveHappened()
    {
        KvOperation[] before =
        [
            Op(1, OpKind.Put, "k", "old", 0, 1, "", false),
            Failed(1, OpKind.Put, "k", "new", 2),
        ];

        foreach (string seen in new[] { "old", "new" })
        {
            KvOperation[] history = [.. before, Op(2, OpKind.Get, "k", null, 10, 11, seen, true)];
            Linearizability.Check(history).Ok.Should().BeTrue($"the Get may see \"{seen}\"");
        }

        // But it cannot have happened before its call, nor be undone once seen.
        KvOperation[] early = [.. before, Op(2, OpKind.Get, "k", null, 0, 1, "new", true)];
        Linearizability.Check(early).Ok.Should().BeFalse("the Put was not called yet");
        KvOperation[] undone =
        [
            .. before,
            Op(2, OpKind.Get, "k", null, 10, 11, "new", true),
            Op(2, OpKind.Get, "k", null, 12, 13, "old", true),
        ];
        Linearizability.Check(undone).Ok.Should().BeFalse("the Put happened at most once");
    }

    /// <summary>A failed Get is dropped, whatever else it carries.</summary>
    [Fact]
    public void TestFailedGetIsIgnored()
    {
        KvOperation[] history =
        [
            Op(1, OpKind.Put, "k", "a", 0, 1, "", false),
            Failed(2, OpKind.Get, "k", null, 2),
            Op(1, OpKind.Get, "k", null, 3, 4, "a", true),
        ];

        Linearizability.Check(history).Ok.Should().BeTrue();
        Linearizability.Check([history[1]]).Ok.Should().BeTrue();
    }
}
