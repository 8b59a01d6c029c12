// Stable storage for a server's persistent Raft state, and an in-memory one for the tests.
using System.Collections.Concurrent;

namespace Raft;

/// <summary>Stable storage: what a server writes here survives its crash (upstream's Storage).</summary>
#pragma warning disable CA1716 // Set and Get keep upstream's names; VB's keywords do not matter here.
public interface IStorage
{
    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>, replacing what was there; the storage may keep the array itself.</summary>
    void Set(string key, byte[] value);

    /// <summary>The bytes stored under <paramref name="key"/>, if any.</summary>
    (byte[]? Value, bool Found) Get(string key);

    /// <summary>Whether anything was ever stored.</summary>
    bool HasData { get; }
}
#pragma warning restore CA1716

/// <summary>
/// An in-memory <see cref="IStorage"/>, safe to use from several threads. It keeps the arrays it is
/// given, as upstream's does (a CM never touches one again), and hands out copies. The tests keep
/// one per server and hand it to the server's replacement after a crash.
/// </summary>
public sealed class MapStorage : IStorage
{
    /// <summary>The stored values, by key.</summary>
    private readonly ConcurrentDictionary<string, byte[]> _m = [];

    public (byte[]? Value, bool Found) Get(string key) =>
        _m.TryGetValue(key, out byte[]? v) ? ([.. v], true) : (null, false);

    public void Set(string key, byte[] value) => _m[key] = value ?? throw new ArgumentNullException(nameof(value));

    public bool HasData => !_m.IsEmpty;
}
