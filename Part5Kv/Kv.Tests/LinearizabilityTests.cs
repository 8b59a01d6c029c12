// Tests of the linearizability checker: hand-made histories, histories from a simulated store with
// and without injected anomalies, and a large history that must be checked quickly.
using System.Diagnostics;
using FluentAssertions;
using Kv.Service;
using Xunit;

namespace Kv.Tests;

public sealed class LinearizabilityTests(ITestOutputHelper output)
{
    /// <summary>Seeds for the simulated histories; fixed, so a failure can be replayed.</summary>
    public static TheoryData<int> Seeds => [.. Enumerable.Range(1, 20)];

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

    /// <summary>A CAS that timed out may have swapped, but only if its compare value matched.</summary>
    [Fact]
    public void TestTimedOutCASSwapsOnlyOnAMatch()
    {
        var put = Op(1, OpKind.Put, "k", "a", 0, 1, "", false);

        foreach (var (compare, seen, ok) in new[] { ("a", "a", true), ("a", "b", true), ("zz", "a", true), ("zz", "b", false) })
        {
            var cas = Failed(1, OpKind.CAS, "k", "b", 2) with { Compare = compare };
            KvOperation[] history = [put, cas, Op(2, OpKind.Get, "k", null, 10, 11, seen, true)];
            Linearizability.Check(history).Ok.Should().Be(ok, $"CAS(\"{compare}\", \"b\") and then a Get of \"{seen}\"");
        }
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

    /// <summary>A correct store, seen through clients that overlap and sometimes time out, is accepted.</summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void TestSimulatedStoreIsLinearizable(int seed)
    {
        var plan = Plan(new Random(seed), clients: 5, keys: 3, opsPerClient: 40, failRate: 0.05);

        var result = Linearizability.Check(Run(plan));

        result.Ok.Should().BeTrue(result.Explain());
    }

    /// <summary>A Get answers the value a write had replaced before the Get was even called.</summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void TestSimulatedStaleReadIsRejected(int seed)
    {
        var rnd = new Random(seed);
        var plan = Plan(rnd, clients: 5, keys: 3, opsPerClient: 40, failRate: 0);
        var history = Run(plan);

        // A Get, and a write that changed its key and returned before the Get began.
        var candidates = (
            from g in history.Index()
            where g.Item.Kind == OpKind.Get
            from w in history
            where w.Key == g.Item.Key && w.Return < g.Item.Call && ChangesValue(w)
            select (Get: g.Index, Write: w)).ToList();
        var (get, write) = candidates[rnd.Next(candidates.Count)];
        history[get] = history[get] with { Output = write.Output };

        ExpectRejected(history, history[get]);
    }

    /// <summary>A Put or an Append answers as if applied, but the store never changes.</summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void TestSimulatedLostWriteIsRejected(int seed)
    {
        var rnd = new Random(seed);
        var plan = Plan(rnd, clients: 5, keys: 3, opsPerClient: 40, failRate: 0);
        int target = PickObserved(rnd, Run(plan), k => k is OpKind.Put or OpKind.Append);

        var history = Run(plan, Anomaly.LostWrite, target);

        ExpectRejected(history, history[target]);
    }

    /// <summary>An Append is applied twice, as a retried request without duplicate detection would be.</summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void TestSimulatedDoubleAppendIsRejected(int seed)
    {
        var rnd = new Random(seed);
        var plan = Plan(rnd, clients: 5, keys: 3, opsPerClient: 40, failRate: 0);
        int target = PickObserved(rnd, Run(plan), k => k is OpKind.Append);

        var history = Run(plan, Anomaly.DoubleAppend, target);

        ExpectRejected(history, history[target]);
    }

    /// <summary>
    /// 10,000 operations over 10 keys from 5 clients, 1% of them with unknown outcomes, checked well
    /// within 2 s. Timed several times, since the first run also pays for compiling the checker.
    /// </summary>
    [Fact]
    public void TestLargeHistoryIsCheckedQuickly()
    {
        var history = Run(Plan(new Random(42), clients: 5, keys: 10, opsPerClient: 2_000, failRate: 0.01));
        history.Should().HaveCount(10_000);

        for (int run = 0; run < 5; run++)
        {
            var sw = Stopwatch.StartNew();
            var result = Linearizability.Check(history);
            sw.Stop();
            output.WriteLine($"run {run}: {sw.ElapsedMilliseconds} ms");

            result.Ok.Should().BeTrue();
            sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
        }
    }

    private void ExpectRejected(List<KvOperation> history, KvOperation culprit)
    {
        var result = Linearizability.Check(history);
        output.WriteLine(result.Explain());

        result.Ok.Should().BeFalse();
        result.BadKey.Should().Be(culprit.Key, "only the culprit's key was harmed");
        result.BadOperations.Should().Contain(culprit);
    }

    /// <summary>Whether a completed write changed its key's value: always for Put and Append.</summary>
    private static bool ChangesValue(KvOperation op) => op.Kind switch
    {
        OpKind.Put or OpKind.Append => true,
        OpKind.CAS => op.Output is { Found: true } o && o.Value == op.Compare,
        _ => false,
    };

    /// <summary>
    /// Picks an operation of a wanted kind that some later operation on its key could notice: one that
    /// begins after it returned. Without a witness, a harmed write is indistinguishable from a good one.
    /// </summary>
    private static int PickObserved(Random rnd, List<KvOperation> history, Func<OpKind, bool> kind)
    {
        var candidates = history.Index()
            .Where(w => kind(w.Item.Kind) && history.Any(o => o.Key == w.Item.Key && o.Call > w.Item.Return))
            .Select(w => w.Index)
            .ToList();
        return candidates[rnd.Next(candidates.Count)];
    }

    /// <summary>The ways <see cref="Run"/> can break the store for one operation.</summary>
    private enum Anomaly
    {
        None,
        LostWrite,
        DoubleAppend,
    }

    /// <summary>
    /// One operation of a simulated client: it takes effect at <see cref="Point"/>, somewhere between
    /// its call and its return. <see cref="Fails"/> hides its outcome from the client; a failed operation
    /// may still have been <see cref="Applied"/>.
    /// </summary>
    private sealed record Planned(
        int Id, int Client, OpKind Kind, string Key, long Call, long Point, long Return, bool CompareMatches, bool Fails, bool Applied);

    /// <summary>
    /// Plans each client's operations one after another, each taking effect at a random point
    /// inside its random interval; intervals of different clients overlap freely.
    /// </summary>
    private static List<Planned> Plan(Random rnd, int clients, int keys, int opsPerClient, double failRate)
    {
        var plan = new List<Planned>(clients * opsPerClient);
        for (int c = 0; c < clients; c++)
        {
            long t = 0;
            for (int i = 0; i < opsPerClient; i++)
            {
                long call = t + rnd.Next(1, 6);
                long point = call + rnd.Next(0, 11);
                long ret = point + rnd.Next(0, 11);
                var kind = rnd.Next(20) switch
                {
                    < 7 => OpKind.Get,
                    < 12 => OpKind.Put,
                    < 17 => OpKind.Append,
                    _ => OpKind.CAS,
                };
                bool fails = rnd.NextDouble() < failRate;
                bool applied = !fails || rnd.Next(2) == 0;
                plan.Add(new Planned(plan.Count, c, kind, $"k{rnd.Next(keys)}", call, point, ret, rnd.Next(2) == 0, fails, applied));
                t = ret;
            }
        }
        return plan;
    }

    /// <summary>
    /// Applies the plan to a real <see cref="DataStore"/> in order of the points where operations take
    /// effect, and records what each client saw. Every written string is unique (it names its
    /// operation), so a value, once replaced, never comes back: that is what makes each anomaly visible.
    /// </summary>
    private static List<KvOperation> Run(List<Planned> plan, Anomaly anomaly = Anomaly.None, int target = -1)
    {
        var ds = new DataStore();
        var history = new KvOperation[plan.Count];
        foreach (var p in plan.OrderBy(p => p.Point).ThenBy(p => p.Id))
        {
            var (current, found) = ds.Get(p.Key);
            string? value = p.Kind switch
            {
                OpKind.Put => $"P{p.Id};",
                OpKind.Append => $"A{p.Id};",
                OpKind.CAS => $"C{p.Id};",
                _ => null,
            };
            string? compare = p.Kind == OpKind.CAS ? (p.CompareMatches ? current : "nope") : null;

            (string Value, bool Found) result = (current, found);
            if (p.Applied)
            {
                var broken = p.Id == target ? anomaly : Anomaly.None;
                result = (p.Kind, broken) switch
                {
                    (OpKind.Get, _) => result,
                    (_, Anomaly.LostWrite) => result,
                    (OpKind.Put, _) => ds.Put(p.Key, value!),
                    (OpKind.Append, Anomaly.DoubleAppend) => AppendTwice(ds, p.Key, value!),
                    (OpKind.Append, _) => ds.Append(p.Key, value!),
                    _ => ds.CAS(p.Key, compare!, value!),
                };
            }
            var seen = p.Fails ? null : new KvOutput(result.Value, result.Found);
            history[p.Id] = new KvOperation(p.Client, p.Kind, p.Key, value, compare, seen, p.Call, p.Fails ? long.MaxValue : p.Return);
        }
        return [.. history];

        // The client hears back from the first; the second is the duplicate it never sees.
        static (string, bool) AppendTwice(DataStore ds, string key, string value)
        {
            var first = ds.Append(key, value);
            ds.Append(key, value);
            return first;
        }
    }
}
