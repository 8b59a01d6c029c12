// The command line: what it accepts, and how it refuses what it does not.
using System.Diagnostics;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

public sealed class CommandLineTests
{
    [Fact]
    public void DefaultsAreUpstreams()
    {
        var (options, error) = CommandLine.Parse([]);
        error.Should().BeNull();
        options.Should().Be(new PlaygroundOptions { Servers = 5, Port = 8080, KvPortBase = 14200, Bind = "127.0.0.1" });
        options!.KvPortList.Should().Equal(14200, 14201, 14202, 14203, 14204);
    }

    [Fact]
    public void OptionsAreRead()
    {
        var (options, error) = CommandLine.Parse(["--servers", "3", "--port", "0", "--kv-port-base", "0", "--bind", "0.0.0.0"]);
        error.Should().BeNull();
        options.Should().Be(new PlaygroundOptions { Servers = 3, Port = 0, KvPortBase = 0, Bind = "0.0.0.0" });
        options!.KvPortList.Should().Equal(0, 0, 0);
    }

    [Fact]
    public void WatchOnlyIsAFlag()
    {
        var (options, error) = CommandLine.Parse(["--watch-only", "--bind", "0.0.0.0"]);
        error.Should().BeNull();
        options.Should().Be(new PlaygroundOptions { Bind = "0.0.0.0", WatchOnly = true });
    }

    [Theory]
    [InlineData("127.0.0.1", false, null)]
    [InlineData("::1", false, null)]
    [InlineData("0.0.0.0", false, "warning: listening on 0.0.0.0: anyone who can reach it can crash servers and write keys; add --watch-only to let other machines only watch")]
    [InlineData("::", true, "warning: listening on ::: anyone who can reach it can watch the cluster; only this machine can crash servers or write keys (--watch-only)")]
    public void NonLoopbackBindWarns(string bind, bool watchOnly, string? want) =>
        new PlaygroundOptions { Bind = bind, WatchOnly = watchOnly }.BindWarning().Should().Be(want);

    [Theory]
    [InlineData("--servers 4", "--servers must be 3 or 5")]
    [InlineData("--servers", "--servers needs a value")]
    [InlineData("--port 70000", "--port 70000 is not a usable port")]
    [InlineData("--port -1", "--port wants a number")]
    [InlineData("--kv-port-base 80", "--kv-port-base 80 is not a usable port")]
    [InlineData("--bind localhost", "--bind wants an IP address")]
    [InlineData("--verbose", "unknown option '--verbose'")]
    public void BadOptionsAreRefused(string args, string wantError)
    {
        var (options, error) = CommandLine.Parse(args.Split(' '));
        options.Should().BeNull();
        error.Should().StartWith(wantError);
    }

    [Fact]
    public async Task BadOptionExitsWith2AndUsage()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "RaftPlayground.dll");
        var start = new ProcessStartInfo("dotnet", [dll, "--servers", "7"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        CancellationToken ct = TestContext.Current.CancellationToken;
        string stderr = await process.StandardError.ReadToEndAsync(ct);
        await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);

        process.ExitCode.Should().Be(2);
        string[] lines = stderr.Split('\n');
        lines[0].Should().Be("RaftPlayground: --servers must be 3 or 5, not 7");
        lines[1].Should().StartWith("usage: ");
    }
}
