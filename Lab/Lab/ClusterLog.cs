// Where a run's log goes: the servers' lines and the test's own, stamped with the cluster's clock.
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Lab;

/// <summary>
/// Writes log lines in upstream's shape, <c>15:04:05.000000 [id] message</c>, so Tools/TestLogViz
/// reads C# and Go logs alike, each stamped by <paramref name="clock"/> when it is logged. On a
/// simulation's clock the stamps are cluster time from 00:00:00, the same in every replay. Lines
/// written after <see cref="Close"/> are dropped: a test framework may refuse output from a test
/// that has ended.
/// </summary>
/// <param name="write">Where each finished line goes (a test's output, say); called under a lock, one line at a time.</param>
/// <param name="maxChars">
/// If given, the most characters the log takes: past it one line says the log was cut off, and
/// <see cref="IsEnabled"/> turns false, so that the servers stop building lines (a CM prints its
/// whole log in some, so a long run's log grows with the square of its length).
/// </param>
public sealed class ClusterLog(Action<string> write, TimeProvider clock, long? maxChars = null) : ILogger
{
    /// <summary>Keeps lines whole and in order, and <see cref="Close"/> final.</summary>
    private readonly Lock _mu = new();

    /// <summary>The simulation whose clock stamps the lines, if any: writing is checked to be on its thread.</summary>
    private readonly Simulation? _sim = (clock as VirtualClock)?.Simulation;

    /// <summary>Set by <see cref="Close"/>.</summary>
    private bool _closed;

    /// <summary>Characters written so far.</summary>
    private long _chars;

    /// <summary>The most characters written (<paramref name="maxChars"/>, or no limit).</summary>
    private readonly long _max = maxChars ?? long.MaxValue;

    /// <summary>Told of every line written, after it is written (see <see cref="Lab.Recorder"/>); null records nothing.</summary>
    public Recorder? Recorder { get; set; }

    /// <summary>Writes one line, stamped now.</summary>
    public void Write(string message)
    {
        _sim?.CheckThread("the log");
        string stamp = clock.GetLocalNow().ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
        lock (_mu)
        {
            if (!_closed && _chars < _max)
            {
                _chars += message.Length;
                write($"{stamp} {message}");
                if (_chars >= _max)
                {
                    write($"{stamp} [TEST] log cut off here: it reached {_max:N0} characters");
                }
            }
        }
        Recorder?.Line(message);
    }

    /// <summary>Drops every line written from now on.</summary>
    public void Close()
    {
        lock (_mu)
        {
            _closed = true;
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => Volatile.Read(ref _chars) < _max;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        Write(exception is null ? formatter(state, exception) : $"{formatter(state, exception)}: {exception}");
    }
}
