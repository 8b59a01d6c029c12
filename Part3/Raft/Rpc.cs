// An in-process stand-in for Go's net/rpc, built on System.Threading.Channels.
using System.Threading.Channels;

namespace Raft;

/// <summary>
/// A call that did not complete: the peer is not connected, the connection was closed while the
/// call was in flight, or the call was dropped on purpose to simulate a faulty network.
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException()
    {
    }

    public RpcException(string message)
        : base(message)
    {
    }

    public RpcException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>One call on its way to a server, and the place its reply goes.</summary>
/// <param name="ServiceMethod">As in net/rpc: "ConsensusModule.RequestVote".</param>
/// <param name="Args">An immutable message record, so sharing it is as safe as copying it.</param>
internal sealed record RpcCall(string ServiceMethod, object Args)
{
    /// <summary>Completed by the server; continuations run on the pool, never inside the server's code.</summary>
    public TaskCompletionSource<object> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Fails the call. Its caller may have given up on it already (its connection closed), so
    /// the exception is marked as seen here: nobody else may ever look, and an exception nobody
    /// looked at would be reported as unobserved when the task is collected.
    /// </summary>
    public void Fail(Exception e)
    {
        if (Reply.TrySetException(e))
        {
            _ = Reply.Task.Exception;
        }
    }
}

/// <summary>
/// The receiving side of a server: Go's rpc.Server and its listener in one. Calls arrive on an
/// inbox channel and each is served on its own task, as net/rpc serves each request in its own
/// goroutine.
/// </summary>
public sealed class RpcEndpoint
{
    /// <summary>Calls waiting to be served; unbounded, so a caller never waits to hand one in.</summary>
    private readonly Channel<RpcCall> _inbox =
        Channel.CreateUnbounded<RpcCall>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Where this endpoint is, for the log (Go prints the listener's address).</summary>
    private readonly string _address;

    /// <summary>Runs one call: the server's RPC proxy.</summary>
    private readonly Func<string, object, CancellationToken, Task<object>> _handler;

    /// <summary>The owning server's background tasks.</summary>
    private readonly TaskTracker _tasks;

    /// <summary>Cancelled when the owning server shuts down.</summary>
    private readonly CancellationToken _quit;

    internal RpcEndpoint(string address, Func<string, object, CancellationToken, Task<object>> handler, TaskTracker tasks, CancellationToken quit)
    {
        _address = address;
        _handler = handler;
        _tasks = tasks;
        _quit = quit;
        _tasks.Run("rpc accept loop", AcceptLoopAsync);
    }

    /// <summary>Opens a connection to this endpoint (Go's rpc.Dial).</summary>
    internal RpcClient Dial() => new(this);

    /// <summary>Hands a call in; false once the endpoint is closed.</summary>
    internal bool TryDeliver(RpcCall call) => _inbox.Writer.TryWrite(call);

    /// <summary>
    /// Stops accepting calls (Go's listener.Close). The accept loop then fails whatever is still
    /// queued once the server is shutting down, and ends.
    /// </summary>
    internal void Close() => _inbox.Writer.TryComplete();

    public override string ToString() => _address;

    private async Task AcceptLoopAsync()
    {
        // No token: the loop runs until Close completes the inbox and it is empty, so no call
        // that got in is ever left without an answer.
        while (await _inbox.Reader.WaitToReadAsync())
        {
            while (_inbox.Reader.TryRead(out RpcCall? call))
            {
                if (_quit.IsCancellationRequested)
                {
                    call.Fail(new RpcException("connection is shut down"));
                    continue;
                }
                _ = _tasks.Run($"serve {call.ServiceMethod}", () => ServeAsync(call));
            }
        }
    }

    /// <summary>
    /// Serves one call. A call that was delivered is served even if its caller disconnects
    /// meanwhile, as with net/rpc over TCP: the request is already on the wire, only the reply is
    /// lost. Shutting this server down ends it.
    /// </summary>
    private async Task ServeAsync(RpcCall call)
    {
        try
        {
            call.Reply.TrySetResult(await _handler(call.ServiceMethod, call.Args, _quit));
        }
        catch (OperationCanceledException) when (_quit.IsCancellationRequested)
        {
            call.Fail(new RpcException("connection is shut down"));
        }
        catch (RpcException e)
        {
            call.Fail(e);
        }
        catch (Exception e)
        {
            // A bug, not a network fault: fail the call, and rethrow so the tracker records it.
            call.Fail(new RpcException($"{call.ServiceMethod} failed: {e.Message}", e));
            throw;
        }
    }
}

/// <summary>
/// One server's connection to a peer (Go's *rpc.Client). Closing it makes every call still in
/// flight on it fail at once with <see cref="RpcException"/>, as closing a net/rpc client does.
/// </summary>
internal sealed class RpcClient(RpcEndpoint endpoint)
{
    /// <summary>Cancelled by <see cref="Close"/>. Never disposed: calls may still hold its token.</summary>
    private readonly CancellationTokenSource _closed = new();

    /// <summary>Cancelled once this connection is closed.</summary>
    public CancellationToken Closed => _closed.Token;

    public async Task<object> CallAsync(string serviceMethod, object args)
    {
        var call = new RpcCall(serviceMethod, args);
        if (_closed.IsCancellationRequested || !endpoint.TryDeliver(call))
        {
            throw new RpcException("connection is shut down");
        }
        // Closing fails the call at once. A registration, not Task.WaitAsync, whose wake-up would
        // go through the thread pool and out of a simulation.
        using (_closed.Token.Register(static c => ((RpcCall)c!).Fail(new RpcException("connection is shut down")), call))
        {
            return await call.Reply.Task;
        }
    }

    /// <summary>
    /// Breaks the connection. Call it without holding a lock: cancellation may run the failed
    /// calls' continuations on this thread.
    /// </summary>
    public void Close() => _closed.Cancel();
}
