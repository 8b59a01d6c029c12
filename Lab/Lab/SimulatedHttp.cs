// HTTP inside a simulation: ASP.NET Core apps served without sockets, and an HttpClient handler
// that runs each request through its app's pipeline on the caller's thread.
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace Lab;

/// <summary>
/// A loopback network for HTTP without sockets or threads. <see cref="NewServer"/> gives an
/// <see cref="IServer"/> to register in place of Kestrel; <see cref="Handler"/> gives an
/// <see cref="HttpMessageHandler"/> for <see cref="HttpClient"/> that hands each request to the
/// server listening at its URI's host and port, and runs that app's pipeline at once, on the
/// calling thread. The request's body is read whole first, the answer's is kept whole.
/// </summary>
/// <remarks>
/// ASP.NET Core's TestServer cannot be used in a simulation: it starts every request on the
/// thread pool. Here nothing leaves the caller's thread, so a simulated run keeps the real
/// service code (routing, handlers, JSON) and stays deterministic. A client that gives up
/// aborts the request (the app sees <see cref="HttpContext.RequestAborted"/>); an app that
/// aborts (<see cref="HttpContext.Abort"/>) or a server that stops drops the connection, and
/// the client sees an <see cref="HttpRequestException"/>, as over a socket.
/// </remarks>
public sealed class SimulatedHttp
{
    /// <summary>The servers started, by "host:port".</summary>
    private readonly Dictionary<string, Server> _listening = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Guards <see cref="_listening"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>A server that will listen at <paramref name="authority"/> ("host:port") once its host starts it.</summary>
    public IServer NewServer(string authority) => new Server(this, authority);

    /// <summary>A handler for an <see cref="HttpClient"/> of this network; dispose it with the client.</summary>
    public HttpMessageHandler Handler() => new ClientHandler(this);

    /// <summary>Whether a server listens at <paramref name="authority"/> now.</summary>
    public bool IsListening(string authority)
    {
        lock (_mu)
        {
            return _listening.ContainsKey(authority);
        }
    }

    private Server? Find(string authority)
    {
        lock (_mu)
        {
            return _listening.GetValueOrDefault(authority);
        }
    }

    /// <summary>
    /// Completes a client's task with no SynchronizationContext set. HttpClient awaits its handler
    /// with ConfigureAwait(false): its continuation runs inline only when the completing thread has
    /// no context of its own, and would otherwise leave for the thread pool.
    /// </summary>
    private static void CompleteOffContext(Action complete)
    {
        SynchronizationContext? saved = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            complete();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(saved);
        }
    }

    /// <summary>One app served at one address.</summary>
    private sealed class Server(SimulatedHttp network, string authority) : IServer
    {
        /// <summary>Runs one request through the app; set by <see cref="StartAsync"/>.</summary>
        private Func<Exchange, Task>? _process;

        /// <summary>Requests being served now, to drop if the server stops.</summary>
        private readonly HashSet<Exchange> _inFlight = [];

        public IFeatureCollection Features { get; } = NewFeatures(authority);

        private static FeatureCollection NewFeatures(string authority)
        {
            var features = new FeatureCollection();
            var addresses = new ServerAddressesFeature();
            addresses.Addresses.Add($"http://{authority}");
            features.Set<IServerAddressesFeature>(addresses);
            return features;
        }

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
            where TContext : notnull
        {
            _process = async exchange =>
            {
                TContext context = application.CreateContext(exchange.Features);
                Exception? error = null;
                try
                {
                    await application.ProcessRequestAsync(context);
                }
                catch (Exception e)
                {
                    error = e;
                }
                finally
                {
                    application.DisposeContext(context, error);
                }
                if (error is not null && !exchange.Response.HasStarted)
                {
                    // As Kestrel answers an app that threw before it started its answer.
                    exchange.Response.Reset(StatusCodes.Status500InternalServerError);
                }
            };
            lock (network._mu)
            {
                if (!network._listening.TryAdd(authority, this))
                {
                    throw new IOException($"address already in use: {authority}");
                }
            }
            Prime();
            return Task.CompletedTask;
        }

        /// <summary>
        /// Routes one request to no endpoint, with no SynchronizationContext set. Endpoint routing
        /// compiles its table of routes on the thread pool when it first matches a path, and its
        /// await of that work would come back to the caller's context: from a simulation, an
        /// escape. Started here, the compiling comes back nowhere; it changes no route's outcome.
        /// </summary>
        private void Prime()
        {
            var exchange = new Exchange(new HttpRequestMessage(HttpMethod.Get, $"http://{authority}/simulated-http-priming"));
            exchange.Prepare(exchange.Request.RequestUri!, []);
            CompleteOffContext(() => _ = _process!(exchange));
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            lock (network._mu)
            {
                if (network._listening.GetValueOrDefault(authority) == this)
                {
                    network._listening.Remove(authority);
                }
            }
            foreach (Exchange exchange in _inFlight.ToArray())
            {
                exchange.Abort();
            }
            return Task.CompletedTask;
        }

        public void Dispose() => StopAsync(default);

        /// <summary>Serves <paramref name="exchange"/>: the app runs on this thread until it first waits.</summary>
        public async Task ServeAsync(Exchange exchange)
        {
            _inFlight.Add(exchange);
            try
            {
                await _process!(exchange);
                await exchange.Response.CompleteAsync();
                exchange.Answer();
            }
            finally
            {
                _inFlight.Remove(exchange);
            }
        }
    }

    /// <summary>The client's side: finds the server and hands it the request.</summary>
    private sealed class ClientHandler(SimulatedHttp network) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Uri uri = request.RequestUri ?? throw new InvalidOperationException("a request needs an absolute URI");
            var exchange = new Exchange(request);
            _ = RunAsync(exchange, uri, cancellationToken);
            return exchange.Answered;
        }

        private async Task RunAsync(Exchange exchange, Uri uri, CancellationToken ct)
        {
            try
            {
                byte[] body = exchange.Request.Content is { } content ? await content.ReadAsByteArrayAsync(ct) : [];
                if (network.Find(uri.Authority) is not { } server)
                {
                    exchange.Fail(new HttpRequestException(HttpRequestError.ConnectionError, $"Connection refused ({uri.Authority})"));
                    return;
                }
                exchange.Prepare(uri, body);
                using CancellationTokenRegistration giveUp = ct.Register(() => exchange.Cancel(ct));
                await server.ServeAsync(exchange);
            }
            catch (Exception e)
            {
                exchange.Fail(e);
            }
        }
    }

    /// <summary>One request and its answer: the features the app sees, and the client's task.</summary>
    private sealed class Exchange(HttpRequestMessage request) : IHttpRequestLifetimeFeature
    {
        private readonly TaskCompletionSource<HttpResponseMessage> _answered = new();

        private readonly CancellationTokenSource _aborted = new();

        public HttpRequestMessage Request { get; } = request;

        public FeatureCollection Features { get; } = new();

        public ResponseFeature Response { get; } = new();

        public Task<HttpResponseMessage> Answered => _answered.Task;

        public CancellationToken RequestAborted
        {
            get => _aborted.Token;
            set => throw new NotSupportedException();
        }

        /// <summary>Fills in the features from the request, with its body already read.</summary>
        public void Prepare(Uri uri, byte[] body)
        {
            var headers = new HeaderDictionary();
            foreach (var (name, values) in Request.Headers.Concat(Request.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>()))
            {
                headers[name] = new StringValues([.. values]);
            }
            headers["Host"] = uri.Authority;
            if (Request.Content is not null)
            {
                headers.ContentLength = body.Length;
            }
            Features.Set<IHttpRequestFeature>(new HttpRequestFeature
            {
                Protocol = "HTTP/1.1",
                Scheme = uri.Scheme,
                Method = Request.Method.Method,
                PathBase = "",
                Path = Uri.UnescapeDataString(uri.AbsolutePath),
                QueryString = uri.Query,
                RawTarget = uri.PathAndQuery,
                Headers = headers,
                Body = new MemoryStream(body, writable: false),
            });
            Features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(body.Length > 0));
            Features.Set<IHttpResponseFeature>(Response);
            Features.Set<IHttpResponseBodyFeature>(Response);
            Features.Set<IHttpRequestLifetimeFeature>(this);
        }

        /// <summary>The app has finished: the client gets the answer it wrote.</summary>
        public void Answer()
        {
            if (_answered.Task.IsCompleted)
            {
                return;
            }
            HttpResponseMessage message = Response.ToMessage(Request);
            CompleteOffContext(() => _answered.TrySetResult(message));
        }

        /// <summary>The client gave up: the app sees the request aborted.</summary>
        public void Cancel(CancellationToken ct)
        {
            CompleteOffContext(() => _answered.TrySetCanceled(ct));
            _aborted.Cancel();
        }

        /// <summary>The connection dropped (the app aborted, or its server stopped).</summary>
        public void Abort()
        {
            Fail(new HttpRequestException(HttpRequestError.ResponseEnded, "the server closed the connection", new IOException("connection reset by peer")));
            _aborted.Cancel();
        }

        public void Fail(Exception e) => CompleteOffContext(() => _answered.TrySetException(e));
    }

    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody { get; } = canHaveBody;
    }

    /// <summary>The answer as the app writes it: status, headers and a body kept in memory.</summary>
    private sealed class ResponseFeature : IHttpResponseFeature, IHttpResponseBodyFeature
    {
        private MemoryStream _body = new();

        private List<(Func<object, Task> Callback, object State)> _onStarting = [];

        private bool _started;

        private System.IO.Pipelines.PipeWriter? _writer;

        private BodyStream? _stream;

        public int StatusCode { get; set; } = StatusCodes.Status200OK;

        public string? ReasonPhrase { get; set; }

        public IHeaderDictionary Headers { get; set; } = new HeaderDictionary();

        [Obsolete("Use IHttpResponseBodyFeature.Stream")]
        public Stream Body
        {
            get => Stream;
            set => throw new NotSupportedException();
        }

        public bool HasStarted => _started;

        public Stream Stream => _stream ??= new BodyStream(this);

        public System.IO.Pipelines.PipeWriter Writer => _writer ??= System.IO.Pipelines.PipeWriter.Create(Stream, new(leaveOpen: true));

        public void OnStarting(Func<object, Task> callback, object state) => _onStarting.Add((callback, state));

        public void OnCompleted(Func<object, Task> callback, object state)
        {
        }

        public void DisableBuffering()
        {
        }

        public async Task StartAsync(CancellationToken cancellationToken = default)
        {
            if (_started)
            {
                return;
            }
            // Registered last, called first, as Kestrel calls them.
            for (int i = _onStarting.Count - 1; i >= 0; i--)
            {
                await _onStarting[i].Callback(_onStarting[i].State);
            }
            _started = true;
        }

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("no files over simulated HTTP");

        public async Task CompleteAsync()
        {
            if (_writer is { } w)
            {
                await w.FlushAsync();
            }
            await StartAsync();
        }

        /// <summary>Forgets what the app wrote and answers <paramref name="statusCode"/> with no body.</summary>
        public void Reset(int statusCode)
        {
            StatusCode = statusCode;
            Headers = new HeaderDictionary();
            _body = new MemoryStream();
            _onStarting = [];
        }

        private async ValueTask WriteAsync(ReadOnlyMemory<byte> data)
        {
            await StartAsync();
            _body.Write(data.Span);
        }

        /// <summary>The answer for the client (after <see cref="CompleteAsync"/>).</summary>
        public HttpResponseMessage ToMessage(HttpRequestMessage request)
        {
            var content = new ByteArrayContent(_body.ToArray());
            var message = new HttpResponseMessage((HttpStatusCode)StatusCode) { RequestMessage = request, Content = content, Version = HttpVersion.Version11 };
            foreach (var (name, values) in Headers)
            {
                if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                {
                    content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                }
            }
            content.Headers.ContentLength = _body.Length;
            return message;
        }

        /// <summary>The body as a stream: writes start the answer and go to memory.</summary>
        private sealed class BodyStream(ResponseFeature owner) : Stream
        {
            public override bool CanRead => false;

            public override bool CanSeek => false;

            public override bool CanWrite => true;

            public override long Length => throw new NotSupportedException();

            public override long Position
            {
                get => throw new NotSupportedException();
                set => throw new NotSupportedException();
            }

            public override void Flush()
            {
            }

            public override Task FlushAsync(CancellationToken cancellationToken) => owner.StartAsync(cancellationToken);

            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

            public override void SetLength(long value) => throw new NotSupportedException();

            // As Kestrel by default: synchronous writes are refused.
            public override void Write(byte[] buffer, int offset, int count) =>
                throw new InvalidOperationException("Synchronous operations are disallowed. Call WriteAsync or set AllowSynchronousIO to true instead.");

            public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                owner.WriteAsync(buffer.AsMemory(offset, count)).AsTask();

            public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
                owner.WriteAsync(buffer);
        }
    }
}
