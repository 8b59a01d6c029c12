// A clock for the tests that moves only when a test moves it.
namespace Raft;

/// <summary>
/// A <see cref="TimeProvider"/> whose time stands still until <see cref="Advance"/> moves it on.
/// Advance fires every timer that falls due on the way, in order of due time, with the clock
/// reading that due time; the callbacks run on the caller's thread, never under the clock's lock
/// (a callback may itself create or change timers). Time starts at zero.
/// </summary>
internal sealed class ManualClock : TimeProvider
{
    /// <summary>Guards <see cref="_now"/> and <see cref="_timers"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>The timers waiting for their due time (few at any moment: a list is enough).</summary>
    private readonly List<ManualTimer> _timers = [];

    /// <summary>The time now, in ticks.</summary>
    private long _now;

    /// <summary>How far the clock has moved since it was made.</summary>
    public TimeSpan Now
    {
        get
        {
            lock (_mu)
            {
                return TimeSpan.FromTicks(_now);
            }
        }
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        lock (_mu)
        {
            return _now;
        }
    }

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch + Now;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves time on by <paramref name="by"/>, firing each timer due on the way when the clock reaches it.</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        long target;
        lock (_mu)
        {
            target = _now + by.Ticks;
        }
        while (true)
        {
            ManualTimer? next = null;
            lock (_mu)
            {
                foreach (ManualTimer t in _timers)
                {
                    if (t.Due <= target && (next is null || t.Due < next.Due))
                    {
                        next = t;
                    }
                }
                if (next is null)
                {
                    _now = target;
                    return;
                }
                _now = Math.Max(_now, next.Due);
                if (next.Period > 0)
                {
                    next.Due = _now + next.Period;
                }
                else
                {
                    _timers.Remove(next);
                }
            }
            next.Fire();
        }
    }

    /// <summary>
    /// Moves time on a step at a time until <paramref name="done"/> holds, for at most
    /// <paramref name="limit"/> of this clock's time; false if it never held. After each step the
    /// servers get <paramref name="wallMsPerStep"/> ms or more of real time to act on it: that
    /// pause only paces the clock (a short one runs it faster than real time), what a test
    /// asserts is measured on this clock.
    /// </summary>
    public async Task<bool> StepUntilAsync(Func<bool> done, TimeSpan limit, TimeSpan? step = null, int wallMsPerStep = 1)
    {
        TimeSpan end = Now + limit;
        while (!done())
        {
            if (Now >= end)
            {
                return false;
            }
            Advance(step ?? TimeSpan.FromMilliseconds(1));
            await Task.Delay(wallMsPerStep);
        }
        return true;
    }

    /// <summary>Schedules <paramref name="timer"/>, or unschedules it when <paramref name="dueTime"/> is infinite.</summary>
    private void Schedule(ManualTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        lock (_mu)
        {
            _timers.Remove(timer);
            if (dueTime != Timeout.InfiniteTimeSpan)
            {
                timer.Due = _now + dueTime.Ticks;
                timer.Period = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
                _timers.Add(timer);
            }
        }
    }

    private void Unschedule(ManualTimer timer)
    {
        lock (_mu)
        {
            _timers.Remove(timer);
        }
    }

    /// <summary>One timer; its due time and period are guarded by the clock's lock.</summary>
    private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        /// <summary>When it fires next, in the clock's ticks.</summary>
        public long Due { get; set; }

        /// <summary>Its period in ticks; 0 fires once.</summary>
        public long Period { get; set; }

        /// <summary>Set by Dispose; a disposed timer never fires again.</summary>
        private volatile bool _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            if (_disposed)
            {
                return false;
            }
            clock.Schedule(this, dueTime, period);
            return true;
        }

        public void Fire()
        {
            if (!_disposed)
            {
                callback(state);
            }
        }

        public void Dispose()
        {
            _disposed = true;
            clock.Unschedule(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
