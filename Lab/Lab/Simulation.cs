// The deterministic simulation: the real Raft code on one thread and a virtual clock, with every
// random choice drawn from one seed, so that a run is replayed exactly from its seed.
using System.Diagnostics;
using System.Globalization;

namespace Lab;

/// <summary>
/// A simulated run. Everything the run does happens on one thread, one piece at a time: every
/// <c>await</c> comes back through this simulation's <see cref="SynchronizationContext"/>, which
/// queues the continuation, and the queue is run in order. When nothing is left to run, the
/// <see cref="Clock"/> jumps to the next timer that is due and fires it; nothing else ever moves it.
/// Every <see cref="Random"/> of the run comes from <see cref="NewRandom"/>, seeded from
/// <see cref="Seed"/>. So the same seed gives the same run, to the microsecond of every log line,
/// whatever else the machine is doing.
/// </summary>
/// <remarks>
/// <para>
/// Code that leaves the simulation (<c>Task.Run</c>, <c>ConfigureAwait(false)</c> on an unfinished
/// task, a timer of the system clock) would make the run depend on the machine again. It is not
/// trusted away: work that comes back to the simulation from another thread, and any use of the
/// clock, the randoms, the network or the log from another thread, is recorded in
/// <see cref="Escapes"/> with a stack trace, and the harness fails the run on it.
/// </para>
/// <para>
/// A test enters a simulation with <see cref="Adopt"/>, typically from its harness's constructor:
/// the rest of the calling method, and everything it starts, runs on the simulation. The
/// simulation's own thread takes over when that method first waits (see <see cref="Adopt"/>).
/// A tool runs a whole body on one with <see cref="RunAsync{T}"/>.
/// </para>
/// </remarks>
public sealed class Simulation
{
    /// <summary>The longest run, in cluster time: past it the run fails (a test waiting for what never comes).</summary>
    public static readonly TimeSpan DefaultTimeLimit = TimeSpan.FromMinutes(10);

    /// <summary>Pieces of work run without the clock moving before the run is failed as a busy loop.</summary>
    private const int MaxStepsAtOneInstant = 2_000_000;

    /// <summary>How long a run with nothing to do waits for escaped work to come back before it fails as stuck (real time).</summary>
    private static readonly TimeSpan StuckGrace = TimeSpan.FromMilliseconds(500);

    /// <summary>The simulation the current code runs in, if any; it flows along every await, as an AsyncLocal does.</summary>
    private static readonly AsyncLocal<Simulation?> Adopted = new(OnAdoptedChanged);

    /// <summary>Guards <see cref="_queue"/>, <see cref="_escapes"/> and the state of the run.</summary>
    private readonly Lock _mu = new();

    /// <summary>Work ready to run, in the order it became ready.</summary>
    private readonly Queue<(SendOrPostCallback Callback, object? State)> _queue = new();

    /// <summary>Backs <see cref="Escapes"/>.</summary>
    private readonly List<string> _escapes = [];

    /// <summary>Hands out the seeds of <see cref="NewRandom"/>.</summary>
    private readonly Random _seeds;

    /// <summary>
    /// Completes with the run's failure (stuck, busy, out of time); see <see cref="Failed"/>. Not
    /// RunContinuationsAsynchronously: a task with that option wakes a Task.WhenAny waiting on it
    /// from the thread pool, and the harness races its waits against this one.
    /// </summary>
    private readonly TaskCompletionSource _failed = new();

    /// <summary>Set when <see cref="_queue"/> gets work while the loop waits for some (only when stuck).</summary>
    private readonly SemaphoreSlim _posted = new(0);

    /// <summary>The one thread allowed to run the simulation's work: its creator until the loop starts, then the loop's.</summary>
    private Thread _owner;

    /// <summary>The loop's thread, once started.</summary>
    private Thread? _loop;

    /// <summary>Inputs from outside not yet given their moment (see <see cref="Input"/>), in the order they came.</summary>
    private readonly Queue<Action<TimeSpan>> _inputs = new();

    /// <summary>Inputs given their moment in advance (see <see cref="ScheduleInput"/>), by moment, then by the order they were given.</summary>
    private readonly PriorityQueue<Action, (long At, long Order)> _scheduled = new();

    /// <summary>Orders scheduled inputs of the same moment.</summary>
    private long _scheduledCount;

    /// <summary>
    /// Set by <see cref="LeaveAsync"/> or the end of <see cref="RunAsync{T}"/>: the loop stops
    /// after the work at hand, and nothing runs on this simulation any more.
    /// </summary>
    private volatile bool _ended;

    /// <summary>
    /// Creates a simulation whose every random choice follows from <paramref name="seed"/>; with a
    /// <paramref name="pacer"/>, its clock moves no faster than the pacer lets it (a tool's live run).
    /// </summary>
    public Simulation(int seed, TimeSpan? timeLimit = null, Pacer? pacer = null)
    {
        Seed = seed;
        Pacer = pacer;
        if (pacer is not null)
        {
            pacer.Wake = () => _posted.Release();
        }
        _seeds = new Random(seed);
        _owner = Thread.CurrentThread;
        Context = new SimulationContext(this);
        Clock = new VirtualClock(this);
        if (pacer is not null)
        {
            pacer.Progress = () => Clock.Timestamp;
        }
        TimeLimit = timeLimit ?? DefaultTimeLimit;
    }

    /// <summary>The seed every random choice of this run follows from.</summary>
    public int Seed { get; }

    /// <summary>The cluster's time: it starts at 0 and moves only when nothing can run.</summary>
    public VirtualClock Clock { get; }

    /// <summary>How much cluster time the run may take before it fails.</summary>
    public TimeSpan TimeLimit { get; }

    /// <summary>What paces the run to the wall clock; null for a run at full speed (every test's).</summary>
    public Pacer? Pacer { get; }

    /// <summary>The context every await of the run comes back through.</summary>
    internal SimulationContext Context { get; }

    /// <summary>The simulation the calling code runs in, or null (real time, or a simulation that has ended).</summary>
    public static Simulation? Current => Adopted.Value is { _ended: false } sim ? sim : null;

    /// <summary>
    /// Faults with a <see cref="SimulationFailedException"/> if the run cannot go on: nothing can
    /// run and no timer is set (say what waited with <see cref="DescribeWaiting"/>), a busy loop
    /// that never lets the clock move, or more cluster time than <see cref="TimeLimit"/>. The
    /// harness races its waits against it, so such a run fails at once rather than hang.
    /// </summary>
    public Task Failed => _failed.Task;

    /// <summary>Says what the run was waiting for when it got stuck, for the failure's message (the harness lists its servers' tasks).</summary>
    public Func<string>? DescribeWaiting { get; set; }

    /// <summary>What left the simulation: each entry says what, on which thread, and where from.</summary>
    public IReadOnlyList<string> Escapes
    {
        get
        {
            lock (_mu)
            {
                return [.. _escapes];
            }
        }
    }

    /// <summary>
    /// A <see cref="Random"/> for one user (a server, the network), seeded from <see cref="Seed"/>:
    /// the n-th call of a run gets the same sequence in every replay. It may only be used on the
    /// simulation's thread (a use elsewhere is an escape).
    /// </summary>
    public Random NewRandom()
    {
        CheckThread("NewRandom");
        return new SimulatedRandom(this, _seeds.Next());
    }

    /// <summary>
    /// Makes the calling method, from here on, and everything it starts, part of this simulation:
    /// its awaits come back to the simulation's thread. The caller keeps running on its own thread
    /// until it first waits (its method returns an unfinished task to its caller); at that moment
    /// its thread leaves, and the simulation's thread takes over. Until then nothing else runs, so
    /// what the caller does first (build a cluster, say) happens before anything of the run.
    /// </summary>
    /// <remarks>
    /// Only the method that calls this (and what it calls) is moved: a helper that calls it and
    /// returns would take the simulation with it. The moment the caller waits is seen through an
    /// <see cref="AsyncLocal{T}"/>'s change notification, which .NET raises when an async method
    /// hands its thread back and restores the thread's previous execution context.
    /// </remarks>
    public void Adopt()
    {
        if (Current == this)
        {
            return;
        }
        if (_loop is not null || _ended)
        {
            throw new InvalidOperationException("this simulation has started already");
        }
        _owner = Thread.CurrentThread;
        SynchronizationContext.SetSynchronizationContext(Context);
        Adopted.Value = this;
    }

    /// <summary>
    /// Ends the simulation: whatever awaits this goes on outside it (on the thread pool), and the
    /// simulation's thread stops after the work at hand. Work still queued is dropped. Awaited
    /// outside the simulation, it does nothing.
    /// </summary>
    public LeaveAwaitable LeaveAsync() => new(this);

    /// <summary>
    /// Runs <paramref name="body"/> on a new simulation of <paramref name="seed"/>, on a thread of
    /// its own, and returns its result once it ends; the simulation ends with it.
    /// </summary>
    public static Task<T> RunAsync<T>(int seed, Func<Simulation, Task<T>> body, TimeSpan? timeLimit = null)
    {
        var sim = new Simulation(seed, timeLimit);
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        sim.Context.Post(_ => _ = RunBodyAsync(), null);
        sim.StartLoop();
        return result.Task;

        async Task RunBodyAsync()
        {
            Adopted.Value = sim;
            try
            {
                result.TrySetResult(await body(sim));
            }
            catch (Exception e)
            {
                result.TrySetException(e);
            }
            finally
            {
                sim._ended = true;
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the simulation's thread, after the work already queued: the
    /// door through which a tool's own threads look at a running simulation (its state, for a page),
    /// not an escape. What it runs must not change the run (no timer, no random, no message): a
    /// change from outside is an <see cref="Input"/>.
    /// </summary>
    public void Enqueue(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_mu)
        {
            _queue.Enqueue((static w => ((Action)w!)(), work));
        }
        _posted.Release();
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the simulation's thread as an input from outside (a learner's
    /// click, a client's request): the loop gives it the pacer's time at that moment, as soon as
    /// everything due by then is done, moves the clock there and calls it with that moment. An input
    /// recorded with its moment and given again with <see cref="ScheduleInput"/> in a new run of the
    /// same seed enters at the same point of the run, which is how such a run replays.
    /// </summary>
    public void Input(Action<TimeSpan> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_mu)
        {
            _inputs.Enqueue(work);
        }
        _posted.Release();
    }

    /// <summary>
    /// Runs <paramref name="work"/> as an input at cluster time <paramref name="at"/>: after every
    /// timer due by then and the work it started, before any timer due later (see <see cref="Input"/>).
    /// Inputs of the same moment run in the order given.
    /// </summary>
    public void ScheduleInput(TimeSpan at, Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_mu)
        {
            _scheduled.Enqueue(work, (at.Ticks, _scheduledCount++));
        }
        _posted.Release();
    }

    /// <summary>
    /// Starts the simulation's thread, running what was queued with <see cref="Enqueue"/> and
    /// scheduled; for a tool that keeps a simulation running, not a test (see <see cref="Adopt"/>).
    /// The work it runs is part of the simulation (<see cref="Current"/>).
    /// </summary>
    public void Start() => StartLoop();

    /// <summary>Ends the simulation where it stands: its thread stops, and what was queued or due never runs.</summary>
    public void Stop()
    {
        _ended = true;
        _posted.Release();
    }

    /// <summary>
    /// Records an escape unless the caller runs on the simulation's thread: called by everything
    /// of the lab that a run touches (the clock, the randoms, the network, the log).
    /// </summary>
    public void CheckThread(string what)
    {
        if (Thread.CurrentThread != _owner && !_ended)
        {
            RecordEscape($"{what} used on {ThreadName()}, not the simulation's thread");
        }
    }

    /// <summary>Fails the run (see <see cref="Failed"/>); the first reason is the one kept.</summary>
    public void Fail(string why) =>
        _failed.TrySetException(new SimulationFailedException($"simulation (seed {Seed}) at {Clock.Now.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms: {why}"));

    /// <summary>Throws the run's failure, if it has one.</summary>
    public void ThrowIfFailed()
    {
        if (_failed.Task.IsFaulted)
        {
            throw _failed.Task.Exception!.InnerException!;
        }
    }

    /// <summary>
    /// Queues work; from another thread, that is an escape coming back, and is recorded. Once the
    /// simulation has ended, what is still posted to it (the continuations of the methods that
    /// awaited on it, up to the test's) runs on the thread pool.
    /// </summary>
    internal void Post(SendOrPostCallback callback, object? state)
    {
        if (_ended)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static w => w.Callback(w.State), (Callback: callback, State: state), preferLocal: false);
            return;
        }
        if (Thread.CurrentThread != _owner)
        {
            RecordEscape($"work came back to the simulation from {ThreadName()}: {Describe(state)}");
        }
        lock (_mu)
        {
            _queue.Enqueue((callback, state));
        }
        if (_loop is not null && Thread.CurrentThread != _loop)
        {
            _posted.Release();
        }
    }

    /// <summary>What a posted piece of work continues: for an await, the async method it resumes.</summary>
    private static string Describe(object? state) =>
        state is Delegate { Target: { } target } ? target.GetType().ToString() : state?.GetType().ToString() ?? "?";

    /// <summary>The calling thread, as an escape names it.</summary>
    private static string ThreadName() =>
        $"thread {Environment.CurrentManagedThreadId} ({(Thread.CurrentThread.IsThreadPoolThread ? "thread pool" : Thread.CurrentThread.Name ?? "unnamed")})";

    private void RecordEscape(string what)
    {
        string where = new StackTrace(2, fNeedFileInfo: false).ToString();
        lock (_mu)
        {
            // The first few are enough to find the cause; a leak can repeat thousands of times.
            if (_escapes.Count < 10)
            {
                _escapes.Add($"{what}{Environment.NewLine}{where}");
            }
        }
    }

    /// <summary>Starts the loop on a thread of its own; only once.</summary>
    private void StartLoop()
    {
        lock (_mu)
        {
            if (_loop is not null)
            {
                return;
            }
            _loop = new Thread(RunLoop) { IsBackground = true, Name = $"simulation {Seed}" };
            _owner = _loop;
        }
        _loop.UnsafeStart();
    }

    /// <summary>Seen when an async method hands its thread back: if that was the method that adopted a simulation, the simulation's thread takes over.</summary>
    private static void OnAdoptedChanged(AsyncLocalValueChangedArgs<Simulation?> change)
    {
        if (change.ThreadContextChanged && change.PreviousValue is { } sim && change.CurrentValue != sim
            && sim._loop is null && Thread.CurrentThread == sim._owner)
        {
            sim.StartLoop();
        }
    }

    /// <summary>The simulation's thread: run what is ready, else move the clock to the next timer, until the run ends.</summary>
    private void RunLoop()
    {
        SynchronizationContext.SetSynchronizationContext(Context);
        Adopted.Value = this;
        long steps = 0;
        long stepsAt = -1;
        while (!_ended)
        {
            if (TryDequeue(out var work))
            {
                if (Clock.Timestamp != stepsAt)
                {
                    (stepsAt, steps) = (Clock.Timestamp, 0);
                }
                if (++steps == MaxStepsAtOneInstant)
                {
                    Fail($"{MaxStepsAtOneInstant:N0} pieces of work ran without the clock moving: a busy loop");
                }
                work.Callback(work.State);
                continue;
            }
            if (Pacer is not null)
            {
                RunPaced();
                continue;
            }
            if (Clock.Now > TimeLimit && !_failed.Task.IsCompleted)
            {
                Fail($"the run went on past its limit of {TimeLimit.TotalSeconds:0} s of cluster time");
                continue;
            }
            if (Clock.FireNext())
            {
                continue;
            }
            // Nothing can run and no timer is set. Escaped work may still come back from another
            // thread (and is recorded when it does); otherwise the run is stuck for good.
            if (_posted.Wait(StuckGrace))
            {
                continue;
            }
            if (!_failed.Task.IsCompleted)
            {
                Fail($"stuck: nothing can run and no timer is set{(DescribeWaiting is { } describe ? $"; waiting: {describe()}" : "")}");
                continue;
            }
            Console.Error.WriteLine($"simulation (seed {Seed}) is stuck and nobody awaited its failure: {_failed.Task.Exception?.InnerException?.Message}");
            _posted.Wait();
        }
    }

    /// <summary>
    /// One turn of a paced run's loop, with nothing queued: an input whose moment has come, or the
    /// next timer if the pacer has reached it, or else a wait for either. An input runs after every
    /// timer due by its moment and before any due later, so a replay puts it at the same point.
    /// </summary>
    private void RunPaced()
    {
        Pacer pacer = Pacer!;
        long? due = Clock.NextDue();
        long limit = pacer.Limit();
        Action? scheduled = null;
        Action<TimeSpan>? input = null;
        long scheduledAt = long.MaxValue;
        lock (_mu)
        {
            if (_scheduled.TryPeek(out _, out var at))
            {
                scheduledAt = at.At;
                if (at.At <= limit && (due is not long d || at.At < d))
                {
                    scheduled = _scheduled.Dequeue();
                }
            }
            if (scheduled is null && (due is not long d2 || d2 > limit) && scheduledAt > limit)
            {
                _inputs.TryDequeue(out input);
            }
        }
        if (scheduled is not null)
        {
            Clock.AdvanceTo(scheduledAt);
            scheduled();
            return;
        }
        if (input is not null)
        {
            long at = Math.Max(Clock.Timestamp, limit);
            Clock.AdvanceTo(at);
            input(TimeSpan.FromTicks(at));
            return;
        }
        if (due is long next && next <= limit && next <= scheduledAt)
        {
            Clock.FireNext();
            return;
        }
        // Everything due by the pacer's time is done: the clock stands there until the next timer
        // or input (reads see the time a learner sees), and whoever waits for this moment is told.
        // (Here the next timer and the next scheduled input are both past the pacer's time.)
        Clock.AdvanceTo(limit);
        pacer.Reached(limit);
        long wakeAt = Math.Min(due ?? long.MaxValue, scheduledAt);
        TimeSpan wait = wakeAt == long.MaxValue ? Timeout.InfiniteTimeSpan : pacer.WallUntil(wakeAt);
        _posted.Wait(wait == Timeout.InfiniteTimeSpan ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(Math.Clamp(Math.Ceiling(wait.TotalMilliseconds), 1, int.MaxValue)));
    }

    private bool TryDequeue(out (SendOrPostCallback Callback, object? State) work)
    {
        lock (_mu)
        {
            return _queue.TryDequeue(out work);
        }
    }

    /// <summary>What <see cref="LeaveAsync"/> returns: awaiting it moves the awaiting code off the simulation.</summary>
    public readonly struct LeaveAwaitable(Simulation sim) : System.Runtime.CompilerServices.ICriticalNotifyCompletion
    {
        public LeaveAwaitable GetAwaiter() => this;

        /// <summary>Nothing to leave when not on the simulation's thread.</summary>
        public bool IsCompleted => SynchronizationContext.Current != sim.Context;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            sim._ended = true;
            ThreadPool.UnsafeQueueUserWorkItem(static c => ((Action)c!)(), continuation);
        }
    }
}

/// <summary>Why a simulated run could not go on: stuck, busy, or out of cluster time.</summary>
public sealed class SimulationFailedException(string message) : Exception(message);

/// <summary>The <see cref="SynchronizationContext"/> of a <see cref="Simulation"/>: every continuation is queued to its thread.</summary>
internal sealed class SimulationContext(Simulation sim) : SynchronizationContext
{
    public override void Post(SendOrPostCallback d, object? state) => sim.Post(d, state);

    /// <summary>Nothing in the lab or the parts sends; running it inline on the simulation's thread is what a send means.</summary>
    public override void Send(SendOrPostCallback d, object? state)
    {
        sim.CheckThread("SynchronizationContext.Send");
        d(state);
    }

    public override SynchronizationContext CreateCopy() => this;
}

/// <summary>A seeded <see cref="Random"/> that checks it is used on the simulation's thread.</summary>
internal sealed class SimulatedRandom(Simulation sim, int seed) : Random(seed)
{
    public override int Next()
    {
        sim.CheckThread("a simulated Random");
        return base.Next();
    }

    public override int Next(int maxValue)
    {
        sim.CheckThread("a simulated Random");
        return base.Next(maxValue);
    }

    public override int Next(int minValue, int maxValue)
    {
        sim.CheckThread("a simulated Random");
        return base.Next(minValue, maxValue);
    }

    public override double NextDouble()
    {
        sim.CheckThread("a simulated Random");
        return base.NextDouble();
    }

    public override long NextInt64(long minValue, long maxValue)
    {
        sim.CheckThread("a simulated Random");
        return base.NextInt64(minValue, maxValue);
    }
}
