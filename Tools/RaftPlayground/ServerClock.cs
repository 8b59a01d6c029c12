// One server's view of the cluster's clock: the same time, but a "time out now" can move it on,
// so that its election timer runs out at the next tick without any part's code knowing.
using Lab;

namespace RaftPlayground;

/// <summary>
/// The run's <see cref="VirtualClock"/> as one server reads it: its timers are the run's, and its
/// timestamps are the run's plus an offset that only <see cref="RunOutElectionTimer"/> changes. A
/// consensus module measures its election timeout as the time since a timestamp of its clock, so
/// moving its clock on by what was left of the timeout makes the next tick see it run out, as if
/// it had heard nothing for that long; its other timers (ticks, heartbeats) are unchanged.
/// </summary>
internal sealed class ServerClock(VirtualClock run) : TimeProvider
{
    /// <summary>Ticks this server's clock is ahead of the run's; only grows. Used on the simulation's thread.</summary>
    public long Offset { get; private set; }

    public override long TimestampFrequency => run.TimestampFrequency;

    public override long GetTimestamp() => run.GetTimestamp() + Offset;

    /// <summary>Stamps stay the run's: a server's log lines keep cluster time.</summary>
    public override DateTimeOffset GetUtcNow() => run.GetUtcNow();

    public override TimeZoneInfo LocalTimeZone => run.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        run.CreateTimer(callback, state, dueTime, period);

    /// <summary>Moves this server's clock on by <paramref name="left"/>: what remained of its election timeout.</summary>
    public void RunOutElectionTimer(TimeSpan left)
    {
        if (left > TimeSpan.Zero)
        {
            Offset += left.Ticks;
        }
    }
}
