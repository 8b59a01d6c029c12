// The command line, read in this process: each command's help, and bad options and values refused
// in one line. (TestRunnerTests and TestRepeaterTests check what run and repeat refuse after that.)
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class CommandLineTests
{
    private static async Task<(int Code, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.InvokeAsync(args, new Terminal(null, stdout, stderr), TestContext.Current.CancellationToken);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task HelpListsTheLogTheOptionsAndTheCommands(string help)
    {
        var (code, stdout, stderr) = await Run(help);

        code.Should().Be(0);
        stderr.Should().BeEmpty();
        stdout.Should().Contain("<LOG>").And.Contain("--out <DIR>").And.Contain($"[default: {Path.GetTempPath()}]")
            .And.Contain("run <PART> <TEST_NAME>").And.Contain("repeat <PART> <TEST>");
    }

    [Fact]
    public async Task RunHelpListsItsArgumentsAndOptions()
    {
        var (code, stdout, stderr) = await Run("run", "--help");

        code.Should().Be(0);
        stderr.Should().BeEmpty();
        stdout.Should().Contain(" run <PART> <TEST_NAME> [<DOTNET_TEST_OPTION>...] [options]")
            .And.Contain("--seed <SEED>").And.NotContain("<LOG>", "the top level's argument is not run's");
    }

    [Fact]
    public async Task RepeatHelpListsEveryOptionAndItsDefault()
    {
        var (code, stdout, stderr) = await Run("repeat", "-h");

        code.Should().Be(0);
        stderr.Should().BeEmpty();
        stdout.Should().Contain(" repeat <PART> <TEST> [options]").And.NotContain("<LOG>")
            .And.MatchRegex(@"-n <RUNS>\s+how many times to run it \[default: 10\]")
            .And.MatchRegex(@"-p <PARALLEL>\s+.*\[default: 1\]")
            .And.MatchRegex(@"-c <CONFIGURATION>\s+.*\[default: Debug\]")
            .And.Contain("--seed <SEED>").And.Contain("(default: fresh seeds)")
            .And.Contain("--hashes <FILE>").And.Contain("--keep").And.Contain("--no-build");
    }

    [Theory]
    [InlineData("--bogus", "TestLogViz: Unrecognized command or argument '--bogus'.")]
    [InlineData("--out", "TestLogViz: Required argument missing for option: '--out'.")]
    [InlineData("a.trx b.trx", "TestLogViz: Unrecognized command or argument 'b.trx'.")]
    [InlineData("run Part1 TestX --seed x", "TestLogViz: --seed needs a whole number from 0 to 2147483647, not 'x'")]
    [InlineData("repeat Part1 TestX --fast", "TestLogViz repeat: Unrecognized command or argument '--fast'.")]
    [InlineData("repeat Part1 TestX -n x", "TestLogViz repeat: -n needs a number of runs, 1 or more, not 'x'")]
    public async Task BadOptionOrValueExits2WithOneLine(string args, string line)
    {
        var (code, stdout, stderr) = await Run(args.Split(' '));

        code.Should().Be(2);
        stdout.Should().BeEmpty();
        stderr.Should().Be(line + Environment.NewLine, "one line, without the help");
    }
}
