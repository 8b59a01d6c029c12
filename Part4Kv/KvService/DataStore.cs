// The in-memory map behind the KV service: the state machine that committed commands change.
namespace Kv.Service;

/// <summary>A string-to-string map that any thread may use; every operation is atomic.</summary>
public sealed class DataStore
{
    /// <summary>Guards <see cref="_data"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>The stored pairs.</summary>
    private readonly Dictionary<string, string> _data = [];

    /// <summary>The value of <paramref name="key"/> and true, or ("", false) if it is absent.</summary>
    public (string Value, bool Found) Get(string key)
    {
        lock (_mu)
        {
            return _data.TryGetValue(key, out string? value) ? (value, true) : ("", false);
        }
    }

    /// <summary>
    /// Sets <paramref name="key"/> to <paramref name="value"/>. Returns the value it replaced and
    /// true, or ("", false) if the key is new.
    /// </summary>
    public (string PrevValue, bool Found) Put(string key, string value)
    {
        lock (_mu)
        {
            bool found = _data.TryGetValue(key, out string? prev);
            _data[key] = value;
            return (prev ?? "", found);
        }
    }

    /// <summary>
    /// Compare-and-swap: if <paramref name="key"/> exists with the value <paramref name="compare"/>,
    /// sets it to <paramref name="value"/>; otherwise changes nothing. Either way returns the
    /// value the key had before and whether it existed.
    /// </summary>
    public (string PrevValue, bool Found) CAS(string key, string compare, string value)
    {
        lock (_mu)
        {
            bool found = _data.TryGetValue(key, out string? prev);
            if (found && prev == compare)
            {
                _data[key] = value;
            }
            return (prev ?? "", found);
        }
    }

    /// <summary>A copy of all pairs, taken atomically; for tools that show what a service holds.</summary>
    public Dictionary<string, string> Snapshot()
    {
        lock (_mu)
        {
            return new Dictionary<string, string>(_data);
        }
    }
}
