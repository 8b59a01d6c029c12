// The page's KV console: Put, Append, Get and CAS sent to the cluster by Part5Kv's real client,
// which finds the leader by itself; the answer says which service gave it and how long it took.
using System.Diagnostics;
using System.Text.RegularExpressions;
using Kv.Client;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace RaftPlayground;

/// <summary>The console's request body; which fields are needed depends on the operation.</summary>
public sealed record KvRequest(string? Key, string? Value, string? Compare);

/// <summary>
/// The console's answer. <paramref name="Ok"/> false means the cluster did not carry the request
/// out (no leader in time, or the client gave up), with <paramref name="Error"/> saying why.
/// </summary>
/// <param name="Value">For Get, the value read; for the others, the value before.</param>
/// <param name="Server">The id of the service whose answer the client took; null if none answered.</param>
public sealed record KvAnswer(string Op, string Key, bool Ok, string Value, bool KeyFound, int? Server, double ElapsedMs, string? Error);

/// <summary>Runs console operations through a fresh <see cref="KvClient"/> each, so every request starts from server 0, as a new client would.</summary>
public sealed partial class KvConsole(Cluster cluster, LiveLog log)
{
    /// <summary>How long one operation may take in all, retries included.</summary>
    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Each attempt at one service. Far above upstream's 50 ms: a commit slower than the attempt
    /// makes the client resend, and the resend's answer is DuplicateRequest, which the console
    /// would show as a failure. A crashed service refuses at once, so only a cut-off leader costs
    /// the whole attempt before the client moves on.
    /// </summary>
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>Runs <paramref name="op"/> (put, append, get or cas); refuses a malformed request with a <see cref="PlaygroundException"/>.</summary>
    public async Task<KvAnswer> RunAsync(string op, KvRequest? req, CancellationToken ct)
    {
        op = op.ToLowerInvariant();
        if (op is not ("put" or "append" or "get" or "cas"))
        {
            throw new PlaygroundException(StatusCodes.Status404NotFound, $"no KV operation '{op}': use put, append, get or cas");
        }
        if (req is null || string.IsNullOrEmpty(req.Key))
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"{op} needs a non-empty \"key\"");
        }
        if (op != "get" && req.Value is null)
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"{op} needs a \"value\"");
        }
        if (op == "cas" && req.Compare is null)
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, "cas needs a \"compare\" value");
        }

        IReadOnlyList<(int Id, string Addr)> running = cluster.RunningServices();
        if (running.Count == 0)
        {
            throw new PlaygroundException(StatusCodes.Status409Conflict, "no server is running: restart one first");
        }

        // The cluster's time, not the wall's: at 1/50 a commit takes 50 times longer, and an
        // attempt is given 50 times longer too; the whole operation's limit pauses with the clock.
        var capture = new AnsweringService(log);
        using var client = new KvClient([.. running.Select(s => s.Addr)], capture, AttemptTimeout / cluster.Clock.Speed);
        using var limit = new CancellationTokenSource(OperationTimeout, cluster.Clock);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
        long started = Stopwatch.GetTimestamp();
        try
        {
            var (value, found) = op switch
            {
                "put" => await client.PutAsync(req.Key, req.Value!, deadline.Token),
                "append" => await client.AppendAsync(req.Key, req.Value!, deadline.Token),
                "get" => await client.GetAsync(req.Key, deadline.Token),
                _ => await client.CasAsync(req.Key, req.Compare!, req.Value!, deadline.Token),
            };
            return new KvAnswer(op, req.Key, true, value, found, ServerAt(running, capture.LastAddr), Elapsed(started), null);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return new KvAnswer(op, req.Key, false, "", false, null, Elapsed(started),
                $"no leader answered within {OperationTimeout.TotalSeconds:0} s of cluster time (is a majority connected?)");
        }
        catch (KvException e)
        {
            return new KvAnswer(op, req.Key, false, "", false, ServerAt(running, capture.LastAddr), Elapsed(started), e.Message);
        }
    }

    private static double Elapsed(long started) => Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);

    private static int? ServerAt(IReadOnlyList<(int Id, string Addr)> running, string? addr) =>
        running.Where(s => s.Addr == addr).Select(s => (int?)s.Id).FirstOrDefault();

    /// <summary>
    /// Passes the client's lines on to the playground's log, and notes the address of the last
    /// request it sent: when the call returns, that is the service that answered. The client does
    /// not say so otherwise, and this way Part5Kv's client stays as it is.
    /// </summary>
    private sealed partial class AnsweringService(ILogger inner) : ILogger
    {
        /// <summary>"host:port" of the last request sent; written by the client's task, read after the call returns.</summary>
        private string? _lastAddr;

        public string? LastAddr => Volatile.Read(ref _lastAddr);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string message = formatter(state, exception);
            if (SentTo().Match(message) is { Success: true } m)
            {
                Volatile.Write(ref _lastAddr, m.Groups["addr"].Value);
            }
            inner.Log(logLevel, eventId, state, exception, formatter);
        }

        /// <summary>The client's "sending ... to http://127.0.0.1:14201/put/" line.</summary>
        [GeneratedRegex(@"\bsending .* to http://(?<addr>[^/\s]+)/")]
        private static partial Regex SentTo();
    }
}
