// How this part's tests share the machine: side by side, a few at a time, the long ones first.
using System.Reflection;
using Xunit;
using Xunit.Sdk;
using Xunit.v3;

// Every test may run beside any other, whatever its class: each builds a cluster of its own and
// shares nothing with the others (each simulation has its own thread, clock and randoms, and the
// in-process network has no ports). A test that must see the whole process to itself says so
// with [Fact(DisableParallelization = true)] and a comment why; xUnit runs it when no other is running.
//
// At most MaxThreads tests run at once. A simulated test keeps one core busy while it runs (a
// cluster's seconds take it milliseconds), so more than the cores gain little; with
// RAFT_REAL_TIME=1 the clusters spend their time in upstream's sleeps, and six share 2 cores well.
[assembly: Parallelization(Mode = ParallelMode.All, MaxThreads = 6)]

// One collection for the whole assembly: in ParallelMode.All collections no longer keep tests
// apart, and one collection lets the orderer below order every class.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]
[assembly: TestClassOrderer(typeof(Raft.LongTestsFirst))]
[assembly: TestMethodOrderer(typeof(Raft.LongTestsFirst))]

namespace Raft;

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
