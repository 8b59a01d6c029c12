// The command line: what it accepts, and how it refuses what it does not.
using System.Diagnostics;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

public sealed class CommandLineTests
{
    /// <summary>Runs the command line in this process; the playground is not started, only the options it would get are kept.</summary>
    private static async Task<(int Code, PlaygroundOptions? Options, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        PlaygroundOptions? asked = null;
        int code = await CommandLine.InvokeAsync(args, stdout, stderr, options =>
        {
            asked = options;
            return Task.FromResult(0);
        });
        return (code, asked, stdout.ToString(), stderr.ToString());
    }

    private static async Task<(PlaygroundOptions? Options, string? Error)> Parse(params string[] args)
    {
        var (code, options, _, stderr) = await Run(args);
        return code == 0 ? (options, null) : (options, stderr);
    }

    [Fact]
    public async Task DefaultsAreUpstreams()
    {
        var (options, error) = await Parse();
        error.Should().BeNull();
        options.Should().Be(new PlaygroundOptions { Servers = 5, Port = 8080, KvPortBase = 14200, Bind = "127.0.0.1" });
        options!.KvPortList.Should().Equal(14200, 14201, 14202, 14203, 14204);
    }

    [Fact]
    public async Task OptionsAreRead()
    {
        var (options, error) = await Parse(["--servers", "3", "--port", "0", "--kv-port-base", "0", "--bind", "0.0.0.0"]);
        error.Should().BeNull();
        options.Should().Be(new PlaygroundOptions { Servers = 3, Port = 0, KvPortBase = 0, Bind = "0.0.0.0" });
        options!.KvPortList.Should().Equal(0, 0, 0);
    }

    [Fact]
    public async Task WatchOnlyIsAFlag()
    {
        var (options, error) = await Parse(["--watch-only", "--bind", "0.0.0.0"]);
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
    [InlineData("--servers 4", "--servers must be 3 or 5, not 4")]
    [InlineData("--servers x", "--servers wants a number, not 'x'")]
    [InlineData("--servers", "Required argument missing for option: '--servers'.")]
    [InlineData("--port 70000", "--port 70000 is not a usable port")]
    [InlineData("--port -1", "--port wants a number, not '-1'")]
    [InlineData("--kv-port-base 80", "--kv-port-base 80 is not a usable port")]
    [InlineData("--bind localhost", "--bind wants an IP address, not 'localhost'")]
    [InlineData("--verbose", "Unrecognized command or argument '--verbose'.")]
    [InlineData("3", "Unrecognized command or argument '3'.")]
    public async Task BadOptionsAreRefusedInOneLine(string args, string wantError)
    {
        var (code, options, stdout, stderr) = await Run(args.Split(' '));

        code.Should().Be(2);
        options.Should().BeNull("the playground does not start");
        stdout.Should().BeEmpty();
        stderr.Should().Be($"RaftPlayground: {wantError}{Environment.NewLine}", "one line, without the help");
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task HelpListsEveryOptionAndItsDefault(string help)
    {
        var (code, options, stdout, stderr) = await Run(help);

        code.Should().Be(0);
        options.Should().BeNull("help starts no playground");
        stderr.Should().BeEmpty();
        stdout.Should().Contain("--servers <N>").And.Contain("[default: 5]")
            .And.Contain("--port <PORT>").And.Contain("[default: 8080]")
            .And.Contain("--kv-port-base <PORT>").And.Contain("[default: 14200]")
            .And.Contain("--bind <ADDRESS>").And.Contain("[default: 127.0.0.1]")
            .And.Contain("--watch-only");
    }

    [Fact]
    public async Task BadOptionExitsWith2AndOneLine()
    {
        // The program itself, to see that its exit code and stderr are the command line's.
        string dll = Path.Combine(AppContext.BaseDirectory, "RaftPlayground.dll");
        var start = new ProcessStartInfo("dotnet", [dll, "--servers", "7"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        CancellationToken ct = TestContext.Current.CancellationToken;
        string stderr = await process.StandardError.ReadToEndAsync(ct);
        await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);

        process.ExitCode.Should().Be(2);
        stderr.Should().Be("RaftPlayground: --servers must be 3 or 5, not 7" + Environment.NewLine);
    }
}
