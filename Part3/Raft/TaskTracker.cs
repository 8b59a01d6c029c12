// Tracked background tasks: the C# stand-in for Go's goroutines plus a leak check.
using Microsoft.Extensions.Logging;

namespace Raft;

/// <summary>
/// The background tasks one component has started, each under a name. Where Go writes
/// <c>go f()</c>, this code writes <c>_tasks.Run("name", F)</c>, so that shutdown can wait for
/// them and the tests can name any task that outlives its server.
/// </summary>
/// <param name="ownerId">The server the tasks belong to; a failure is logged under its id, as its Dlog lines are.</param>
internal sealed class TaskTracker(int ownerId, ILogger logger, CancellationToken stopping)
{
    /// <summary>Guards <see cref="_running"/> and <see cref="_faults"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>Tasks that have not finished yet, with their names.</summary>
    private readonly Dictionary<Task, string> _running = [];

    /// <summary>Unexpected exceptions thrown by finished tasks; a correct run has none.</summary>
    private readonly List<Exception> _faults = [];

    /// <summary>
    /// Starts <paramref name="work"/> apart from the caller, which goes on at once. Cancellation
    /// through the owner's token ends it quietly; any other exception is logged and kept in
    /// <see cref="Faults"/>, so the task returned never faults and awaiting it only waits.
    /// </summary>
    public Task Run(string name, Func<Task> work)
    {
        Task task = RunOneAsync(name, work);
        lock (_mu)
        {
            _running[task] = name;
        }
        // Registered after the Add, so the Remove always comes second, even for a task that already ended.
        task.ContinueWith(Forget, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    /// <summary>Names of the tasks still running.</summary>
    public IReadOnlyList<string> Running()
    {
        lock (_mu)
        {
            return [.. _running.Values];
        }
    }

    /// <summary>Exceptions that ended a task other than by cancellation.</summary>
    public IReadOnlyList<Exception> Faults()
    {
        lock (_mu)
        {
            return [.. _faults];
        }
    }

    /// <summary>Completes when every task running now has finished.</summary>
    public Task WhenAllAsync()
    {
        lock (_mu)
        {
            return Task.WhenAll(_running.Keys.ToArray());
        }
    }

    private async Task RunOneAsync(string name, Func<Task> work)
    {
        // Hands the work to the thread pool, or to a simulation's queue when one runs this code;
        // Task.Run would always take the pool.
        await Task.Yield();
        try
        {
            await work();
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The owner is shutting down: this is how every loop ends.
        }
        catch (Exception e)
        {
            logger.LogError(e, "[{Id}] background task '{Name}' failed", ownerId, name);
            lock (_mu)
            {
                _faults.Add(e);
            }
        }
    }

    private void Forget(Task task)
    {
        lock (_mu)
        {
            _running.Remove(task);
        }
    }
}
