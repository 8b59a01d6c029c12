// The server around a consensus module: its RPC endpoint, its connections to peers, and the
// proxy every call passes through on its way to the CM.
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Raft;

/// <summary>
/// A Raft server: hosts a <see cref="ConsensusModule"/>, serves the RPCs peers send to it, and
/// keeps one connection per peer for the CM's outgoing calls. It exists so the CM can call
/// <c>_server.CallAsync(peerId, ...)</c> without knowing how messages travel.
/// </summary>
public sealed class Server
{
    /// <summary>Guards <see cref="_peerClients"/> and the fields set by <see cref="Serve"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>This server's id.</summary>
    private readonly int _serverId;

    /// <summary>The ids of the other servers in the cluster.</summary>
    private readonly int[] _peerIds;

    /// <summary>Hosted CM; set by <see cref="Serve"/>.</summary>
    private ConsensusModule? _cm;

    /// <summary>Stands between the network and the CM; set by <see cref="Serve"/>.</summary>
    private RpcProxy? _rpcProxy;

    /// <summary>Where peers' calls arrive; set by <see cref="Serve"/>.</summary>
    private RpcEndpoint? _rpcServer;

    /// <summary>Open connections to peers, by peer id.</summary>
    private readonly Dictionary<int, RpcClient> _peerClients = [];

    /// <summary>Where the CM reports committed entries.</summary>
    private readonly ChannelWriter<CommitEntry> _commitChan;

    /// <summary>Where the CM persists its state; it outlives this server.</summary>
    private readonly IStorage _storage;

    /// <summary>Completes when the whole cluster is connected.</summary>
    private readonly Task _ready;

    /// <summary>Cancelled by <see cref="ShutdownAsync"/>.</summary>
    private readonly CancellationTokenSource _quit = new();

    /// <summary>The tasks serving RPCs (Go's WaitGroup of serving goroutines).</summary>
    private readonly TaskTracker _tasks;

    /// <summary>Handed to the CM, for its debug log.</summary>
    private readonly ILogger _logger;

    /// <summary>The clock of the CM's timers and the proxy's delays: the system's unless a test or a tool brings its own.</summary>
    private readonly TimeProvider _timeProvider;

    /// <summary>The random numbers of the CM and the proxy: shared, unless a simulation brings seeded ones.</summary>
    private readonly Random _random;

    public Server(int serverId, IReadOnlyList<int> peerIds, IStorage storage, Task ready, ChannelWriter<CommitEntry> commitChan, ILogger? logger = null, TimeProvider? timeProvider = null, Random? random = null)
    {
        _serverId = serverId;
        _peerIds = [.. peerIds];
        _storage = storage;
        _ready = ready;
        _commitChan = commitChan;
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _random = random ?? Random.Shared; // not simulated: a simulation brings a seeded one
        _tasks = new TaskTracker(serverId, _logger, _quit.Token);
    }

    /// <summary>Creates the CM and starts serving RPCs.</summary>
    public void Serve()
    {
        lock (_mu)
        {
            _cm = new ConsensusModule(_serverId, _peerIds, this, _storage, _ready, _commitChan, _logger, _timeProvider, _random);

            // Every incoming call goes through the proxy, which delays or drops it before the CM sees it.
            _rpcProxy = new RpcProxy(_cm, _random, _timeProvider);
            _rpcServer = new RpcEndpoint($"inproc://server-{_serverId}", _rpcProxy.DispatchAsync, _tasks, _quit.Token);
        }
        _logger.LogInformation("[{Id}] listening at {Address}", _serverId, _rpcServer);
    }

    /// <summary>Closes this server's connections to all its peers.</summary>
    public void DisconnectAll()
    {
        List<RpcClient> closing;
        lock (_mu)
        {
            closing = [.. _peerClients.Values];
            _peerClients.Clear();
        }
        // Outside the lock: closing fails calls in flight, and their continuations may run here.
        foreach (RpcClient client in closing)
        {
            client.Close();
        }
    }

    /// <summary>Stops the CM and the RPC endpoint, then waits for the serving tasks to end.</summary>
    public async Task ShutdownAsync()
    {
        await Cm.StopAsync();
        // Closed before the serving tasks are cancelled: every call still queued, or arriving
        // meanwhile, fails at once instead of leaving its caller waiting for good.
        Endpoint.Close();
        _quit.Cancel();
        await _tasks.WhenAllAsync();
    }

    /// <summary>Offers a command to the CM; see <see cref="ConsensusModule.Submit"/>.</summary>
    public int Submit(object cmd) => Cm.Submit(cmd);

    /// <summary>The address peers connect to (Go's listener address).</summary>
    public RpcEndpoint GetListenAddr() => Endpoint;

    /// <summary>Opens a connection to peer <paramref name="peerId"/>, unless one is open already.</summary>
    public void ConnectToPeer(int peerId, RpcEndpoint addr)
    {
        lock (_mu)
        {
            if (!_peerClients.ContainsKey(peerId))
            {
                _peerClients[peerId] = addr.Dial();
            }
        }
    }

    /// <summary>Closes the connection to peer <paramref name="peerId"/>, if there is one.</summary>
    public void DisconnectPeer(int peerId)
    {
        RpcClient? client;
        lock (_mu)
        {
            _peerClients.Remove(peerId, out client);
        }
        client?.Close();
    }

    /// <summary>
    /// Calls <paramref name="serviceMethod"/> on peer <paramref name="id"/> and returns the reply,
    /// or null if the call failed, where Go's Call returns an error: the peer is not connected,
    /// the connection closed while the call was in flight, or the network lost the call or its reply.
    /// </summary>
    public async Task<TReply?> CallAsync<TArgs, TReply>(int id, string serviceMethod, TArgs args)
        where TArgs : notnull
        where TReply : class
    {
        RpcClient? peer;
        lock (_mu)
        {
            _peerClients.TryGetValue(id, out peer);
        }

        // Also what a call made after shutdown gets: DisconnectAll closed every connection.
        if (peer is null)
        {
            return null;
        }
        try
        {
            return (TReply)await Proxy().CallAsync(id, peer, serviceMethod, args);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    /// <summary>The hosted CM's id, current term and whether it thinks it is the leader.</summary>
    public (int Id, int Term, bool IsLeader) Report() => Cm.Report();

    /// <summary>A copy of the hosted CM's state, for tools that show it.</summary>
    public CMStatus Status() => Cm.Status();

    /// <summary>Whether this server thinks it is the leader.</summary>
    public bool IsLeader() => Cm.Report().IsLeader;

    /// <summary>The RPC proxy, where a test or a tool can plug in a network of its own (<see cref="RpcProxy.Hook"/>).</summary>
    public RpcProxy Proxy()
    {
        lock (_mu)
        {
            return _rpcProxy ?? throw new InvalidOperationException($"server {_serverId}: Serve has not been called");
        }
    }

    /// <summary>The hosted CM; the tests reach it as upstream's harness does.</summary>
    internal ConsensusModule Cm
    {
        get
        {
            lock (_mu)
            {
                return _cm ?? throw new InvalidOperationException($"server {_serverId}: Serve has not been called");
            }
        }
    }

    private RpcEndpoint Endpoint
    {
        get
        {
            lock (_mu)
            {
                return _rpcServer ?? throw new InvalidOperationException($"server {_serverId}: Serve has not been called");
            }
        }
    }

    /// <summary>
    /// Names of this server's and its CM's tasks still running. Public so that a harness outside
    /// this project (a KV service's tests) can run the same leak check as the tests here.
    /// </summary>
    public IReadOnlyList<string> RunningTasks() => [.. _tasks.Running(), .. Cm.RunningTasks()];

    /// <summary>Unexpected exceptions in this server's or its CM's tasks; a test fails if there are any.</summary>
    public IReadOnlyList<Exception> Faults() => [.. _tasks.Faults(), .. Cm.Faults()];
}

/// <summary>
/// Stands between the network and a CM, as upstream's RPCProxy does: each call coming in waits
/// 1-5 ms before the CM sees it, or, with RAFT_UNRELIABLE_RPC set, one in ten is dropped and one
/// in ten waits 75 ms. A test or a tool can bring a network of its own instead (<see cref="Hook"/>).
/// </summary>
public sealed class RpcProxy(ConsensusModule cm, Random random, TimeProvider timeProvider)
{
    /// <summary>Guards <see cref="_numCallsBeforeDrop"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>
    /// Outgoing calls to let through before dropping all of them: -1 drops none, 0 drops every
    /// call from now on, n &gt; 0 lets n more through first.
    /// </summary>
    private int _numCallsBeforeDrop = -1;

    /// <summary>
    /// The network, when a test or a tool brings its own (Lab's Network does): it is handed each
    /// outgoing call (the peer's id, the method, the arguments, a function that delivers them and
    /// returns the reply, and a token cancelled if the connection closes) and returns the reply,
    /// or null if the call or its reply was lost. Set it on every server: calls coming in then
    /// skip the delay above, which the hook's network replaces.
    /// </summary>
    public Func<int, string, object, Func<object, Task<object>>, CancellationToken, Task<object?>>? Hook { get; set; }

    /// <summary>Routes a call coming in by its method's name, as net/rpc does.</summary>
    internal async Task<object> DispatchAsync(string serviceMethod, object args, CancellationToken ct) => serviceMethod switch
    {
        "ConsensusModule.RequestVote" => await RequestVoteAsync((RequestVoteArgs)args, ct),
        "ConsensusModule.AppendEntries" => await AppendEntriesAsync((AppendEntriesArgs)args, ct),
        _ => throw new RpcException($"rpc: can't find method {serviceMethod}"),
    };

    private async Task<RequestVoteReply> RequestVoteAsync(RequestVoteArgs args, CancellationToken ct)
    {
        await SimulateNetworkAsync("RequestVote", ct);
        return cm.RequestVote(args);
    }

    private async Task<AppendEntriesReply> AppendEntriesAsync(AppendEntriesArgs args, CancellationToken ct)
    {
        await SimulateNetworkAsync("AppendEntries", ct);
        return cm.AppendEntries(args);
    }

    /// <summary>Upstream's network, unless a hook brings another; shutting the server down cancels <paramref name="ct"/>.</summary>
    private async Task SimulateNetworkAsync(string method, CancellationToken ct)
    {
        if (Hook is not null)
        {
            return;
        }
        TimeSpan delay = TimeSpan.Zero;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("RAFT_UNRELIABLE_RPC")))
        {
            int dice = random.Next(10);
            if (dice == 9)
            {
                cm.Dlog($"drop {method}");
                throw new RpcException("RPC failed");
            }
            else if (dice == 8)
            {
                cm.Dlog($"delay {method}");
                delay = TimeSpan.FromMilliseconds(75);
            }
        }
        else
        {
            delay = TimeSpan.FromMilliseconds(1 + random.Next(5));
        }
        await Task.Delay(delay, timeProvider, ct);
    }

    /// <summary>Makes an outgoing call, through the <see cref="Hook"/>'s network if any, unless calls are dropped now.</summary>
    internal async Task<object> CallAsync(int peerId, RpcClient peer, string serviceMethod, object args)
    {
        lock (_mu)
        {
            if (_numCallsBeforeDrop == 0)
            {
                cm.Dlog($"drop Call {serviceMethod}: {args}");
                throw new RpcException("RPC failed");
            }
            if (_numCallsBeforeDrop > 0)
            {
                _numCallsBeforeDrop--;
            }
        }
        return Hook is { } hook
            ? await hook(peerId, serviceMethod, args, a => peer.CallAsync(serviceMethod, a), peer.Closed) ?? throw new RpcException("RPC failed")
            : await peer.CallAsync(serviceMethod, args);
    }

    /// <summary>Lets <paramref name="n"/> more outgoing calls through, then drops all of them.</summary>
    public void DropCallsAfterN(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        lock (_mu)
        {
            _numCallsBeforeDrop = n;
        }
    }

    /// <summary>Stops dropping outgoing calls.</summary>
    public void DontDropCalls()
    {
        lock (_mu)
        {
            _numCallsBeforeDrop = -1;
        }
    }
}
