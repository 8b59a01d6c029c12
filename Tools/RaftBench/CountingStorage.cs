// Storage that counts what is written to it, for both clusters' write figures.
using Raft;

namespace RaftBench;

/// <summary>
/// A <see cref="MapStorage"/> that counts what is written to it. With <c>discard</c> it keeps
/// nothing, to measure a cluster without the cost of storing its state; it is never restarted from.
/// </summary>
internal sealed class CountingStorage(bool discard = false) : IStorage
{
    private readonly MapStorage _inner = new();
    private long _writes;
    private long _bytes;
    private long _largestBytes;

    public long Writes => Interlocked.Read(ref _writes);

    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The size of the largest write since the last call, which starts counting again.</summary>
    public long TakeLargestBytes() => Interlocked.Exchange(ref _largestBytes, 0);

    public bool HasData => !discard && _inner.HasData;

    public (byte[]? Value, bool Found) Get(string key) => discard ? (null, false) : _inner.Get(key);

    public void Set(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Interlocked.Increment(ref _writes);
        Interlocked.Add(ref _bytes, value.Length);
        long largest = Interlocked.Read(ref _largestBytes);
        while (value.Length > largest && Interlocked.CompareExchange(ref _largestBytes, value.Length, largest) != largest)
        {
            largest = Interlocked.Read(ref _largestBytes);
        }
        if (!discard)
        {
            _inner.Set(key, value);
        }
    }
}
