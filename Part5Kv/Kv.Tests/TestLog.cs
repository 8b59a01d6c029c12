// Where a test's log goes: the services' and clients' lines and the test's own [TEST] lines, in one stream.
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Kv.Tests;

/// <summary>
/// Writes log lines to the test's output in upstream's shape, <c>15:04:05.000000 [id] message</c>,
/// so Tools/TestLogViz reads C# and Go logs alike. A line is stamped when it is logged and handed
/// to one writer task, so a Raft thread never waits on the test framework's output. Closed when
/// the cluster shuts down: xunit fails the test host if anything writes to a finished test.
/// </summary>
public sealed class TestLog : ILogger
{
    /// <summary>Lines on their way to the test output.</summary>
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>The one task that writes to the test output.</summary>
    private readonly Task _writer;

    /// <summary>
    /// The most characters one test may log. The CMs print whole logs in some lines, so a long
    /// test's output grows with the square of its log (past about 166 million characters the test
    /// runner cannot carry it and aborts the whole run). Every scenario of upstream's logs well
    /// under this; only a stress test such as Part5Kv's fault history reaches it, and building,
    /// carrying and storing its 18 MB cost about a core for the length of the test, taken from
    /// the clusters of the tests beside it. A timeline that long is not read anyway.
    /// </summary>
    private const long MaxChars = 4_000_000;

    /// <summary>Characters logged so far, kept or not.</summary>
    private long _chars;

    public TestLog(ITestOutputHelper output)
    {
        _writer = Task.Run(async () =>
        {
            // Whatever has queued up goes out in one write, and the task then yields its thread: a
            // busy cluster logs thousands of lines a second, and a writer that looped over them one
            // by one would hold a pool thread of a two-core machine to itself.
            var batch = new StringBuilder();
            while (await _lines.Reader.WaitToReadAsync())
            {
                while (batch.Length < 64 * 1024 && _lines.Reader.TryRead(out string? line))
                {
                    batch.Append(batch.Length == 0 ? "" : "\n").Append(line);
                }
                output.WriteLine(batch.ToString());
                batch.Clear();
                await Task.Yield();
            }
        });
    }

    /// <summary>Queues one line, stamped with the wall-clock time; dropped once the log is closed or full.</summary>
    public void Write(string message)
    {
        long before = Interlocked.Add(ref _chars, message.Length) - message.Length;
        if (before >= MaxChars)
        {
            return;
        }
        string stamp = DateTime.Now.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
        _lines.Writer.TryWrite($"{stamp} {message}");
        if (before + message.Length >= MaxChars)
        {
            _lines.Writer.TryWrite($"{stamp} [TEST] log cut off here: it reached {MaxChars:N0} characters, and the rest would be more than the test runner can carry");
        }
    }

    /// <summary>Drops every line written from now on, and waits until the queued ones are out.</summary>
    public async Task CloseAsync()
    {
        _lines.Writer.TryComplete();
        await _writer;
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    /// <summary>False once the log is full, so the services stop building lines nobody will see.</summary>
    public bool IsEnabled(LogLevel logLevel) => Interlocked.Read(ref _chars) < MaxChars;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }
        Write(exception is null ? formatter(state, exception) : $"{formatter(state, exception)}: {exception}");
    }
}
