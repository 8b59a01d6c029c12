// The page's KV console: Put, Append, Get and CAS sent to the cluster by Part5Kv's real client,
// which finds the leader by itself; the answer says which service gave it and how long it took.
using System.Text.RegularExpressions;
using Kv.Client;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace RaftPlayground;

/// <summary>The console's request body; which fields are needed depends on the operation.</summary>
public sealed record KvRequest(string? Key, string? Value, string? Compare, int? Server = null);

/// <summary>
/// The console's answer. <paramref name="Ok"/> false means the cluster did not carry the request
/// out (no leader in time, or the client gave up), with <paramref name="Error"/> saying why.
/// </summary>
/// <param name="Value">For Get, the value read; for the others, the value before.</param>
/// <param name="Server">The id of the service whose answer the client took; null if none answered.</param>
/// <param name="ElapsedMs">How long it took, in cluster time.</param>
/// <param name="Swapped">For CAS: whether the value was swapped (the key held the compare value); null for the others.</param>
public sealed record KvAnswer(string Op, string Key, bool Ok, string Value, bool KeyFound, int? Server, double ElapsedMs, string? Error, bool? Swapped = null);

/// <summary>
/// Runs console operations through a fresh <see cref="KvClient"/> each, so every request starts
/// from server 0, as a new client would (or from the server the learner picked). The client runs
/// inside the run's simulation, on its clock and its HTTP: the request is one input of the run.
/// </summary>
public static partial class KvConsole
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

    /// <summary>The input for <paramref name="op"/> (put, append, get or cas); refuses a malformed request with a <see cref="PlaygroundException"/>.</summary>
    public static PlaygroundInput Input(string op, KvRequest? req, int? server)
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
        return new PlaygroundInput { Kind = "kv", Op = op, Key = req.Key, Value = req.Value, Compare = req.Compare, Server = server };
    }

    /// <summary>Runs a console input on the simulation's thread: the client tries the picked server first, then the others.</summary>
    public static async Task<KvAnswer> RunAsync(Cluster cluster, LiveLog log, PlaygroundInput input)
    {
        string op = input.Op!, key = input.Key!;
        IReadOnlyList<(int Id, string Addr)> running = cluster.RunningServices();
        if (running.Count == 0)
        {
            throw new PlaygroundException(StatusCodes.Status409Conflict, "no server is running: restart one first");
        }
        if (input.Server is int first && first >= 0 && first < cluster.Size)
        {
            if (!running.Any(s => s.Id == first))
            {
                throw new PlaygroundException(StatusCodes.Status409Conflict, $"server {first} is crashed: restart it, or send the request to another");
            }
            running = [.. running.Where(s => s.Id == first), .. running.Where(s => s.Id != first)];
        }

        // The cluster's time, not the wall's: at 1/50 a commit takes 50 times longer in real time,
        // and so does an attempt's limit; the whole operation's limit pauses with the clock.
        var capture = new AnsweringService(log);
        using var client = new KvClient([.. running.Select(s => s.Addr)], capture, AttemptTimeout, cluster.Http.Handler(), cluster.Clock, cluster.NewRandom());
        using var limit = new CancellationTokenSource(OperationTimeout, cluster.Clock);
        long started = cluster.Clock.GetTimestamp();
        double Elapsed() => Math.Round(cluster.Clock.GetElapsedTime(started).TotalMilliseconds, 3);
        try
        {
            var (value, found) = op switch
            {
                "put" => await client.PutAsync(key, input.Value!, limit.Token),
                "append" => await client.AppendAsync(key, input.Value!, limit.Token),
                "get" => await client.GetAsync(key, limit.Token),
                _ => await client.CasAsync(key, input.Compare!, input.Value!, limit.Token),
            };
            // Upstream's CAS answers the value it found: it swapped only if that was the compare value.
            bool? swapped = op == "cas" ? found && value == input.Compare : null;
            return new KvAnswer(op, key, true, value, found, ServerAt(running, capture.LastAddr), Elapsed(), null, swapped);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            return new KvAnswer(op, key, false, "", false, null, Elapsed(),
                $"no leader answered within {OperationTimeout.TotalSeconds:0} s of cluster time (is a majority connected?)");
        }
        catch (KvException e)
        {
            return new KvAnswer(op, key, false, "", false, ServerAt(running, capture.LastAddr), Elapsed(), e.Message);
        }
    }

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
        public string? LastAddr { get; private set; }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string message = formatter(state, exception);
            if (SentTo().Match(message) is { Success: true } m)
            {
                LastAddr = m.Groups["addr"].Value;
            }
            inner.Log(logLevel, eventId, state, exception, formatter);
        }

        /// <summary>The client's "sending ... to http://127.0.0.1:14201/put/" line.</summary>
        [GeneratedRegex(@"\bsending .* to http://(?<addr>[^/\s]+)/")]
        private static partial Regex SentTo();
    }
}
