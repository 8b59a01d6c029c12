// The playground's clock: the cluster's own time, which a learner can slow down, pause and step.
using System.Diagnostics;

namespace RaftPlayground;

/// <summary>
/// The time the playground's cluster lives by. Every server's timers and network delays run on
/// it (it is their <see cref="TimeProvider"/>), so slowing it slows the whole cluster alike:
/// at 1/50 an election timeout of 150 ms lasts 7.5 s of real time, and a message's 1-5 ms delay
/// up to a quarter of a second.
/// <list type="bullet">
/// <item>Cluster time runs at <see cref="Speed"/> times real time, from 1 down to 1/200. It is
/// one line per stretch of constant speed, so <see cref="GetTimestamp"/> never goes back, and
/// a timer, due at a moment of cluster time, is simply due later in real time at a lower speed.</item>
/// <item><see cref="Pause"/> stops cluster time: no timer fires (except one set to fire at the
/// very moment it is set: it is not in the future), no message moves, no term changes, until
/// <see cref="Resume"/> lets time run on from where it stood.</item>
/// <item>While paused, <see cref="StepToNextTimerAsync"/> moves time to the next timer's due
/// time and fires what is due then; <see cref="StepAsync"/> moves it on by a given amount
/// (10 ms, say), firing each timer due on the way when the clock reaches that timer's due time.</item>
/// </list>
/// One thread (its own) fires the timers, one at a time in order of due time, always outside
/// the clock's lock, so a callback may use the clock freely. A callback that throws ends the
/// process, as a System.Threading.Timer's does.
/// </summary>
public sealed class ClusterClock : TimeProvider, IDisposable
{
    /// <summary>The slowest speed: 1/200 of real time.</summary>
    public const double MinSpeed = 1.0 / 200;

    /// <summary>The fastest speed: real time.</summary>
    public const double MaxSpeed = 1;

    /// <summary>The longest step <see cref="StepAsync"/> takes.</summary>
    public static readonly TimeSpan MaxStep = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A timer this close to due (in real time) fires now: the thread's waits are whole
    /// milliseconds, so waiting for less would wake it late.
    /// </summary>
    private const double FireAheadMs = 0.5;

    /// <summary>Guards everything below; the clock thread waits on it (Monitor.Wait) for work.</summary>
    private readonly object _mu = new();

    /// <summary>
    /// Timers by due time (cluster ticks), ties in the order they were set. An entry whose
    /// version is not its timer's any more is stale (the timer was changed or disposed) and is skipped.
    /// </summary>
    private readonly PriorityQueue<(ClockTimer Timer, long Version), (long Due, long Seq)> _due = new();

    /// <summary>The thread that fires the timers.</summary>
    private readonly Thread _thread;

    /// <summary>The real time (UTC) at which cluster time was zero, for <see cref="GetUtcNow"/>.</summary>
    private readonly DateTimeOffset _startUtc = DateTimeOffset.UtcNow;

    /// <summary>Orders timers due at the same moment by when they were set.</summary>
    private long _seq;

    /// <summary>A real moment (a Stopwatch timestamp) where the current line of cluster time starts.</summary>
    private long _anchorWall = Stopwatch.GetTimestamp();

    /// <summary>Cluster time (ticks) at <see cref="_anchorWall"/>; while paused, cluster time itself.</summary>
    private long _anchorCluster;

    /// <summary>Cluster time per real time, from <see cref="MinSpeed"/> to <see cref="MaxSpeed"/>.</summary>
    private double _speed;

    /// <summary>Whether cluster time stands still.</summary>
    private bool _paused;

    /// <summary>While a step is under way: the cluster time (ticks) it goes to.</summary>
    private long? _stepTarget;

    /// <summary>Where the step under way started (ticks), to tell its caller how far it went.</summary>
    private long _stepFrom;

    /// <summary>Completed, with how far time moved, when the step under way ends.</summary>
    private TaskCompletionSource<TimeSpan>? _step;

    /// <summary>Set by <see cref="Dispose"/>: the thread ends and no timer fires any more.</summary>
    private bool _disposed;

    /// <summary>A clock at <paramref name="speed"/>, running, at cluster time zero.</summary>
    public ClusterClock(double speed = MaxSpeed)
    {
        CheckSpeed(speed);
        _speed = speed;
        _thread = new Thread(FireTimers) { IsBackground = true, Name = "cluster clock" };
        _thread.Start();
    }

    /// <summary>Cluster time per real time: 1 is real time, 0.02 is 1/50 of it. Settable paused or running.</summary>
    public double Speed
    {
        get
        {
            lock (_mu)
            {
                return _speed;
            }
        }
        set
        {
            CheckSpeed(value);
            lock (_mu)
            {
                // A new line from this moment on: time so far stays as it was.
                Reanchor();
                _speed = value;
                Monitor.PulseAll(_mu);
            }
        }
    }

    /// <summary>Whether cluster time stands still.</summary>
    public bool IsPaused
    {
        get
        {
            lock (_mu)
            {
                return _paused;
            }
        }
    }

    /// <summary>Cluster time since this clock began.</summary>
    public TimeSpan Elapsed => TimeSpan.FromTicks(GetTimestamp());

    /// <summary>How many timers are waiting for their due time; for tests and for a page that shows it.</summary>
    public int PendingTimers
    {
        get
        {
            lock (_mu)
            {
                return _due.UnorderedItems.Count(e => e.Element.Version == e.Element.Timer.Version);
            }
        }
    }

    /// <summary>Stops cluster time; nothing is due until <see cref="Resume"/> or a step. Pausing a paused clock does nothing.</summary>
    public void Pause()
    {
        lock (_mu)
        {
            if (!_paused)
            {
                Reanchor();
                _paused = true;
                Monitor.PulseAll(_mu);
            }
        }
    }

    /// <summary>Lets cluster time run on from where it stands; ends a step under way where it got to.</summary>
    public void Resume()
    {
        TaskCompletionSource<TimeSpan>? step;
        TimeSpan stepped = TimeSpan.Zero;
        lock (_mu)
        {
            if (!_paused)
            {
                return;
            }
            _anchorWall = Stopwatch.GetTimestamp();
            _paused = false;
            step = EndStep(ref stepped);
            Monitor.PulseAll(_mu);
        }
        step?.TrySetResult(stepped);
    }

    /// <summary>
    /// While paused, moves cluster time on by <paramref name="by"/> (more than zero, at most
    /// <see cref="MaxStep"/>), firing each timer due on the way with the clock at that timer's
    /// due time. Completes, with <paramref name="by"/>, once those timers have fired (what
    /// they set in motion goes on on the thread pool), or earlier, with how far it got, if the
    /// clock is resumed meanwhile.
    /// </summary>
    /// <exception cref="InvalidOperationException">The clock is running, or another step is under way.</exception>
    public Task<TimeSpan> StepAsync(TimeSpan by)
    {
        if (by <= TimeSpan.Zero || by > MaxStep)
        {
            throw new ArgumentOutOfRangeException(nameof(by), by, $"a step must be more than 0 and at most {MaxStep.TotalSeconds} s");
        }
        lock (_mu)
        {
            return BeginStep(_anchorCluster + by.Ticks);
        }
    }

    /// <summary>
    /// While paused, moves cluster time to the next timer's due time and fires every timer due
    /// then. Completes with how far time moved once they have fired; with zero at once if no
    /// timer is waiting.
    /// </summary>
    /// <exception cref="InvalidOperationException">The clock is running, or another step is under way.</exception>
    public Task<TimeSpan> StepToNextTimerAsync()
    {
        lock (_mu)
        {
            CheckCanStep();
            DropStale();
            if (!_due.TryPeek(out _, out var next))
            {
                return Task.FromResult(TimeSpan.Zero);
            }
            return BeginStep(Math.Max(_anchorCluster, next.Due));
        }
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>Cluster time, in ticks of 100 ns since the clock began.</summary>
    public override long GetTimestamp()
    {
        lock (_mu)
        {
            return Now();
        }
    }

    /// <summary>The real time at which the clock began, plus cluster time since.</summary>
    public override DateTimeOffset GetUtcNow() => _startUtc + Elapsed;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new ClockTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Stops the clock for good: no timer fires any more, and a step under way ends where it got to.</summary>
    public void Dispose()
    {
        TaskCompletionSource<TimeSpan>? step;
        TimeSpan stepped = TimeSpan.Zero;
        lock (_mu)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            step = EndStep(ref stepped);
            Monitor.PulseAll(_mu);
        }
        step?.TrySetResult(stepped);
    }

    /// <summary>Cluster time now, in ticks. Must hold the lock.</summary>
    private long Now() => ClusterAt(Stopwatch.GetTimestamp());

    /// <summary>Cluster time (ticks) at real moment <paramref name="wall"/> on the current line. Must hold the lock.</summary>
    private long ClusterAt(long wall) =>
        _paused ? _anchorCluster : _anchorCluster + (long)(Stopwatch.GetElapsedTime(_anchorWall, wall).Ticks * _speed);

    /// <summary>Starts a new line of cluster time at this moment, continuing the old one. Must hold the lock.</summary>
    private void Reanchor()
    {
        long wall = Stopwatch.GetTimestamp();
        _anchorCluster = ClusterAt(wall);
        _anchorWall = wall;
    }

    private void CheckCanStep()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_paused)
        {
            throw new InvalidOperationException("the clock is running: pause it before stepping");
        }
        if (_step is not null)
        {
            throw new InvalidOperationException("a step is already under way");
        }
    }

    /// <summary>Hands a step to <paramref name="target"/> (ticks) to the clock thread. Must hold the lock.</summary>
    private Task<TimeSpan> BeginStep(long target)
    {
        CheckCanStep();
        _stepFrom = _anchorCluster;
        _stepTarget = target;
        _step = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        Monitor.PulseAll(_mu);
        return _step.Task;
    }

    /// <summary>Ends the step under way, if any, and says how far it went; its caller completes it outside the lock. Must hold the lock.</summary>
    private TaskCompletionSource<TimeSpan>? EndStep(ref TimeSpan stepped)
    {
        TaskCompletionSource<TimeSpan>? step = _step;
        if (step is not null)
        {
            stepped = TimeSpan.FromTicks(_anchorCluster - _stepFrom);
        }
        _step = null;
        _stepTarget = null;
        return step;
    }

    /// <summary>Sets <paramref name="timer"/> to fire after <paramref name="dueTime"/> of cluster time, then every <paramref name="period"/>.</summary>
    private bool Schedule(ClockTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        CheckTime(dueTime, nameof(dueTime));
        CheckTime(period, nameof(period));
        lock (_mu)
        {
            if (_disposed || timer.IsDisposed)
            {
                return false;
            }
            timer.Version++;
            timer.Period = period == Timeout.InfiniteTimeSpan || period == TimeSpan.Zero ? 0 : period.Ticks;
            if (dueTime != Timeout.InfiniteTimeSpan)
            {
                _due.Enqueue((timer, timer.Version), (Now() + dueTime.Ticks, _seq++));
                Monitor.PulseAll(_mu);
            }
            return true;
        }
    }

    /// <summary>Takes <paramref name="timer"/> off the queue for good.</summary>
    private void Unschedule(ClockTimer timer)
    {
        lock (_mu)
        {
            timer.IsDisposed = true;
            timer.Version++;
        }
    }

    /// <summary>Drops stale entries from the head of the queue. Must hold the lock.</summary>
    private void DropStale()
    {
        while (_due.TryPeek(out var entry, out _) && entry.Version != entry.Timer.Version)
        {
            _due.Dequeue();
        }
    }

    /// <summary>
    /// The clock thread: fires each timer as it falls due, one at a time and outside the lock;
    /// while a step is under way, moves paused time from due time to due time up to the step's
    /// end; otherwise sleeps until the next due time (in real time, at the current speed) or
    /// until something changes.
    /// </summary>
    private void FireTimers()
    {
        while (true)
        {
            ClockTimer? fire = null;
            TaskCompletionSource<TimeSpan>? stepDone = null;
            TimeSpan stepped = TimeSpan.Zero;
            lock (_mu)
            {
                if (_disposed)
                {
                    return;
                }
                DropStale();
                long now = Now();
                bool any = _due.TryPeek(out _, out var next);
                // Running, a timer due within FireAheadMs of real time fires now.
                long ahead = _paused ? 0 : (long)(TimeSpan.FromMilliseconds(FireAheadMs).Ticks * _speed);
                if (any && next.Due <= now + ahead)
                {
                    fire = Take(now);
                }
                else if (_stepTarget is long target)
                {
                    if (any && next.Due <= target)
                    {
                        // Paused time moves to this timer's due time, and it fires there.
                        _anchorCluster = next.Due;
                        fire = Take(next.Due);
                    }
                    else
                    {
                        _anchorCluster = target;
                        stepDone = EndStep(ref stepped);
                    }
                }
                else
                {
                    int waitMs = Timeout.Infinite;
                    if (any && !_paused)
                    {
                        double remainingMs = TimeSpan.FromTicks(next.Due - now).TotalMilliseconds / _speed;
                        waitMs = (int)Math.Clamp(Math.Round(remainingMs), 1, int.MaxValue);
                    }
                    Monitor.Wait(_mu, waitMs);
                    continue;
                }
            }
            fire?.Fire();
            stepDone?.TrySetResult(stepped);
        }
    }

    /// <summary>Takes the first timer off the queue, due now, and sets its next time if it repeats. Must hold the lock.</summary>
    private ClockTimer Take(long now)
    {
        _due.TryDequeue(out var entry, out var at);
        ClockTimer timer = entry.Timer;
        if (timer.Period > 0)
        {
            _due.Enqueue((timer, timer.Version), (Math.Max(now, at.Due) + timer.Period, _seq++));
        }
        return timer;
    }

    private static void CheckSpeed(double speed)
    {
        if (!(speed >= MinSpeed && speed <= MaxSpeed))
        {
            throw new ArgumentOutOfRangeException(nameof(speed), speed, $"the speed must be from 1/200 ({MinSpeed}) to 1");
        }
    }

    private static void CheckTime(TimeSpan t, string name)
    {
        if (t < TimeSpan.Zero && t != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(name, t, "a timer's time must be zero or more, or infinite");
        }
    }

    /// <summary>A timer on the cluster's clock. Its fields are guarded by the clock's lock.</summary>
    private sealed class ClockTimer(ClusterClock clock, TimerCallback callback, object? state) : ITimer
    {
        /// <summary>Moves on with every change, which makes the timer's older queue entries stale.</summary>
        public long Version { get; set; }

        /// <summary>Its period in ticks of cluster time; 0 fires once.</summary>
        public long Period { get; set; }

        /// <summary>Set by Dispose; a disposed timer never fires again.</summary>
        public bool IsDisposed { get; set; }

        public bool Change(TimeSpan dueTime, TimeSpan period) => clock.Schedule(this, dueTime, period);

        public void Fire() => callback(state);

        public void Dispose() => clock.Unschedule(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
