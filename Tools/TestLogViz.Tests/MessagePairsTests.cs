// Pairing the log's lines into RPCs: on a real Part2 run with the network's numbered lines, on a
// real Part1 run from before them, on Go's line shapes, and on the hard cases written by hand.
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class MessagePairsTests
{
    /// <summary>A log made of (id, time, message) lines, in that order.</summary>
    private static ParsedLog Log(params (string Id, string Time, string Message)[] lines)
    {
        var log = new ParsedLog("TestX");
        log.Lines.AddRange(lines.Select(l => new LogLine(l.Time, l.Id, l.Message)));
        return log;
    }

    private const string Vote = "RequestVoteArgs { Term = 1, CandidateId = 0, LastLogIndex = -1, LastLogTerm = -1 }";
    private const string Beat = "AppendEntriesArgs { Term = 1, LeaderId = 0, PrevLogIndex = -1, PrevLogTerm = -1, Entries = [], LeaderCommit = -1 }";

    [Fact]
    public void PairsRealPart2RunByTheNetworksLines()
    {
        var log = LogParser.Parse(File.ReadAllText(LogParserTests.DataPath("TestCommitOneCommand.trx")))[0];

        var pairs = new MessagePairs(log);

        pairs.FromNetworkLines.Should().BeTrue();
        var lines = log.Lines;
        foreach (var m in pairs.All)
        {
            lines[m.SendRow].Id.Should().Be(m.From);
            lines[m.SendRow].Message.Should().StartWith($"sending {m.Kind} to {m.To}: ");
            if (m.ArriveRow >= 0)
            {
                lines[m.ArriveRow].Id.Should().Be(m.To);
                lines[m.ArriveRow].Message.Should().StartWith($"{m.Kind}: ").And.Contain(m.Args);
                lines[m.ReplyRow].Id.Should().Be(m.To);
                lines[m.BackRow].Should().Be(lines[m.BackRow] with { Id = m.From });
                lines[m.BackRow].Message.Should().Be($"net: #{m.NetId} {m.Kind} reply from {m.To} after {lines[m.BackRow].Message.Split(" after ")[1]}");
                m.ArriveRow.Should().BeGreaterThan(m.SendRow);
                m.BackRow.Should().BeGreaterThan(m.ReplyRow);
            }
        }
        pairs.All.Select(m => m.NetId).Where(id => id > 0).Should().OnlyHaveUniqueItems();

        // Server 1 wins term 2: its RequestVotes reach 2 (which grants) and 0 (which had voted for itself).
        var votes = pairs.All.Where(m => m.Kind == RpcKind.RequestVote && m.From == "1" && m.Args.Contains("Term = 2", StringComparison.Ordinal)).ToList();
        votes.Select(m => (m.To, m.Ok)).Should().BeEquivalentTo([("2", (bool?)true), ("0", false)]);

        // After "submitting 42 to 1" the leader sends the entry to each follower, which takes it.
        var entries = pairs.All.Where(m => m.Kind == RpcKind.AppendEntries && !m.Heartbeat).ToList();
        entries.Select(m => m.To).Should().BeEquivalentTo(["0", "2"]);
        entries.Should().AllSatisfy(m =>
        {
            m.Args.Should().Contain("Entries = [{42 2}]");
            m.Ok.Should().BeTrue();
            m.SendRow.Should().BeGreaterThan(lines.FindIndex(l => l.Message == "submitting 42 to 1"));
        });
        pairs.All.Count(m => m.Heartbeat).Should().BeGreaterThan(10);
    }

    [Fact]
    public void PairsOlderPart1RunByItsText()
    {
        var log = LogParser.Parse(File.ReadAllText(LogParserTests.DataPath("TestElectionFollowerComesBack.trx")))[0];

        var pairs = new MessagePairs(log);

        pairs.FromNetworkLines.Should().BeFalse();
        // Server 1 wins term 1 with both votes; both replies come back to it.
        var first = pairs.All.Where(m => m.Kind == RpcKind.RequestVote && m.From == "1").Take(2).ToList();
        first.Select(m => m.To).Should().BeEquivalentTo(["0", "2"]);
        first.Should().AllSatisfy(m =>
        {
            m.Ok.Should().BeTrue();
            m.BackRow.Should().BeGreaterThan(m.ReplyRow);
        });
        // While 2 is cut off, the heartbeats sent to it arrive nowhere, and its own RequestVotes are lost.
        int disconnect = log.Lines.FindIndex(l => l.Message == "Disconnect 2");
        int reconnect = log.Lines.FindIndex(l => l.Message == "Reconnect 2");
        var cutOff = pairs.All.Where(m => m.SendRow > disconnect + 2 && m.SendRow < reconnect && (m.To == "2" || m.From == "2")).ToList();
        cutOff.Should().NotBeEmpty().And.AllSatisfy(m => m.RequestLost.Should().BeTrue());
        // Part1's leader logs nothing when a heartbeat's reply comes back.
        pairs.All.First(m => m.Heartbeat && m.ArriveRow >= 0).Note.Should().Be("the log has no line where the reply reached the sender");
    }

    [Fact]
    public void PairsGoLinesByTextWithDropsAndDelays()
    {
        const string goVote = "{Term:1 CandidateId:0 LastLogIndex:-1 LastLogTerm:-1}";
        const string goBeat = "{Term:1 LeaderId:0 PrevLogIndex:-1 PrevLogTerm:-1 Entries:[] LeaderCommit:-1}";
        var log = Log(
            ("0", "10:00:00.000000", $"sending RequestVote to 1: {goVote}"),
            ("0", "10:00:00.000010", $"sending RequestVote to 2: {goVote}"),
            ("2", "10:00:00.000100", "drop RequestVote"),
            ("1", "10:00:00.003000", $"RequestVote: {goVote} [currentTerm=0, votedFor=-1, log index/term=(-1, -1)]"),
            ("1", "10:00:00.003100", "... RequestVote reply: {Term:1 VoteGranted:true}"),
            ("0", "10:00:00.003200", "received RequestVoteReply {Term:1 VoteGranted:true}"),
            ("0", "10:00:00.010000", $"sending AppendEntries to 1: ni=0, args={goBeat}"),
            ("1", "10:00:00.010100", "delay AppendEntries"),
            ("0", "10:00:00.060000", $"sending AppendEntries to 1: ni=0, args={goBeat}"),
            ("1", "10:00:00.062000", $"AppendEntries: {goBeat}"),
            ("1", "10:00:00.062100", "AppendEntries reply: {Term:1 Success:true}"),
            ("0", "10:00:00.062200", "AppendEntries reply from 1 success: nextIndex := map[1:0 2:0], matchIndex := map[1:-1 2:-1]; commitIndex := -1"),
            ("1", "10:00:00.085000", $"AppendEntries: {goBeat}"),
            ("1", "10:00:00.085100", "AppendEntries reply: {Term:1 Success:true}"),
            ("0", "10:00:00.085200", "AppendEntries reply from 1 success: nextIndex := map[1:0 2:0], matchIndex := map[1:-1 2:-1]; commitIndex := -1"));

        var pairs = new MessagePairs(log);

        pairs.FromNetworkLines.Should().BeFalse();
        pairs.All.Select(m => (m.Kind, m.To, m.SendRow, m.ArriveRow, m.ReplyRow, m.BackRow, m.LostRow, m.Held, m.Ok)).Should().Equal(
            (RpcKind.RequestVote, "1", 0, 3, 4, 5, -1, false, (bool?)true),
            (RpcKind.RequestVote, "2", 1, -1, -1, -1, 2, false, null),
            // The held heartbeat (75 ms in Go) is overtaken by the next copy of the same text.
            (RpcKind.AppendEntries, "1", 6, 12, 13, 14, -1, true, true),
            (RpcKind.AppendEntries, "1", 8, 9, 10, 11, -1, false, true));
        pairs.All[1].LostAtReceiver.Should().BeTrue();
        pairs.All.Should().AllSatisfy(m => m.Heartbeat.Should().Be(m.Kind == RpcKind.AppendEntries));
    }

    [Fact]
    public void NumberedLinesPairIdenticalCallsThatCrossed()
    {
        // Two identical heartbeats; the first is held 80 ms and arrives after the second. By text
        // alone they cannot be told apart; the network's numbers tell which is which.
        var log = Log(
            ("0", "10:00:00.000000", $"sending AppendEntries to 1: ni=0, args={Beat}"),
            ("1", "10:00:00.000100", "delay AppendEntries"),
            ("0", "10:00:00.050000", $"sending AppendEntries to 1: ni=0, args={Beat}"),
            ("1", "10:00:00.052100", "net: #8 AppendEntries from 0 arrives after 2.050 ms"),
            ("1", "10:00:00.052200", $"AppendEntries: {Beat}"),
            ("1", "10:00:00.052300", "AppendEntries reply: AppendEntriesReply { Term = 1, Success = True }"),
            ("0", "10:00:00.052400", "net: #8 AppendEntries reply from 1 after 2.390 ms"),
            ("1", "10:00:00.080100", "net: #7 AppendEntries from 0 arrives after 80.050 ms (held)"),
            ("1", "10:00:00.080200", $"AppendEntries: {Beat}"),
            ("1", "10:00:00.080300", "AppendEntries reply: AppendEntriesReply { Term = 1, Success = False }"),
            ("0", "10:00:00.080400", "net: #7 AppendEntries reply from 1 after 80.390 ms"));

        var pairs = new MessagePairs(log);

        pairs.FromNetworkLines.Should().BeTrue();
        pairs.All.Select(m => (m.NetId, m.SendRow, m.ArriveRow, m.ReplyRow, m.BackRow, m.Held, m.Ok, m.TravelMs)).Should().Equal(
            (7L, 0, 8, 9, 10, true, (bool?)false, (double?)80.05),
            (8L, 2, 4, 5, 6, false, true, 2.05));
    }

    [Fact]
    public void NumberedLinesPlaceLossesAndCallsThatNeverLeft()
    {
        var log = Log(
            ("0", "10:00:00.000000", $"sending RequestVote to 1: {Vote}"),
            ("0", "10:00:00.000010", $"sending RequestVote to 2: {Vote}"),
            ("1", "10:00:00.000100", "drop RequestVote"),
            ("0", "10:00:00.000200", "net: #1 RequestVote to 1 failed after 0.190 ms: RPC failed"),
            ("2", "10:00:00.003000", "net: #2 RequestVote from 0 arrives after 2.980 ms"),
            ("2", "10:00:00.003100", $"RequestVote: {Vote} [currentTerm=0, votedFor=-1, log index/term=(-1, -1)]"),
            ("2", "10:00:00.003200", "... RequestVote reply: RequestVoteReply { Term = 1, VoteGranted = True }"),
            ("2", "10:00:00.003300", "drop reply to RequestVote"),
            ("0", "10:00:00.003400", "net: #2 RequestVote to 2 failed after 3.380 ms: RPC failed: reply lost"),
            // Not connected: Server.CallAsync fails it before the network sees it.
            ("0", "10:00:00.050000", $"sending AppendEntries to 1: ni=0, args={Beat}"),
            // Dropped by the sender's own proxy (DropCallsAfterN).
            ("0", "10:00:00.050100", $"sending AppendEntries to 2: ni=0, args={Beat}"),
            ("0", "10:00:00.050200", $"drop Call ConsensusModule.AppendEntries: {Beat}"));

        var pairs = new MessagePairs(log);

        pairs.All.Select(m => (m.To, m.RequestLost, m.ReplyLost, m.LostRow, m.LostAtReceiver)).Should().Equal(
            ("1", true, false, 2, true),
            ("2", false, true, 7, true),
            ("1", true, false, -1, false),
            ("2", true, false, 11, false));
        pairs.All[1].ArriveRow.Should().Be(5);
        pairs.All[1].ReplyRow.Should().Be(6);
        pairs.All[1].Note.Should().Be("the reply was lost: RPC failed: reply lost");
        pairs.All[2].Note.Should().StartWith("never reached the network");
        pairs.All[3].Note.Should().Contain("drop Call");
    }

    [Fact]
    public void LogPastMidnightKeepsItsOrder()
    {
        var log = Log(
            ("0", "23:59:59.999000", $"sending RequestVote to 1: {Vote}"),
            ("1", "00:00:00.001100", "net: #3 RequestVote from 0 arrives after 2.050 ms"),
            ("1", "00:00:00.001200", $"RequestVote: {Vote} [currentTerm=0, votedFor=-1]"),
            ("1", "00:00:00.001300", "... RequestVote reply: RequestVoteReply { Term = 1, VoteGranted = True }"),
            ("0", "00:00:00.001400", "net: #3 RequestVote reply from 1 after 2.390 ms"));

        var m = new MessagePairs(log).All.Should().ContainSingle().Subject;

        (m.NetId, m.ArriveRow, m.BackRow, m.Ok).Should().Be((3L, 2, 4, (bool?)true));
    }
}
