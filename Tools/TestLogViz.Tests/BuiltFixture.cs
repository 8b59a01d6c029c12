// TestData/RepeatFixture, copied to a temporary folder and built there once for the whole test run:
// the tests of `repeat` and of `run` then run its tests with --no-build, as many times as they
// need, without paying for a build (or a restore) each.
using System.Diagnostics;
using Xunit;

[assembly: AssemblyFixture(typeof(TestLogViz.BuiltFixture))]

namespace TestLogViz;

/// <summary>
/// A miniature repository with one part, Fixture, whose tests pass, fail in run 2 only, or wait
/// to be stopped. Nothing is copied or built until a test asks for <see cref="RootAsync"/>, so a
/// run of the other tests alone does not pay for it.
/// </summary>
public sealed class BuiltFixture : IAsyncDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("testlogviz-fixture-");
    private readonly Lazy<Task<string>> _built;

    public BuiltFixture() => _built = new(BuildAsync);

    /// <summary>The fixture's top folder, once it is built (the first caller builds it, the others wait).</summary>
    public Task<string> RootAsync() => _built.Value;

    /// <summary>Where `repeat` puts run N of TEST in the fixture.</summary>
    public static string RunDir(string root, string test, int run) =>
        Path.Combine(root, "artifacts", "testlogs", "Fixture", "repeat-" + test, $"run-{run}");

    private async Task<string> BuildAsync()
    {
        string from = LogParserTests.DataPath("RepeatFixture");
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(_root.FullName, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        // This repository's package versions, so the restore finds them in the package cache.
        File.Copy(Path.Combine(TestRunnerTests.RepositoryRoot(), "Directory.Packages.props"), Path.Combine(_root.FullName, "Directory.Packages.props"));

        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            WorkingDirectory = _root.FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "build", Path.Combine("Fixture", "Fixture.slnx"), "-c", "Debug", "--nologo", "-v", "q" })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"the repeat fixture did not build (exit {process.ExitCode}):\n{await stdout}{await stderr}");
        }
        return _root.FullName;
    }

    public async ValueTask DisposeAsync()
    {
        if (_built.IsValueCreated)
        {
            try
            {
                await _built.Value;
            }
            catch (InvalidOperationException)
            {
                // It did not build; the test that asked for it has said so.
            }
        }
        try
        {
            _root.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A build node may still hold a file for a moment; the temp folder is cleaned eventually.
        }
    }
}
