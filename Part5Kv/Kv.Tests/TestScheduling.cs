// How this part's tests share the machine: side by side, a few at a time, the long ones first.
using System.Reflection;
using Xunit;
using Xunit.Sdk;
using Xunit.v3;

// Every test may run beside any other, whatever its class: each builds a cluster of its own and
// shares nothing with the others. A system test's cluster runs on a simulation of its own (its
// own thread, virtual clock, randoms and in-memory HTTP), so no other test, and no other work on
// the machine, can change what it does. The few tests about the wire itself run on Kestrel and
// the system clock, beside the others: what they time must hold on a busy machine anyway (a
// learner's browser and IDE are load too), and the one about a fresh service's first request,
// whose service runs in a process of its own, starts first, so the run never waits for it at the end.
//
// At most MaxThreads tests run at once. A simulated test keeps one core busy while it runs (a
// cluster's seconds take it milliseconds), so more than the cores gain little.
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
