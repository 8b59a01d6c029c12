// A deadline on any clock, inside a parent token.
namespace Lab;

/// <summary>
/// A cancellation deadline on any clock, inside a parent token: a CancellationTokenSource of the
/// clock's, linked with the parent, since a linked source's own CancelAfter always runs on the
/// system's timer (and so leaves a simulation).
/// </summary>
public sealed class DeadlineSource : IDisposable
{
    private readonly CancellationTokenSource _timer;

    private readonly CancellationTokenSource _linked;

    public DeadlineSource(TimeSpan after, TimeProvider clock, CancellationToken parent)
    {
        _timer = new CancellationTokenSource(after, clock);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(parent, _timer.Token);
    }

    public CancellationToken Token => _linked.Token;

    public bool IsCancellationRequested => _linked.IsCancellationRequested;

    public void Dispose()
    {
        _linked.Dispose();
        _timer.Dispose();
    }
}
