// Paces a simulation to the wall clock: cluster time follows real time times a speed, stands still
// while paused, and moves by steps; for a tool a learner watches, where a test would run flat out.
namespace Lab;

/// <summary>
/// How far a paced <see cref="Simulation"/> may move its clock now. Unpaced, a simulation jumps to
/// the next timer as soon as nothing can run; paced, it waits until this pacer's time has reached
/// that timer. The pacer's time is <see cref="Speed"/> times real time since it last changed,
/// stopped while <see cref="IsPaused"/>, and moved by <see cref="StepTo"/>. The run stays
/// deterministic: the pacer decides only when things happen in real time, never in what order or
/// at what cluster time (see <see cref="Simulation.Input"/> for what enters from outside).
/// </summary>
/// <remarks>Thread-safe: a tool's threads change it, the simulation's loop reads it.</remarks>
public sealed class Pacer
{
    /// <summary>The slowest speed: 1/200 of real time.</summary>
    public const double MinSpeed = 1.0 / 200;

    /// <summary>The fastest speed: real time.</summary>
    public const double MaxSpeed = 1;

    /// <summary>Guards everything below.</summary>
    private readonly Lock _mu = new();

    /// <summary>Real time, for pacing only (never seen by the simulated code).</summary>
    private readonly TimeProvider _wall;

    /// <summary>Those waiting for the run to reach a cluster time (ticks), with everything due by then done.</summary>
    private readonly List<(long Ticks, TaskCompletionSource Done)> _waiters = [];

    /// <summary>A real moment (a timestamp of <see cref="_wall"/>) where the current line of cluster time starts.</summary>
    private long _anchorWall;

    /// <summary>Cluster time (ticks) at <see cref="_anchorWall"/>; while paused, the pacer's time itself.</summary>
    private long _anchorCluster;

    /// <summary>Cluster time per real time.</summary>
    private double _speed;

    /// <summary>Whether cluster time stands still.</summary>
    private bool _paused;

    /// <summary>What the run has finished: every timer and input due by this cluster time (ticks) has run.</summary>
    private long _reached = -1;

    /// <summary>A pacer at <paramref name="speed"/>, running or paused, at cluster time zero.</summary>
    public Pacer(double speed = MaxSpeed, bool paused = false, TimeProvider? wall = null)
    {
        CheckSpeed(speed);
        _wall = wall ?? TimeProvider.System;
        _speed = speed;
        _paused = paused;
        _anchorWall = _wall.GetTimestamp();
    }

    /// <summary>Set by the simulation it paces: wakes its loop when the pacer changes.</summary>
    internal Action? Wake { get; set; }

    /// <summary>Set by the simulation it paces: where its clock stands now (ticks), readable from any thread.</summary>
    internal Func<long>? Progress { get; set; }

    /// <summary>Cluster time per real time: 1 is real time, 0.02 is 1/50 of it.</summary>
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
                Reanchor();
                _speed = value;
            }
            Wake?.Invoke();
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

    /// <summary>The pacer's cluster time: how far the run may go now (it may lag a moment behind, doing the work due).</summary>
    public TimeSpan Now => TimeSpan.FromTicks(Limit());

    /// <summary>
    /// Stops cluster time where the run stands: at the simulation's clock, if it lags behind the
    /// pacer (a busy machine), so that nothing more happens once paused. Pausing a paused pacer does nothing.
    /// </summary>
    public void Pause()
    {
        lock (_mu)
        {
            if (_paused)
            {
                return;
            }
            Reanchor();
            if (Progress is { } progress)
            {
                _anchorCluster = Math.Min(_anchorCluster, progress());
            }
            _paused = true;
        }
        Wake?.Invoke();
    }

    /// <summary>Lets cluster time run on from where it stands.</summary>
    public void Resume()
    {
        lock (_mu)
        {
            if (_paused)
            {
                _anchorWall = _wall.GetTimestamp();
                _paused = false;
            }
        }
        Wake?.Invoke();
    }

    /// <summary>
    /// While paused, moves the pacer's time to <paramref name="at"/> (not before where it stands);
    /// the run then does everything due by then, which <see cref="WhenReachedAsync"/> waits for.
    /// </summary>
    /// <exception cref="InvalidOperationException">The pacer is running.</exception>
    public void StepTo(TimeSpan at)
    {
        lock (_mu)
        {
            if (!_paused)
            {
                throw new InvalidOperationException("the clock is running: pause it before stepping");
            }
            _anchorCluster = Math.Max(_anchorCluster, at.Ticks);
        }
        Wake?.Invoke();
    }

    /// <summary>
    /// Completes once the run has done everything due by cluster time <paramref name="at"/>
    /// (every timer and input due then or before, and all the work they started), and is idle.
    /// </summary>
    public Task WhenReachedAsync(TimeSpan at)
    {
        lock (_mu)
        {
            if (_reached >= at.Ticks)
            {
                return Task.CompletedTask;
            }
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((at.Ticks, done));
            return done.Task;
        }
    }

    /// <summary>The pacer's time in ticks.</summary>
    internal long Limit()
    {
        lock (_mu)
        {
            return ClusterAt(_wall.GetTimestamp());
        }
    }

    /// <summary>How long in real time until the pacer's time reaches <paramref name="ticks"/>; infinite while paused.</summary>
    internal TimeSpan WallUntil(long ticks)
    {
        lock (_mu)
        {
            if (_paused)
            {
                return Timeout.InfiniteTimeSpan;
            }
            long now = ClusterAt(_wall.GetTimestamp());
            return ticks <= now ? TimeSpan.Zero : TimeSpan.FromTicks((long)Math.Ceiling((ticks - now) / _speed));
        }
    }

    /// <summary>Told by the simulation's loop that everything due by <paramref name="ticks"/> is done and it is idle.</summary>
    internal void Reached(long ticks)
    {
        List<TaskCompletionSource>? done = null;
        lock (_mu)
        {
            _reached = Math.Max(_reached, ticks);
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Ticks <= _reached)
                {
                    (done ??= []).Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }
        // Completed outside the lock: their continuations run on the pool, never inside the loop's lock.
        done?.ForEach(d => d.TrySetResult());
    }

    /// <summary>Cluster time (ticks) at real moment <paramref name="wall"/>. Must hold the lock.</summary>
    private long ClusterAt(long wall) =>
        _paused ? _anchorCluster : _anchorCluster + (long)(_wall.GetElapsedTime(_anchorWall, wall).Ticks * _speed);

    /// <summary>Starts a new line of cluster time at this moment, continuing the old one. Must hold the lock.</summary>
    private void Reanchor()
    {
        long wall = _wall.GetTimestamp();
        _anchorCluster = ClusterAt(wall);
        _anchorWall = wall;
    }

    private static void CheckSpeed(double speed)
    {
        if (!(speed >= MinSpeed && speed <= MaxSpeed))
        {
            throw new ArgumentOutOfRangeException(nameof(speed), speed, $"the speed must be from 1/200 ({MinSpeed}) to 1");
        }
    }
}
