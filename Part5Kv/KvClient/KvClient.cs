// The client library of the KV service: code that talks to the service should use it rather than
// post JSON by hand.
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Kv.Api;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kv.Client;

/// <summary>
/// Talks to a cluster of KV services. It sends each request to the service it believes is the
/// leader and, when that one does not answer in time or says it is not the leader, moves on to
/// the next address; the one that answers becomes the assumed leader for the next request. One
/// client is meant for one caller at a time, like upstream's.
/// </summary>
public sealed class KvClient : IDisposable
{
    /// <summary>Upstream's limit on one attempt at one service before the client tries the next.</summary>
    public static readonly TimeSpan DefaultAttemptTimeout = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The pause after every address has failed once in a row; beyond upstream, which goes round
    /// again at once and so hammers a cluster that has no leader.
    /// </summary>
    private static readonly TimeSpan RoundPause = TimeSpan.FromMilliseconds(20);

    /// <summary>The same wire format as the service: Go's field names, non-ASCII text as itself.</summary>
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = null,
        PropertyNameCaseInsensitive = true,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    };

    /// <summary>The services' addresses, each "host:port".</summary>
    private readonly string[] _addrs;

    /// <summary>Index into <see cref="_addrs"/> of the service assumed to be the leader; any start is as good as another.</summary>
    private int _assumedLeader;

    /// <summary>
    /// Names this client to the services, which apply each of its requests once. Upstream counts
    /// clients from 1 in every process, so two client processes would share ids; here it is a
    /// random positive 63-bit number, and two clients share one with odds of about n²/2⁶⁴.
    /// </summary>
    private readonly long _clientID;

    /// <summary>The id of this client's last request; each new request takes the next.</summary>
    private long _requestID;

    /// <summary>How long one attempt at one service may take before the client tries the next.</summary>
    private readonly TimeSpan _attemptTimeout;

    /// <summary>The one HTTP client all requests of this client go through.</summary>
    private readonly HttpClient _http;

    /// <summary>Where the "[client&lt;id&gt;]" lines go.</summary>
    private readonly ILogger _logger;

    /// <summary>The clock of the attempts' timeouts and the pause between rounds.</summary>
    private readonly TimeProvider _time;

    /// <summary>
    /// Creates a client of the services at <paramref name="serviceAddrs"/> (each "host:port").
    /// Each attempt at one service gets <paramref name="attemptTimeout"/>, by default upstream's
    /// 50 ms. A commit slower than that makes the client send the request again.
    /// The copy carries the same ids: the service applies it once, and may answer that it was a duplicate.
    /// A test can give the client its own HTTP <paramref name="handler"/> (the client disposes
    /// it), clock (<paramref name="timeProvider"/>) and <paramref name="random"/> for its id.
    /// </summary>
    public KvClient(IReadOnlyList<string> serviceAddrs, ILogger? logger = null, TimeSpan? attemptTimeout = null,
        HttpMessageHandler? handler = null, TimeProvider? timeProvider = null, Random? random = null)
    {
        _attemptTimeout = attemptTimeout ?? DefaultAttemptTimeout;
        if (serviceAddrs.Count == 0)
        {
            throw new ArgumentException("a client needs at least one service address", nameof(serviceAddrs));
        }
        _addrs = [.. serviceAddrs];
        _clientID = (random ?? Random.Shared).NextInt64(1, long.MaxValue); // not simulated: a simulation brings a seeded one
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        // Loopback services: no proxy from the environment may stand in between.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { UseProxy = false }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>
    /// Stores <paramref name="value"/> under <paramref name="key"/>. Returns the key's previous
    /// value and whether it existed before.
    /// </summary>
    /// <exception cref="KvException">The service did not answer OK (the message says why; a failed commit is worth a retry), or its answer was unreadable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled first.</exception>
    public async Task<(string PrevValue, bool KeyFound)> PutAsync(string key, string value, CancellationToken ct)
    {
        // One pair of ids per call: every resend of this request carries the same, so it is applied once.
        var putReq = new PutRequest { Key = key, Value = value, ClientID = _clientID, RequestID = Interlocked.Increment(ref _requestID) };
        PutResponse putResp = await SendAsync<PutRequest, PutResponse>("put", putReq, ct);
        return (putResp.PrevValue, putResp.KeyFound);
    }

    /// <summary>
    /// Adds <paramref name="value"/> to the end of <paramref name="key"/>'s value (a missing key is
    /// created). Returns the key's previous value and whether it existed before.
    /// </summary>
    /// <exception cref="KvException">The service did not answer OK (the message says why; a failed commit is worth a retry), or its answer was unreadable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled first.</exception>
    public async Task<(string PrevValue, bool KeyFound)> AppendAsync(string key, string value, CancellationToken ct)
    {
        var appendReq = new AppendRequest { Key = key, Value = value, ClientID = _clientID, RequestID = Interlocked.Increment(ref _requestID) };
        AppendResponse appendResp = await SendAsync<AppendRequest, AppendResponse>("append", appendReq, ct);
        return (appendResp.PrevValue, appendResp.KeyFound);
    }

    /// <summary>Reads the value of <paramref name="key"/>. Returns it and whether the key exists.</summary>
    /// <exception cref="KvException">The service did not answer OK (the message says why; a failed commit is worth a retry), or its answer was unreadable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled first.</exception>
    public async Task<(string Value, bool KeyFound)> GetAsync(string key, CancellationToken ct)
    {
        var getReq = new GetRequest { Key = key, ClientID = _clientID, RequestID = Interlocked.Increment(ref _requestID) };
        GetResponse getResp = await SendAsync<GetRequest, GetResponse>("get", getReq, ct);
        return (getResp.Value, getResp.KeyFound);
    }

    /// <summary>
    /// Compare-and-swap: sets <paramref name="key"/> to <paramref name="value"/> if its value is
    /// <paramref name="compare"/>. Returns the key's value before and whether it existed.
    /// </summary>
    /// <exception cref="KvException">The service did not answer OK (the message says why; a failed commit is worth a retry), or its answer was unreadable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled first.</exception>
    public async Task<(string PrevValue, bool KeyFound)> CasAsync(string key, string compare, string value, CancellationToken ct)
    {
        var casReq = new CASRequest { Key = key, CompareValue = compare, Value = value, ClientID = _clientID, RequestID = Interlocked.Increment(ref _requestID) };
        CASResponse casResp = await SendAsync<CASRequest, CASResponse>("cas", casReq, ct);
        return (casResp.PrevValue, casResp.KeyFound);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Sends <paramref name="req"/> to <paramref name="route"/>, going round the addresses from
    /// the assumed leader until a leader answers. Each attempt has its own timeout inside the
    /// caller's <paramref name="ct"/>: when the attempt's runs out the client moves on, when the
    /// caller's does the call ends.
    /// </summary>
    private async Task<TResp> SendAsync<TReq, TResp>(string route, TReq req, CancellationToken ct)
        where TResp : IResponse
    {
        int failedInARow = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            string path = $"http://{_addrs[_assumedLeader]}/{route}/";
            Clientlog($"sending {GoSyntax(req)} to {path}");

            using var attemptTimer = new CancellationTokenSource(_attemptTimeout, _time);
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct, attemptTimer.Token);
            TResp resp;
            try
            {
                resp = await SendJsonRequestAsync<TReq, TResp>(path, req, attempt.Token);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The caller's token first: when both have run out, the caller's decides.
                Clientlog("parent context done; bailing out");
                throw;
            }
            catch (OperationCanceledException) when (attempt.IsCancellationRequested)
            {
                Clientlog("timed out: will try next address");
                await NextAddressAsync(++failedInARow, ct);
                continue;
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                // Beyond upstream: a refused or dropped connection (a crashed service) is one more reason to move on.
                Clientlog($"connection failed ({e.Message}): will try next address");
                await NextAddressAsync(++failedInARow, ct);
                continue;
            }
            Clientlog($"received response {GoSyntax(resp)}");

            switch (resp.RespStatus)
            {
                case ResponseStatus.NotLeader:
                    Clientlog("not leader: will try next address");
                    await NextAddressAsync(++failedInARow, ct);
                    continue;
                case ResponseStatus.OK:
                    return resp;
                case ResponseStatus.FailedCommit:
                    throw new KvException("commit failed; please retry");
                case ResponseStatus.DuplicateRequest:
                    throw new KvException("this request was already completed");
                default:
                    throw new KvException($"service answered with status {(int)resp.RespStatus}");
            }
        }
    }

    /// <summary>
    /// Makes the next address the assumed leader; after a whole round of failures, pauses a
    /// little first.
    /// </summary>
    private async Task NextAddressAsync(int failedInARow, CancellationToken ct)
    {
        _assumedLeader = (_assumedLeader + 1) % _addrs.Length;
        if (failedInARow % _addrs.Length == 0)
        {
            await Task.Delay(RoundPause, _time, ct);
        }
    }

    /// <summary>POSTs <paramref name="reqData"/> as JSON to <paramref name="path"/> and reads the JSON answer.</summary>
    private async Task<TResp> SendJsonRequestAsync<TReq, TResp>(string path, TReq reqData, CancellationToken ct)
    {
        using HttpResponseMessage resp = await _http.PostAsJsonAsync(path, reqData, JsonOptions, ct);
        if (!resp.IsSuccessStatusCode)
        {
            string reason = await resp.Content.ReadAsStringAsync(ct);
            throw new KvException($"HTTP {(int)resp.StatusCode} from {path}: {reason.Trim()}");
        }
        try
        {
            return await resp.Content.ReadFromJsonAsync<TResp>(JsonOptions, ct)
                ?? throw new KvException("JSON-decoding response data: null");
        }
        catch (JsonException e)
        {
            throw new KvException($"JSON-decoding response data: {e.Message}", e);
        }
    }

    /// <summary>Logs "[client&lt;id&gt;] message", upstream's client line, the id printed as Go's %03d prints it.</summary>
    private void Clientlog(string message) =>
        _logger.LogDebug("[client{Id}] {Message}", _clientID.ToString("D3", CultureInfo.InvariantCulture), message);

    /// <summary>
    /// A request or answer as Go's %#v prints it, e.g. <c>api.PutRequest{Key:"k", Value:"v"}</c>,
    /// so both ports' client lines read alike.
    /// </summary>
    private static string GoSyntax<T>(T value)
    {
        using JsonDocument doc = JsonDocument.Parse(JsonSerializer.SerializeToUtf8Bytes(value, JsonOptions));
        IEnumerable<string> fields = doc.RootElement.EnumerateObject().Select(p => $"{p.Name}:{p.Value.GetRawText()}");
        return $"api.{typeof(T).Name}{{{string.Join(", ", fields)}}}";
    }
}

/// <summary>A KV request that did not succeed: the command was not committed, or the answer made no sense.</summary>
public sealed class KvException : Exception
{
    public KvException()
    {
    }

    public KvException(string message)
        : base(message)
    {
    }

    public KvException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
