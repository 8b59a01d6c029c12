// How this part's tests share the machine: side by side, a few at a time, the long ones first.
using System.Reflection;
using Xunit;
using Xunit.Sdk;
using Xunit.v3;

// Every test may run beside any other, whatever its class: each builds a cluster of its own and
// shares nothing with the others (every server reads the fault switches for itself, and the
// in-process network has no ports). A test that must see the whole process to itself says so
// with [Fact(DisableParallelization = true)] and a comment why; xUnit runs it when no other is running.
//
// At most MaxThreads tests run at once: xUnit's conservative algorithm starts a test only when
// one of that many slots is free, and a test holds its slot until it ends, awaits included. So
// no more than that many clusters ever tick at once, whatever the number of tests. A cluster
// costs little CPU (mostly timers and the simulated network's delays), but its elections and
// heartbeats must run on time. Six clusters on two cores still leave the scheduler room: most
// tests spend their time in upstream's sleeps. Measured on 2 cores, Part3's suite took 15.2 s
// at four at once and 11.5 s at six (Part1 7.7 and 6.8 s; eight gained Part1 0.2 s more).
// Green runs at six, alone, beside a Part5Kv loop and in Raft.sln: see issue 18's note.
[assembly: Parallelization(Mode = ParallelMode.All, MaxThreads = 6)]

// One collection for the whole assembly: in ParallelMode.All collections no longer keep tests
// apart, and one collection lets the orderer below order every class.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]
[assembly: TestClassOrderer(typeof(Raft.LongTestsFirst))]
[assembly: TestMethodOrderer(typeof(Raft.LongTestsFirst))]

// The whole run holds a light pass at the machine gate (MachineGate.cs): six of these clusters share
// 2 cores well with each other and with heavy work, but beside a KV part's clusters they slow
// its commits past its clients' attempts. So they take turns with KV clusters, whatever runs them.
[assembly: AssemblyFixture(typeof(Raft.LightPass))]

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

/// <summary>This test run's light pass at the <see cref="MachineGate"/>, from before its first test to after its last.</summary>
public sealed class LightPass : IAsyncLifetime
{
    private MachineGate.Pass? _pass;

    public async ValueTask InitializeAsync() => _pass = await MachineGate.EnterAsync(GateRole.Light);

    public ValueTask DisposeAsync()
    {
        _pass?.Dispose();
        return ValueTask.CompletedTask;
    }
}
