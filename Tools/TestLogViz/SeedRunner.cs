// Runs a simulated part's tests in this process, each time from a seed chosen here: how `repeat`
// tries hundreds of seeds in seconds, where a `dotnet test` per run would take seconds each.
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.Loader;
using Lab;

namespace TestLogViz;

/// <summary>One test method of a built test assembly: its name, and whether it must run alone.</summary>
internal sealed record TestMethod(string Name, Type Class, MethodInfo Method, bool Alone);

/// <summary>How one run of a test ended: PASS, FAIL or SKIP, why it failed, its log lines and how long it took.</summary>
internal sealed record SeedRun(string Status, IReadOnlyList<string> Failure, IReadOnlyList<string> Lines, TimeSpan Took);

/// <summary>
/// A part's built test assembly, loaded into this process, whose test methods it runs as xUnit
/// would (a new instance of the class, an output helper, the method awaited, the instance
/// disposed), with the seed of each run set through <see cref="RunMode.UseSeed"/>: the harness
/// of a simulated test takes it from there.
/// </summary>
internal sealed class SeedRunner
{
    /// <summary>How long one run may take in real time before it counts as failed: a simulated test takes milliseconds.</summary>
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(1);

    private SeedRunner(IReadOnlyList<TestMethod> tests)
    {
        Tests = tests;
    }

    /// <summary>The assembly's [Fact] methods, in the order of their classes and source.</summary>
    public IReadOnlyList<TestMethod> Tests { get; }

    /// <summary>
    /// Loads <paramref name="dll"/> and what it needs from its folder. What this program has too
    /// (the lab, the logging abstractions) is shared, so the seed set here is the one the tests read.
    /// </summary>
    public static SeedRunner Load(string dll)
    {
        var resolver = new AssemblyDependencyResolver(dll);
        AssemblyLoadContext.Default.Resolving += (context, name) =>
            resolver.ResolveAssemblyToPath(name) is { } path ? context.LoadFromAssemblyPath(path) : null;
        Assembly assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(dll);
        var tests = new List<TestMethod>();
        foreach (Type type in assembly.GetExportedTypes().Where(t => t.IsClass && !t.IsAbstract).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            foreach (MethodInfo method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance).OrderBy(m => m.MetadataToken))
            {
                if (method.GetCustomAttributes().FirstOrDefault(a => a.GetType().Name == "FactAttribute") is { } fact)
                {
                    bool alone = fact.GetType().GetProperty("DisableParallelization")?.GetValue(fact) is true;
                    tests.Add(new TestMethod(method.Name, type, method, alone));
                }
            }
        }
        return new SeedRunner(tests);
    }

    /// <summary>Runs <paramref name="test"/> once, its simulation seeded with <paramref name="seed"/>.</summary>
    public static async Task<SeedRun> RunAsync(TestMethod test, int seed)
    {
        RunMode.UseSeed(seed);
        // Every run is recorded, so that a failing one's page gets the player; RAFT_RECORD=0 says not to.
        RunMode.UseRecording(RunMode.RecordSwitch ?? true);
        ConstructorInfo ctor = test.Class.GetConstructors().Single();
        // The one parameter a test class here takes: the framework's output helper (xUnit's ITestOutputHelper).
        OutputHelper? output = ctor.GetParameters() is [{ ParameterType: { IsInterface: true } helper }]
            ? (OutputHelper)DispatchProxy.Create(helper, typeof(OutputHelper))
            : null;
        var clock = Stopwatch.StartNew();
        object? instance = null;
        try
        {
            instance = ctor.Invoke(output is null ? [] : [output]);
            Task run = test.Method.Invoke(instance, null) switch
            {
                Task task => task,
                ValueTask valueTask => valueTask.AsTask(),
                _ => Task.CompletedTask,
            };
            // Back on the thread pool whatever happened: a test that fails before it leaves its
            // simulation ends on the simulation's thread, and the next run must not start there.
            Task first = await Task.WhenAny(run, Task.Delay(RunLimit)).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            if (first != run)
            {
                return new SeedRun("FAIL", [$"did not end within {RunLimit.TotalSeconds:0} s of real time"], Lines(output), clock.Elapsed);
            }
            await run;
            return new SeedRun("PASS", [], Lines(output), clock.Elapsed);
        }
        catch (Exception e)
        {
            Exception cause = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
            return cause.GetType().Name == "SkipException"
                ? new SeedRun("SKIP", [cause.Message], Lines(output), clock.Elapsed)
                : new SeedRun("FAIL", cause.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToList(), Lines(output), clock.Elapsed);
        }
        finally
        {
            if (instance is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
            else if (instance is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
    }

    private static IReadOnlyList<string> Lines(OutputHelper? output) => output?.Lines() ?? [];

    /// <summary>The test's output: its lines kept here, as xUnit keeps them for a test's result.</summary>
#pragma warning disable CA1852 // DispatchProxy derives the proxy from this class, so it must not be sealed.
    public class OutputHelper : DispatchProxy
#pragma warning restore CA1852
    {
        private readonly List<string> _lines = [];

        /// <summary>The lines written so far.</summary>
        public IReadOnlyList<string> Lines()
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            string? text = args switch
            {
                [string s] => s,
                [string format, object?[] values] => string.Format(CultureInfo.InvariantCulture, format, values),
                _ => null,
            };
            lock (_lines)
            {
                switch (targetMethod?.Name)
                {
                    case "WriteLine":
                        _lines.Add(text ?? "");
                        return null;
                    case "Write" when _lines.Count > 0:
                        _lines[^1] += text;
                        return null;
                    case "Write":
                        _lines.Add(text ?? "");
                        return null;
                    case "get_Output":
                        return string.Join('\n', _lines);
                    default:
                        return null;
                }
            }
        }
    }
}
