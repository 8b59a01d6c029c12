// The simulation itself: one thread, a clock that moves only when nothing can run, the same run
// from the same seed, and every way out of it caught.
using System.Text;
using System.Threading.Channels;
using FluentAssertions;
using Xunit;

namespace Lab.Tests;

public sealed class SimulationTests
{
    /// <summary>A run of timers, randoms and yields, traced: the same seed gives the same trace, another seed another.</summary>
    [Fact]
    public async Task TheSameSeedGivesTheSameRun()
    {
        static Task<string> RunAsync(int seed) => Simulation.RunAsync(seed, async sim =>
        {
            var trace = new StringBuilder();
            async Task WorkerAsync(string name, Random random)
            {
                for (int i = 0; i < 20; i++)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1, 30)), sim.Clock);
                    await Task.Yield();
                    trace.Append(System.Globalization.CultureInfo.InvariantCulture, $"{name}@{sim.Clock.Now.TotalMilliseconds} ");
                }
            }
            await Task.WhenAll(WorkerAsync("a", sim.NewRandom()), WorkerAsync("b", sim.NewRandom()), WorkerAsync("c", sim.NewRandom()));
            sim.Escapes.Should().BeEmpty();
            return trace.ToString();
        });

        string first = await RunAsync(7);
        (await RunAsync(7)).Should().Be(first);
        (await RunAsync(8)).Should().NotBe(first);
    }

    /// <summary>Work at one instant leaves the clock where it is; a delay ends at exactly its time; timers due together fire in the order they were set.</summary>
    [Fact]
    public async Task TheClockMovesOnlyToTheNextTimer()
    {
        var fired = await Simulation.RunAsync(1, async sim =>
        {
            for (int i = 0; i < 1000; i++)
            {
                await Task.Yield();
            }
            sim.Clock.Now.Should().Be(TimeSpan.Zero, "running work takes no cluster time");

            await ExactDelay.DelayAsync(sim.Clock, TimeSpan.FromMicroseconds(1234));
            sim.Clock.Now.Should().Be(TimeSpan.FromMicroseconds(1234));

            var order = new List<string>();
            async Task NoteAsync(string what)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(10), sim.Clock);
                order.Add(what);
            }
            await Task.WhenAll(NoteAsync("first set"), NoteAsync("second set"));
            return order;
        });

        fired.Should().Equal("first set", "second set");
    }

    /// <summary>A run that waits for what never comes, with no timer set, fails at once and says so.</summary>
    [Fact]
    public async Task AStuckRunFailsAndSaysWhatWaits()
    {
        string message = await Simulation.RunAsync(1, async sim =>
        {
            sim.DescribeWaiting = () => "the test's own promise";
            var never = new TaskCompletionSource();
            await Task.WhenAny(never.Task, sim.Failed);
            return sim.Failed.Exception!.InnerException!.Message;
        });

        message.Should().Contain("stuck: nothing can run and no timer is set; waiting: the test's own promise");
    }

    /// <summary>A run that spins without ever letting the clock move fails as a busy loop.</summary>
    [Fact]
    public async Task ABusyLoopFails()
    {
        string message = await Simulation.RunAsync(1, async sim =>
        {
            while (!sim.Failed.IsCompleted)
            {
                await Task.Yield();
            }
            return sim.Failed.Exception!.InnerException!.Message;
        });

        message.Should().Contain("without the clock moving: a busy loop");
    }

    /// <summary>A run that goes on past its limit of cluster time fails.</summary>
    [Fact]
    public async Task ARunPastItsTimeLimitFails()
    {
        string message = await Simulation.RunAsync(1, async sim =>
        {
            while (!sim.Failed.IsCompleted)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), sim.Clock);
            }
            return sim.Failed.Exception!.InnerException!.Message;
        }, timeLimit: TimeSpan.FromSeconds(30));

        message.Should().Contain("past its limit of 30 s of cluster time");
    }

    /// <summary>The ways out of a simulation that STYLE.md lists, each recorded, none trusted away.</summary>
    public static TheoryData<string> Exits =>
    [
        "Task.Run",
        "ConfigureAwait(false)",
        "Task.WaitAsync",
        "CancelAsync",
        "ValueTask.AsTask() in WhenAny",
        "Task.Delay without the clock",
        "a cancelled delay in WhenAny",
        "ReadAllAsync",
    ];

    [Theory]
    [MemberData(nameof(Exits))]
    public async Task WorkThatLeavesTheSimulationIsCaught(string exit)
    {
        IReadOnlyList<string> escapes = await Simulation.RunAsync(1, async sim =>
        {
            switch (exit)
            {
                case "Task.Run":
                    await Task.Run(() => sim.Clock.GetTimestamp());
                    break;
                case "ConfigureAwait(false)":
                    await Task.Delay(TimeSpan.FromMilliseconds(1), sim.Clock).ConfigureAwait(false);
                    await Task.Yield();
                    await Task.Delay(TimeSpan.FromMilliseconds(1), sim.Clock);
                    break;
                // From here on, what completes the awaited task is started by a timer of the simulation,
                // so the run is already waiting when the completion comes back from the thread pool
                // (started before the await, the completion can win the race and go unseen).
                case "Task.WaitAsync":
                    var reply = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    using (var closed = new CancellationTokenSource())
                    using (Later(sim, () => reply.SetResult()))
                    {
                        await reply.Task.WaitAsync(closed.Token);
                    }
                    break;
                case "CancelAsync":
                    using (var cts = new CancellationTokenSource())
                    using (var proceed = new SemaphoreSlim(0))
                    using (cts.Token.Register(() => proceed.Wait())) // on the pool, under CancelAsync, until the timer below
                    using (Later(sim, () => proceed.Release()))
                    {
                        await cts.CancelAsync();
                    }
                    break;
                case "ValueTask.AsTask() in WhenAny":
                    var channel = Channel.CreateBounded<int>(1);
                    using (Later(sim, () => channel.Writer.TryWrite(1)))
                    {
                        await Task.WhenAny(channel.Reader.WaitToReadAsync().AsTask(), new TaskCompletionSource().Task);
                    }
                    break;
                case "Task.Delay without the clock":
                    using (var wake = new CancellationTokenSource())
                    using (Later(sim, () => wake.CancelAfter(1))) // a system timer ends the delay
                    {
                        await Task.Delay(Timeout.InfiniteTimeSpan, wake.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
                    }
                    break;
                case "a cancelled delay in WhenAny":
                    using (var stop = new CancellationTokenSource())
                    using (Later(sim, stop.Cancel))
                    {
                        await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(1), sim.Clock, stop.Token), new TaskCompletionSource().Task);
                    }
                    break;
                case "ReadAllAsync":
                    var lines = Channel.CreateUnbounded<int>();
                    _ = WriteLaterAsync(lines.Writer, sim.Clock);
                    await foreach (int _ in lines.Reader.ReadAllAsync(TestContext.Current.CancellationToken))
                    {
                        break;
                    }
                    break;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(1), sim.Clock);
            return sim.Escapes;
        });

        escapes.Should().NotBeEmpty($"{exit} leaves the simulation");
        escapes[0].Should().Contain("thread pool").And.Contain(" at ", "an escape says where it came from");
    }

    /// <summary>Code that stays on the simulation's awaits leaves nothing behind.</summary>
    [Fact]
    public async Task AwaitsOnTheSimulationAreNoEscape()
    {
        IReadOnlyList<string> escapes = await Simulation.RunAsync(1, async sim =>
        {
            var channel = Channel.CreateBounded<int>(1);
            var reply = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var ticker = new PeriodicTimer(TimeSpan.FromMilliseconds(10), sim.Clock);
            Task reader = ReadAsync(channel.Reader);
            for (int i = 0; i < 3; i++)
            {
                await ticker.WaitForNextTickAsync();
                channel.Writer.TryWrite(i);
            }
            channel.Writer.TryComplete();
            await reader;
            _ = SetLaterAsync(reply, sim.Clock);
            await reply.Task;
            using (var cts = new CancellationTokenSource())
            {
                Task delay = Task.Delay(TimeSpan.FromSeconds(1), sim.Clock, cts.Token);
                cts.Cancel();
                await delay.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
            }
            return sim.Escapes;
        });

        escapes.Should().BeEmpty();
    }

    /// <summary>A method that adopts a simulation goes on on its thread once it first waits, and leaves it for the thread pool.</summary>
    [Fact]
    public async Task AnAdoptedMethodRunsOnTheSimulationUntilItLeaves()
    {
        var sim = new Simulation(3);
        sim.Adopt();
        Simulation.Current.Should().BeSameAs(sim);
        await ExactDelay.DelayAsync(sim.Clock, TimeSpan.FromMilliseconds(5), TestContext.Current.CancellationToken);
        Thread.CurrentThread.Name.Should().Be("simulation 3");
        sim.Clock.Now.Should().Be(TimeSpan.FromMilliseconds(5));

        await sim.LeaveAsync();
        Thread.CurrentThread.IsThreadPoolThread.Should().BeTrue();
        Simulation.Current.Should().BeNull("the simulation has ended");
        sim.Escapes.Should().BeEmpty();
    }

    private static async Task ReadAsync(ChannelReader<int> reader)
    {
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out _))
            {
            }
        }
    }

    private static async Task SetLaterAsync(TaskCompletionSource done, TimeProvider clock)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(3), clock);
        done.SetResult();
    }

    /// <summary>Runs <paramref name="action"/> on the simulation's thread 1 ms of cluster time from now.</summary>
    private static ITimer Later(Simulation sim, Action action) =>
        sim.Clock.CreateTimer(_ => action(), null, TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);

    private static async Task WriteLaterAsync(ChannelWriter<int> writer, TimeProvider clock)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(3), clock);
        writer.TryWrite(1);
    }
}
