// The cluster's clock on its own: speed, pause, steps, and what its timers see; then a cluster on it.
using System.Collections.Concurrent;
using System.Diagnostics;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

public sealed class ClusterClockTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PausedClockFiresNothingAndResumesWhereItStood()
    {
        using var clock = new ClusterClock();
        clock.Pause();
        TimeSpan pausedAt = clock.Elapsed;
        var fired = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        using ITimer timer = clock.CreateTimer(_ => fired.TrySetResult(clock.Elapsed), null, Ms, Timeout.InfiniteTimeSpan);

        await Task.Delay(300, Ct);

        fired.Task.IsCompleted.Should().BeFalse("nothing fires while the clock is paused");
        clock.Elapsed.Should().Be(pausedAt, "cluster time stands still");
        clock.Resume();
        TimeSpan firedAt = await fired.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        firedAt.Should().BeGreaterThanOrEqualTo(pausedAt + Ms - TimeSpan.FromMilliseconds(0.5));
    }

    [Fact]
    public async Task SlowClockStretchesDelaysInRealTime()
    {
        using var clock = new ClusterClock(speed: 0.1);
        TimeSpan start = clock.Elapsed;
        var wall = Stopwatch.StartNew();

        await Task.Delay(TimeSpan.FromMilliseconds(30), clock, Ct);

        wall.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(295), "30 ms at 1/10 is 300 ms of real time");
        (clock.Elapsed - start).Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(29.9));
    }

    [Fact]
    public async Task StepToNextTimerFiresOnlyThatTimer()
    {
        using var clock = new ClusterClock();
        clock.Pause();
        TimeSpan t0 = clock.Elapsed;
        var seen = new ConcurrentQueue<(string Name, TimeSpan At)>();
        using ITimer a = clock.CreateTimer(_ => seen.Enqueue(("a", clock.Elapsed)), null, 5 * Ms, Timeout.InfiniteTimeSpan);
        using ITimer b = clock.CreateTimer(_ => seen.Enqueue(("b", clock.Elapsed)), null, 20 * Ms, Timeout.InfiniteTimeSpan);

        (await clock.StepToNextTimerAsync()).Should().Be(5 * Ms);
        seen.Should().Equal(("a", t0 + (5 * Ms)));
        clock.Elapsed.Should().Be(t0 + (5 * Ms));

        (await clock.StepToNextTimerAsync()).Should().Be(15 * Ms);
        seen.Should().Equal(("a", t0 + (5 * Ms)), ("b", t0 + (20 * Ms)));
        (await clock.StepToNextTimerAsync()).Should().Be(TimeSpan.Zero, "no timer is left");
        clock.PendingTimers.Should().Be(0);
    }

    [Fact]
    public async Task StepFiresEachTimerAtItsOwnDueTime()
    {
        using var clock = new ClusterClock();
        clock.Pause();
        TimeSpan t0 = clock.Elapsed;
        var seen = new ConcurrentQueue<(string Name, TimeSpan At)>();
        ITimer Timer(string name, int dueMs, int periodMs = 0) =>
            clock.CreateTimer(_ => seen.Enqueue((name, clock.Elapsed - t0)), null, dueMs * Ms, periodMs == 0 ? Timeout.InfiniteTimeSpan : periodMs * Ms);
        using ITimer late = Timer("12", 12);
        using ITimer early = Timer("3", 3);
        using ITimer mid = Timer("7", 7);
        using ITimer tick = Timer("tick", 10, 10);

        (await clock.StepAsync(10 * Ms)).Should().Be(10 * Ms);
        seen.Should().Equal(("3", 3 * Ms), ("7", 7 * Ms), ("tick", 10 * Ms));
        clock.Elapsed.Should().Be(t0 + (10 * Ms));

        (await clock.StepAsync(25 * Ms)).Should().Be(25 * Ms);
        seen.Skip(3).Should().Equal(("12", 12 * Ms), ("tick", 20 * Ms), ("tick", 30 * Ms));
        clock.Elapsed.Should().Be(t0 + (35 * Ms));
    }

    [Fact]
    public async Task SteppingIsRefusedWhileRunningOrStepping()
    {
        using var clock = new ClusterClock();
        FluentActions.Invoking(() => { _ = clock.StepAsync(10 * Ms); }).Should().Throw<InvalidOperationException>().WithMessage("*running*");
        FluentActions.Invoking(() => { _ = clock.StepToNextTimerAsync(); }).Should().Throw<InvalidOperationException>();

        clock.Pause();
        FluentActions.Invoking(() => { _ = clock.StepAsync(TimeSpan.Zero); }).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => { _ = clock.StepAsync(TimeSpan.FromMinutes(1)); }).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => clock.Speed = 0).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => clock.Speed = 10_000).Should().Throw<ArgumentOutOfRangeException>();

        // A callback that holds the clock thread keeps the first step under way.
        using var release = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        using ITimer blocking = clock.CreateTimer(_ => { entered.Set(); release.Wait(); }, null, Ms, Timeout.InfiniteTimeSpan);
        Task<TimeSpan> first = clock.StepAsync(10 * Ms);
        entered.Wait(TimeSpan.FromSeconds(10), Ct).Should().BeTrue();
        FluentActions.Invoking(() => { _ = clock.StepAsync(10 * Ms); }).Should().Throw<InvalidOperationException>().WithMessage("*under way*");
        release.Set();
        (await first.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Should().Be(10 * Ms);
    }

    [Fact]
    public async Task SpeedChangeMovesTimersInRealTime()
    {
        using var clock = new ClusterClock(speed: ClusterClock.MinSpeed);
        TimeSpan start = clock.Elapsed;
        var fired = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        // 20 ms of cluster time: 4 s of real time at 1/200.
        using ITimer timer = clock.CreateTimer(_ => fired.TrySetResult(clock.Elapsed), null, 20 * Ms, Timeout.InfiniteTimeSpan);
        await Task.Delay(100, Ct);
        fired.Task.IsCompleted.Should().BeFalse();

        var wall = Stopwatch.StartNew();
        clock.Speed = 1;
        TimeSpan at = await fired.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        wall.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3.5), "at full speed the rest of 20 ms passes in well under the 4 s it would take at 1/200");
        (at - start).Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(19.5));
    }

    [Fact]
    public async Task TimestampNeverGoesBack()
    {
        using var clock = new ClusterClock();
        using var stop = new CancellationTokenSource();
        Task reader = Task.Run(() =>
        {
            long last = clock.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                long now = clock.GetTimestamp();
                now.Should().BeGreaterThanOrEqualTo(last);
                last = now;
            }
        }, Ct);
        using ITimer tick = clock.CreateTimer(_ => { }, null, Ms, Ms);
        double[] speeds = [1, 0.5, ClusterClock.MinSpeed, 0.02, 1];
        for (int i = 0; i < 40; i++)
        {
            clock.Speed = speeds[i % speeds.Length];
            if (i % 4 == 1)
            {
                clock.Pause();
                await clock.StepAsync(3 * Ms);
                await clock.StepToNextTimerAsync();
                clock.Resume();
            }
            await Task.Delay(5, Ct);
        }
        stop.Cancel();
        await reader;
    }

    [Fact]
    public async Task CallbacksRunOutsideTheLock()
    {
        using var clock = new ClusterClock();
        using var release = new ManualResetEventSlim();
        var inner = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using ITimer outer = clock.CreateTimer(_ =>
        {
            // A callback uses the clock as any code would: reads it, sets a timer, changes the speed.
            _ = clock.GetTimestamp();
            clock.CreateTimer(_ => inner.TrySetResult(), null, Ms, Timeout.InfiniteTimeSpan);
            clock.Speed = 1;
            release.Wait(TimeSpan.FromSeconds(10));
        }, null, Ms, Timeout.InfiniteTimeSpan);

        // While that callback still runs, another thread reads and pauses the clock without waiting for it.
        await Task.Delay(50, Ct);
        var reading = Task.Run(() =>
        {
            _ = clock.Elapsed;
            clock.Pause();
            clock.Resume();
        }, Ct);
        (await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(5), Ct))).Should().BeSameAs(reading);
        release.Set();
        await inner.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task ChangedDisposedAndStoppedTimersDoNotFire()
    {
        var clock = new ClusterClock();
        clock.Pause();
        int fired = 0;
        ITimer changed = clock.CreateTimer(_ => Interlocked.Increment(ref fired), null, 2 * Ms, Timeout.InfiniteTimeSpan);
        changed.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan).Should().BeTrue();
        ITimer disposed = clock.CreateTimer(_ => Interlocked.Increment(ref fired), null, 2 * Ms, Timeout.InfiniteTimeSpan);
        disposed.Dispose();
        disposed.Change(Ms, Timeout.InfiniteTimeSpan).Should().BeFalse("a disposed timer stays disposed");
        ITimer moved = clock.CreateTimer(_ => Interlocked.Increment(ref fired), null, 2 * Ms, Timeout.InfiniteTimeSpan);
        moved.Change(50 * Ms, Timeout.InfiniteTimeSpan);

        await clock.StepAsync(10 * Ms);
        Volatile.Read(ref fired).Should().Be(0);
        clock.PendingTimers.Should().Be(1, "only the moved timer still waits");

        clock.Dispose();
        clock.Resume();
        await Task.Delay(100, Ct);
        Volatile.Read(ref fired).Should().Be(0, "a disposed clock fires nothing");
    }
}

// A whole cluster: not beside another test's cluster (see ApiTests).
[Collection("cluster")]
public sealed class ClusterClockClusterTests
{
    /// <summary>
    /// A whole cluster on a paused clock: no election for half a second of real time, and not
    /// one term moves; resumed, it elects a leader.
    /// </summary>
    [Fact]
    public async Task ClusterOnAPausedClockStandsStill()
    {
        var clock = new ClusterClock();
        clock.Pause();
        var log = new LiveLog(3, clock);
        var cluster = new Cluster(3, [0, 0, 0], log, clock);
        try
        {
            TimeSpan pausedAt = clock.Elapsed;
            await cluster.StartAsync();
            await Task.Delay(500, TestContext.Current.CancellationToken);
            cluster.Views().Should().OnlyContain(v => v.Term == 0 && v.Role == "Follower");
            clock.Elapsed.Should().Be(pausedAt);

            clock.Resume();
            await Poll.UntilAsync(() => Task.FromResult(cluster.Views().Count(v => v.Role == "Leader") == 1), TimeSpan.FromSeconds(10), "a leader once the clock runs");
        }
        finally
        {
            await cluster.ShutdownAsync();
        }
    }
}
