// A paced simulation: its clock follows the pacer (paused, stepped, running), and inputs from
// outside enter at a moment that a replay of the same seed reproduces.
using System.Globalization;
using System.Text;
using FluentAssertions;
using Xunit;

namespace Lab.Tests;

public sealed class PacerTests
{
    /// <summary>Three workers on timers, tracing when each wakes and what the inputs saw.</summary>
    private sealed class Traced
    {
        private readonly StringBuilder _trace = new();

        public Traced(Simulation sim)
        {
            Sim = sim;
            sim.Enqueue(() =>
            {
                _ = WorkAsync("a", sim.NewRandom());
                _ = WorkAsync("b", sim.NewRandom());
                _ = WorkAsync("c", sim.NewRandom());
            });
        }

        public Simulation Sim { get; }

        /// <summary>The trace so far, read on the simulation's thread.</summary>
        public Task<string> TraceAsync()
        {
            var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            Sim.Enqueue(() => done.SetResult(_trace.ToString()));
            return done.Task;
        }

        /// <summary>What an input does: draws from the run's randoms (so its moment matters to all that follows) and notes where it came.</summary>
        public void Input(string name, TimeSpan at)
        {
            Sim.CheckThread("the test's input");
            _trace.Append(CultureInfo.InvariantCulture, $"[{name}@{at.TotalMilliseconds}={Sim.NewRandom().Next(100)}] ");
        }

        private async Task WorkAsync(string name, Random random)
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1, 30)), Sim.Clock);
                _trace.Append(CultureInfo.InvariantCulture, $"{name}@{Sim.Clock.Now.TotalMilliseconds} ");
            }
        }
    }

    [Fact]
    public async Task PausedNothingMovesAndAStepDoesEverythingDueByThen()
    {
        var pacer = new Pacer(paused: true);
        var sim = new Simulation(3, TimeSpan.MaxValue, pacer);
        var run = new Traced(sim);
        sim.Start();
        try
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            (await run.TraceAsync()).Should().BeEmpty("paused at 0, no timer is due");
            sim.Clock.Now.Should().Be(TimeSpan.Zero);

            pacer.StepTo(TimeSpan.FromMilliseconds(100));
            await pacer.WhenReachedAsync(TimeSpan.FromMilliseconds(100)).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            string trace = await run.TraceAsync();
            trace.Should().NotBeEmpty();
            sim.Clock.Now.Should().Be(TimeSpan.FromMilliseconds(100), "the clock stands at the step's end");
            trace.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t => double.Parse(t[2..], CultureInfo.InvariantCulture))
                .Should().OnlyContain(ms => ms <= 100).And.BeInAscendingOrder();

            await Task.Delay(100, TestContext.Current.CancellationToken);
            (await run.TraceAsync()).Should().Be(trace, "still paused");
            pacer.Invoking(p => p.StepTo(TimeSpan.FromMilliseconds(50))).Should().NotThrow("a step back is no step");
            pacer.Now.Should().Be(TimeSpan.FromMilliseconds(100));
        }
        finally
        {
            sim.Stop();
        }
        sim.Escapes.Should().BeEmpty();
    }

    [Fact]
    public async Task RunningTheClockFollowsTheWallTimesTheSpeed()
    {
        var pacer = new Pacer(speed: 0.5);
        var sim = new Simulation(4, TimeSpan.MaxValue, pacer);
        _ = new Traced(sim);
        long started = TimeProvider.System.GetTimestamp();
        sim.Start();
        try
        {
            await Task.Delay(400, TestContext.Current.CancellationToken);
            double wallMs = TimeProvider.System.GetElapsedTime(started).TotalMilliseconds;
            double clusterMs = pacer.Now.TotalMilliseconds;
            clusterMs.Should().BeInRange(0.5 * 300, 0.5 * wallMs + 1, "half the wall time, give or take a busy machine's start");
            pacer.Pause();
            TimeSpan paused = pacer.Now;
            await Task.Delay(100, TestContext.Current.CancellationToken);
            pacer.Now.Should().Be(paused);
            pacer.Invoking(p => p.Speed = 2).Should().Throw<ArgumentOutOfRangeException>();
        }
        finally
        {
            sim.Stop();
        }
        sim.Escapes.Should().BeEmpty();
    }

    /// <summary>
    /// Inputs given while running live get their moment from the pacer; the same inputs scheduled
    /// at those moments in a new run of the seed give the very same trace, whatever the wall clock did.
    /// </summary>
    [Fact]
    public async Task InputsRecordedLiveReplayAtTheirMoments()
    {
        var moments = new List<(string Name, TimeSpan At)>();
        var pacer = new Pacer(speed: 1);
        var live = new Traced(new Simulation(9, TimeSpan.MaxValue, pacer));
        live.Sim.Start();
        string liveTrace;
        try
        {
            foreach (string name in (string[])["x", "y", "z"])
            {
                await Task.Delay(37, TestContext.Current.CancellationToken);
                var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                live.Sim.Input(at =>
                {
                    live.Input(name, at);
                    lock (moments)
                    {
                        moments.Add((name, at));
                    }
                    entered.SetResult();
                });
                await entered.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            }
            pacer.Pause();
            TimeSpan end = pacer.Now;
            await pacer.WhenReachedAsync(end).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            liveTrace = await live.TraceAsync();

            var again = new Pacer(paused: true);
            var replay = new Traced(new Simulation(9, TimeSpan.MaxValue, again));
            foreach (var (name, at) in moments)
            {
                replay.Sim.ScheduleInput(at, () => replay.Input(name, at));
            }
            replay.Sim.Start();
            again.StepTo(end);
            await again.WhenReachedAsync(end).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            (await replay.TraceAsync()).Should().Be(liveTrace);
            replay.Sim.Stop();
            replay.Sim.Escapes.Should().BeEmpty();
        }
        finally
        {
            live.Sim.Stop();
        }
        liveTrace.Should().Contain("[x@").And.Contain("[z@");
        live.Sim.Escapes.Should().BeEmpty();
    }
}
