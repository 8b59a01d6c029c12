// How this part's tests share the machine: four at a time, through a gate shared with every other test process, the long ones first.
using System.Reflection;
using Xunit;
using Xunit.Sdk;
using Xunit.v3;

// Every test may run beside any other, whatever its class: each builds a cluster of its own and
// shares nothing with the others (every service listens on a free port of its own, and every
// Raft server reads the fault switches for itself). A test that must see the whole process to
// itself says so with [Fact(DisableParallelization = true)] and a comment why; xUnit runs it when
// no other is running.
//
// At most MaxThreads tests run at once: xUnit's conservative algorithm starts a test only when
// one of that many slots is free, and a test holds its slot until it ends, awaits included. So
// no more than that many clusters ever tick at once in this process. A KV cluster also serves
// HTTP, and its tests count on a commit inside the client's 250 ms attempt, and on a leader
// that stays leader through a few requests. Four at once are green alone, but beside a browser, a
// child `dotnet test` or another suite's clusters (Raft.sln runs two suites at once) heartbeats
// and commits stall: a late heartbeat hands leadership on under a test that has just found the
// leader, or a resend is answered DuplicateRequest, as upstream's service answers it. So every
// cluster also takes a place at the MachineGate, shared by every test process of this repository
// on the machine: at most four KV clusters at once in all of them, and none while anything else
// holds a pass (browsers, child builds and test runs, benchmarks, and whole runs of Part1-3's and
// the playground's tests). Four take Part4Kv from 17 to 9.4 s and Part5Kv from 27 to 11.6 s
// (median of 50 runs alone); see issue 18's note for the runs beside other suites.
[assembly: Parallelization(Mode = ParallelMode.All, MaxThreads = 4)]

// One collection for the whole assembly: in ParallelMode.All collections no longer keep tests
// apart, and one collection lets the orderer below order every class.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]
[assembly: TestClassOrderer(typeof(Kv.Tests.LongTestsFirst))]
[assembly: TestMethodOrderer(typeof(Kv.Tests.LongTestsFirst))]

namespace Kv.Tests;

/// <summary>
/// Marks a test that takes several times longer than most (seconds, not hundreds of
/// milliseconds). It starts before the others, so the run never waits for it at the end.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class LongTestAttribute : Attribute;

/// <summary>
/// The order tests start in: classes holding a [LongTest] first, and in each class its
/// [LongTest] methods first; otherwise in the order of the source file. The tests take free
/// slots in this order, so the long ones start first and the short ones fill in beside them.
/// </summary>
public sealed class LongTestsFirst : ITestClassOrderer, ITestMethodOrderer
{
    public IReadOnlyCollection<TTestClass?> OrderTestClasses<TTestClass>(IReadOnlyCollection<TTestClass?> testClasses)
        where TTestClass : notnull, ITestClass =>
        [.. testClasses.OrderBy(c => HasLongTest(ClassOf(c)) ? 0 : 1).ThenBy(c => c?.TestClassName, StringComparer.Ordinal)];

    public IReadOnlyCollection<TTestMethod?> OrderTestMethods<TTestMethod>(IReadOnlyCollection<TTestMethod?> testMethods)
        where TTestMethod : notnull, ITestMethod =>
        [.. testMethods.OrderBy(m => IsLong(MethodOf(m)) ? 0 : 1).ThenBy(m => MethodOf(m)?.MetadataToken ?? 0)];

    private static Type? ClassOf(ITestClass? testClass) => (testClass as IXunitTestClass)?.Class;

    private static MethodInfo? MethodOf(ITestMethod? testMethod) => (testMethod as IXunitTestMethod)?.Method;

    private static bool IsLong(MethodInfo? method) => method?.GetCustomAttribute<LongTestAttribute>() is not null;

    private static bool HasLongTest(Type? testClass) =>
        testClass?.GetMethods(BindingFlags.Public | BindingFlags.Instance).Any(IsLong) ?? false;
}
