// The simulation's clock: a TimeProvider whose time moves only when the simulation has nothing
// left to run, and then straight to the next timer that is due.
namespace Lab;

/// <summary>
/// The cluster's time in a <see cref="Simulation"/>. It starts at 0 (00:00:00 in a log line's
/// stamp) and stands still while anything can run; when nothing can, the simulation moves it to
/// the earliest timer due and fires every timer due at that instant, in the order they were set.
/// Everything of .NET that takes a <see cref="TimeProvider"/> runs on it: <c>Task.Delay</c>,
/// <c>PeriodicTimer</c>, <c>CancellationTokenSource</c>'s timeouts, <c>Task.WaitAsync</c>.
/// </summary>
/// <remarks>
/// A timer's callback runs on the simulation's thread with no synchronization context, so what it
/// wakes (the continuation of a delay, say) is queued like everything else rather than run inside
/// it. Microsoft.Extensions.TimeProvider.Testing's FakeTimeProvider does not say when its next
/// timer is due, which is what lets this clock jump there.
/// </remarks>
public sealed class VirtualClock : TimeProvider
{
    /// <summary>What the clock reads at time 0: midnight, so a log's stamps read as cluster time.</summary>
    public static readonly DateTimeOffset Start = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The simulation whose thread alone may use this clock.</summary>
    private readonly Simulation _sim;

    /// <summary>Armed timers by due time, then by the order they were armed; an entry whose version is stale is skipped.</summary>
    private readonly PriorityQueue<(VirtualTimer Timer, long Version), (long Due, long Order)> _due = new();

    /// <summary>The time now, in ticks since 0.</summary>
    private long _now;

    /// <summary>How many times a timer was armed; orders timers due at the same instant.</summary>
    private long _armed;

    internal VirtualClock(Simulation sim)
    {
        _sim = sim;
    }

    /// <summary>The simulation this clock belongs to.</summary>
    internal Simulation Simulation => _sim;

    /// <summary>The cluster time since the start.</summary>
    public TimeSpan Now => TimeSpan.FromTicks(Volatile.Read(ref _now));

    /// <summary>The time now as a timestamp of this clock (ticks), without the thread check: for the loop and for display.</summary>
    internal long Timestamp => Volatile.Read(ref _now);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long GetTimestamp()
    {
        _sim.CheckThread("the simulated clock");
        return _now;
    }

    public override DateTimeOffset GetUtcNow() => Start + Now;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        _sim.CheckThread("the simulated clock");
        var timer = new VirtualTimer(this, callback, state, ExecutionContext.Capture());
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>
    /// Moves the clock to the earliest timer due and fires every timer due then; false if no
    /// timer is set. Called by the simulation when nothing else can run.
    /// </summary>
    internal bool FireNext()
    {
        bool fired = false;
        while (_due.TryPeek(out var entry, out var when) && (!fired || when.Due == _now))
        {
            _due.Dequeue();
            VirtualTimer timer = entry.Timer;
            if (entry.Version != timer.Version)
            {
                continue; // Changed or disposed since this entry was queued.
            }
            Volatile.Write(ref _now, Math.Max(_now, when.Due));
            fired = true;
            if (timer.Period > 0)
            {
                Arm(timer, timer.Period);
            }
            else
            {
                timer.Version++;
            }
            timer.Fire();
        }
        return fired;
    }

    /// <summary>When the next timer is due, or null with none set; on the simulation's thread (a paced run's step to it).</summary>
    public TimeSpan? NextTimer()
    {
        _sim.CheckThread("the simulated clock");
        return NextDue() is long due ? TimeSpan.FromTicks(due) : null;
    }

    /// <summary>When the earliest live timer is due (ticks), or null with none set. For the simulation's loop.</summary>
    internal long? NextDue()
    {
        while (_due.TryPeek(out var entry, out var when))
        {
            if (entry.Version == entry.Timer.Version)
            {
                return when.Due;
            }
            _due.Dequeue(); // Changed or disposed since this entry was queued.
        }
        return null;
    }

    /// <summary>
    /// Moves the clock on to <paramref name="ticks"/> without firing anything (never back, never
    /// past a timer due): a paced run's time between timers, and the moment an input enters.
    /// </summary>
    internal void AdvanceTo(long ticks)
    {
        if (ticks > _now && (NextDue() is not long due || ticks <= due))
        {
            Volatile.Write(ref _now, ticks);
        }
    }

    /// <summary>Queues <paramref name="timer"/> to fire <paramref name="dueTicks"/> from now, replacing its earlier entry.</summary>
    private void Arm(VirtualTimer timer, long dueTicks)
    {
        timer.Version++;
        _due.Enqueue((timer, timer.Version), (_now + dueTicks, _armed++));
    }

    /// <summary>Ticks of a timer's due time or period: -1 (never) for Infinite, else at least 0.</summary>
    private static long Ticks(TimeSpan t, string name) =>
        t == Timeout.InfiniteTimeSpan ? -1
        : t >= TimeSpan.Zero ? t.Ticks
        : throw new ArgumentOutOfRangeException(name, t, "must be Timeout.InfiniteTimeSpan or not negative");

    /// <summary>A timer of this clock.</summary>
    private sealed class VirtualTimer(VirtualClock clock, TimerCallback callback, object? state, ExecutionContext? context) : ITimer
    {
        /// <summary>Bumped by every change; a queued entry with an older version is dead.</summary>
        public long Version { get; set; }

        /// <summary>Ticks between firings, or 0 for a timer that fires once.</summary>
        public long Period { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            clock._sim.CheckThread("a simulated timer");
            long due = Ticks(dueTime, nameof(dueTime));
            long every = Ticks(period, nameof(period));
            Period = every > 0 ? every : 0;
            if (due < 0)
            {
                Version++;
            }
            else
            {
                clock.Arm(this, due);
            }
            return true;
        }

        /// <summary>Runs the callback in the execution context it was created in, with no synchronization context, as a system timer would.</summary>
        public void Fire()
        {
            SynchronizationContext? previous = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(null);
            try
            {
                if (context is null)
                {
                    callback(state);
                }
                else
                {
                    ExecutionContext.Run(context, static s => { var (cb, st) = ((TimerCallback, object?))s!; cb(st); }, (callback, state));
                }
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(previous);
            }
        }

        public void Dispose() => Version++;

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
