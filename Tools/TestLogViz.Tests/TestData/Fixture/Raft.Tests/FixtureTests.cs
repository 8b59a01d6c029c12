// What TestLogViz's tests run: a test that always passes, one that fails in the first run of a
// `repeat` through dotnet test (it reads the run's number), one that fails from seed 2 when
// `repeat` runs it in its own process, and one that waits in the second run until it is stopped.
// `run` runs the first, and must not also run the one whose name starts with it
// (TestAlwaysPasses2). Each writes a few lines in the shape of a Raft test's log, so its page has rows.
using Lab;
using Xunit;

namespace Fixture;

public sealed class FixtureTests(ITestOutputHelper output)
{
    /// <summary>Where the waiting test says it has started: a folder TestLogViz's tests name.</summary>
    public const string SignalVariable = "TESTLOGVIZ_FIXTURE_SIGNALS";

    private static string? Run => Environment.GetEnvironmentVariable("TESTLOGVIZ_REPEAT_RUN");

    [Fact]
    public void TestAlwaysPasses() => Log();

    [Fact]
    public void TestAlwaysPasses2() => Log();

    [Fact]
    public void TestFailsInFirstRun()
    {
        Log();
        Assert.True(Run != "1", "this test fails in run 1, on purpose");
    }

    [Fact]
    public void TestFailsOnSeed2()
    {
        // The seed `repeat` chose for this run (a fresh one under dotnet test).
        int seed = RunMode.NextSeed();
        Log();
        output.WriteLine($"10:00:00.003100 [TEST] seed {seed}");
        Assert.True(seed != 2, "this test fails from seed 2, on purpose");
    }

    [Fact]
    public async Task TestWaitsInSecondRun()
    {
        Log();
        if (Run == "2")
        {
            if (Environment.GetEnvironmentVariable(SignalVariable) is { Length: > 0 } signals)
            {
                await File.WriteAllTextAsync(Path.Combine(signals, "waiting-run-2"), "", TestContext.Current.CancellationToken);
            }
            await Task.Delay(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        }
    }

    private void Log()
    {
        output.WriteLine("10:00:00.000100 [0] becomes Candidate (currentTerm=1); log=[]");
        output.WriteLine("10:00:00.000200 [0] sending RequestVote to 1: RequestVoteArgs { Term = 1, CandidateId = 0, LastLogIndex = -1, LastLogTerm = -1 }");
        output.WriteLine("10:00:00.002300 [1] net: #1 RequestVote from 0 arrives after 2.000 ms");
        output.WriteLine("10:00:00.002400 [1] RequestVote: RequestVoteArgs { Term = 1, CandidateId = 0, LastLogIndex = -1, LastLogTerm = -1 } [currentTerm=0, votedFor=-1]");
        output.WriteLine("10:00:00.002500 [1] ... RequestVote reply: RequestVoteReply { Term = 1, VoteGranted = True }");
        output.WriteLine("10:00:00.002600 [0] net: #1 RequestVote reply from 1 after 2.300 ms");
        output.WriteLine("10:00:00.002700 [0] received RequestVoteReply RequestVoteReply { Term = 1, VoteGranted = True }");
        output.WriteLine("10:00:00.002800 [0] becomes Leader; term=1, log=[]");
        output.WriteLine($"10:00:00.003000 [TEST] run {Run}");
    }
}
