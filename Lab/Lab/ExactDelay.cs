// A delay on any clock, to the tick.
namespace Lab;

/// <summary>Delays of any length on any <see cref="TimeProvider"/>, to its tick.</summary>
public static class ExactDelay
{
    /// <summary>
    /// Completes after <paramref name="delay"/> of <paramref name="clock"/>, or is cancelled by
    /// <paramref name="ct"/>. Task.Delay rounds a delay down to whole milliseconds, which on a
    /// simulation's clock would put every network delay on a millisecond boundary.
    /// </summary>
    public static async Task DelayAsync(TimeProvider clock, TimeSpan delay, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using ITimer timer = clock.CreateTimer(static d => ((TaskCompletionSource)d!).TrySetResult(), done, delay, Timeout.InfiniteTimeSpan);
        using CancellationTokenRegistration cancel = ct.Register(static d => ((TaskCompletionSource)d!).TrySetCanceled(), done);
        await done.Task;
    }
}
