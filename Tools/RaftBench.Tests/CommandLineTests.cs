// The command line, read in this process: what it accepts, its help, and how it refuses the rest.
using FluentAssertions;
using Xunit;

namespace RaftBench;

public sealed class CommandLineTests
{
    /// <summary>Runs the command line; the benchmark itself is replaced by one that only keeps what it was asked.</summary>
    private static async Task<(int Code, BenchOptions? Options, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        BenchOptions? asked = null;
        int code = await Program.InvokeAsync(args, stdout, stderr, options =>
        {
            asked = options;
            return Task.FromResult(0);
        });
        return (code, asked, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task DefaultsAreRead()
    {
        var (code, options, _, stderr) = await Run();

        code.Should().Be(0, stderr);
        options!.Sizes.Should().Equal(1_000, 5_000, 10_000, 20_000);
        options.Scenario.Should().Be("all");
        options.JsonPath.Should().BeNull();
        options.KvClients.Should().Equal(1, 8, 32);
        options.KvSeconds.Should().Be(5);
        options.KvOps.Should().Equal("put", "get");
        (options.NoRpcDelay, options.LeaderChange, options.KvNullStorage).Should().Be((false, false, false));
    }

    [Fact]
    public async Task OptionsAreRead()
    {
        var (code, options, _, stderr) = await Run(
            "--n", "10,20", "--scenario", "kv", "--json", "out.json", "--no-rpc-delay", "--leader-change",
            "--kv-seconds", "0.5", "--kv-clients", "2", "--kv-ops", "put,get,echo", "--kv-null-storage");

        code.Should().Be(0, stderr);
        options!.Sizes.Should().Equal(10, 20);
        options.Scenario.Should().Be("kv");
        options.JsonPath.Should().Be("out.json");
        options.KvClients.Should().Equal(2);
        options.KvSeconds.Should().Be(0.5);
        options.KvOps.Should().Equal("put", "get", "echo");
        (options.NoRpcDelay, options.LeaderChange, options.KvNullStorage).Should().Be((true, true, true));
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task HelpListsEveryOptionAndItsDefault(string help)
    {
        var (code, options, stdout, stderr) = await Run(help);

        code.Should().Be(0);
        options.Should().BeNull("help runs no benchmark");
        stderr.Should().BeEmpty();
        stdout.Should().Contain("--n <N,N,...>").And.Contain("[default: 1000,5000,10000,20000]")
            .And.Contain("--scenario <burst|latency|election|kv|all>").And.Contain("[default: all]")
            .And.Contain("--no-rpc-delay").And.Contain("--leader-change").And.Contain("--json <FILE>")
            .And.Contain("--kv-seconds <SECONDS>").And.Contain("[default: 5]")
            .And.Contain("--kv-clients <N,N,...>").And.Contain("[default: 1,8,32]")
            .And.Contain("--kv-ops <put,get,echo>").And.Contain("[default: put,get]")
            .And.Contain("--kv-null-storage");
    }

    [Theory]
    [InlineData("--bogus", "RaftBench: Unrecognized command or argument '--bogus'.")]
    [InlineData("--n", "RaftBench: Required argument missing for option: '--n'.")]
    [InlineData("--n 1000,x", "RaftBench: --n takes positive whole numbers separated by commas, not '1000,x'")]
    [InlineData("--kv-clients 0", "RaftBench: --kv-clients takes positive whole numbers separated by commas, not '0'")]
    [InlineData("--kv-seconds x", "RaftBench: --kv-seconds takes a positive number, not 'x'")]
    [InlineData("--kv-seconds -1", "RaftBench: --kv-seconds takes a positive number, not '-1'")]
    [InlineData("--kv-ops put,del", "RaftBench: --kv-ops takes put, get and echo separated by commas, not 'put,del'")]
    [InlineData("--scenario fast", "RaftBench: --scenario takes burst, latency, election, kv or all, not 'fast'")]
    public async Task BadCommandLineExits2WithOneLine(string args, string line)
    {
        var (code, options, stdout, stderr) = await Run(args.Split(' '));

        code.Should().Be(2);
        options.Should().BeNull("nothing runs");
        stdout.Should().BeEmpty();
        stderr.Should().Be(line + Environment.NewLine, "one line, without the help");
    }
}
