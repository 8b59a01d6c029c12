// Where a test's log goes: servers' Dlog lines and the test's own [TEST] lines, in one stream.
using System.Globalization;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Raft;

/// <summary>
/// Writes log lines to the test's output in upstream's shape, <c>15:04:05.000000 [id] message</c>,
/// so Tools/TestLogViz reads C# and Go logs alike. Closed when the cluster shuts down: xunit fails
/// the test host if a straggling task writes to a test that has finished.
/// </summary>
public sealed class TestLog(ITestOutputHelper output) : ILoggerProvider, ILogger
{
    /// <summary>Guards <see cref="_closed"/> and keeps lines whole.</summary>
    private readonly Lock _mu = new();

    /// <summary>Set once the test is over; later lines are dropped.</summary>
    private bool _closed;

    /// <summary>Writes one line, stamped with the wall-clock time.</summary>
    public void Write(string message)
    {
        string stamp = DateTime.Now.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
        lock (_mu)
        {
            if (!_closed)
            {
                output.WriteLine($"{stamp} {message}");
            }
        }
    }

    /// <summary>Drops every line written from now on.</summary>
    public void Close()
    {
        lock (_mu)
        {
            _closed = true;
        }
    }

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        Write(exception is null ? formatter(state, exception) : $"{formatter(state, exception)}: {exception}");
    }

    public void Dispose() => Close();
}
