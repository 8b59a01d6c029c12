// Short waits that keep their length, for the simulated network on the system clock (real-time runs).
using System.Diagnostics;

namespace Lab;

/// <summary>
/// Delays of a few milliseconds, accurate to a fraction of one. .NET's own timers (Task.Delay,
/// PeriodicTimer) run on the system's coarse clock, which on many Linux machines moves in 4 ms
/// steps: there, Task.Delay(1 ms) takes about 4 ms, and upstream's 1-5 ms network delay would
/// become 4-8 ms. Here one background thread sleeps until the earliest deadline instead, with a
/// wait that uses the precise clock, and completes each delay on the thread pool. A simulation
/// never uses it: its clock is virtual.
/// </summary>
internal static class PreciseDelay
{
    /// <summary>Guards <see cref="Due"/>; the delay thread waits on it for new work.</summary>
    private static readonly object Mu = new();

    /// <summary>Pending delays, earliest deadline (a Stopwatch timestamp) first.</summary>
    private static readonly PriorityQueue<TaskCompletionSource, long> Due = new();

    /// <summary>The one thread that fires delays; started with the first delay, lives as long as the process.</summary>
    private static Thread? _thread;

    /// <summary>Completes after <paramref name="delay"/>, or is cancelled by <paramref name="ct"/>.</summary>
    public static async Task DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long deadline = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        lock (Mu)
        {
            // The delay thread sleeps until the earliest deadline; only a new earliest one needs to
            // wake it. Waking it for every delay would keep it contending for this lock with every
            // caller, and with many clusters at once that blocks pool threads by the dozen.
            bool earliest = !Due.TryPeek(out _, out long first) || deadline < first;
            Due.Enqueue(done, deadline);
            if (_thread is null)
            {
                _thread = new Thread(FireDelays) { IsBackground = true, Name = "simulated network delays" };
                _thread.Start();
            }
            if (earliest)
            {
                Monitor.Pulse(Mu);
            }
        }
        // A cancelled delay stays queued until its deadline, when completing it again does nothing.
        using CancellationTokenRegistration registration = ct.Register(() => done.TrySetCanceled(ct));
        await done.Task;
    }

    /// <summary>The delay thread: fire what is due, then sleep until the next deadline or new work.</summary>
    private static void FireDelays()
    {
        lock (Mu)
        {
            while (true)
            {
                int waitMs = Timeout.Infinite;
                while (Due.TryPeek(out TaskCompletionSource? done, out long deadline))
                {
                    // Rounded to whole milliseconds, the unit Monitor.Wait takes: within half of one.
                    double remainingMs = (deadline - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency;
                    if (remainingMs >= 0.5)
                    {
                        waitMs = (int)Math.Round(remainingMs);
                        break;
                    }
                    Due.Dequeue();
                    done.TrySetResult();
                }
                Monitor.Wait(Mu, waitMs);
            }
        }
    }
}
