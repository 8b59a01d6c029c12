// What TestRepeaterTests repeats: a test that always passes, one that fails in the second run only
// (it reads the run's number, which `repeat` gives each run), and one that waits long enough to be
// stopped midway. TestRunnerTests runs the first with `run`, which must not also run the one
// whose name starts with it (TestAlwaysPasses2). Each writes a few lines in the shape of a Raft
// test's log, so its page has rows.
using Xunit;

namespace Fixture;

public sealed class FixtureTests(ITestOutputHelper output)
{
    [Fact]
    public void TestAlwaysPasses() => Log();

    [Fact]
    public void TestAlwaysPasses2() => Log();

    [Fact]
    public void TestFailsOnSecondRun()
    {
        Log();
        Assert.True(Environment.GetEnvironmentVariable("TESTLOGVIZ_REPEAT_RUN") != "2", "this test fails in run 2, on purpose");
    }

    [Fact]
    public async Task TestWaitsLong()
    {
        Log();
        await Task.Delay(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
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
        output.WriteLine($"10:00:00.003000 [TEST] run {Environment.GetEnvironmentVariable("TESTLOGVIZ_REPEAT_RUN")}");
    }
}
