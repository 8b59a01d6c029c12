// The live ribbons laid out from a log's lines, on a clock the test moves by hand.
using FluentAssertions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace RaftPlayground;

public sealed class TimelineTests
{
    [Fact]
    public void BackToBackCandidateTermsAreOneSegment()
    {
        var clock = new FakeTimeProvider();
        var log = new LiveLog(2, clock);
        ILogger logger = log;

        // Server 0 cut off: a candidate in term 2, 3, ... 11, 300 ms each, with no gap between them.
        clock.Advance(TimeSpan.FromMilliseconds(1000));
        for (int term = 2; term <= 11; term++)
        {
            logger.LogDebug("[0] becomes Candidate (currentTerm={Term}); log=[]", term);
            clock.Advance(TimeSpan.FromMilliseconds(300));
        }
        logger.LogDebug("[0] becomes Follower with term=12; log=[]");
        // Server 1 a leader, once.
        logger.LogDebug("[1] becomes Leader; term=12, nextIndex=map[], matchIndex=map[]; log=[]");
        clock.Advance(TimeSpan.FromMilliseconds(2000)); // 6 s in all

        TimelineView t = Timeline.Of(log);
        SegmentView run = t.Lanes[0].Segments.Should().ContainSingle().Subject;
        run.State.Should().Be("Candidate");
        run.Term.Should().BeNull("it spans ten terms");
        run.Title.Should().Be("Server 0: Candidate (10 times, terms 2 to 11), 1.0 s to 4.0 s");
        run.Left.Should().Be(1.667, "1 s of the ribbon's 60, in %, to 3 places");
        run.Width.Should().Be(5);
        SegmentView leader = t.Lanes[1].Segments.Should().ContainSingle().Subject;
        leader.Term.Should().Be(12);
        leader.Title.Should().Be("Server 1: Leader (term 12), 4.0 s to now");
    }
}
