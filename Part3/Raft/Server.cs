// The server around a consensus module: its RPC endpoint and its connections to peers. The
// simulated network its calls travel through is in Network.cs.
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

    /// <summary>Where the CM persists its state; it outlives this server.</summary>
    private readonly IStorage _storage;

    /// <summary>Where the CM reports committed entries.</summary>
    private readonly ChannelWriter<CommitEntry> _commitChan;

    /// <summary>Completes when the whole cluster is connected.</summary>
    private readonly Task _ready;

    /// <summary>Cancelled by <see cref="ShutdownAsync"/>.</summary>
    private readonly CancellationTokenSource _quit = new();

    /// <summary>The tasks serving RPCs (Go's WaitGroup of serving goroutines).</summary>
    private readonly TaskTracker _tasks;

    /// <summary>Handed to the CM, for its debug log.</summary>
    private readonly ILogger _logger;

    /// <summary>The clock of the CM's timers and of the network's delays; the system's unless a test or a tool brings its own.</summary>
    private readonly TimeProvider _timeProvider;

    public Server(int serverId, IReadOnlyList<int> peerIds, IStorage storage, Task ready, ChannelWriter<CommitEntry> commitChan, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        _serverId = serverId;
        _peerIds = [.. peerIds];
        _storage = storage;
        _ready = ready;
        _commitChan = commitChan;
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _tasks = new TaskTracker(serverId, _logger, _quit.Token);
    }

    /// <summary>Creates the CM and starts serving RPCs.</summary>
    public void Serve()
    {
        lock (_mu)
        {
            _cm = new ConsensusModule(_serverId, _peerIds, this, _storage, _ready, _commitChan, _logger, _timeProvider);

            // Every incoming call goes through the proxy, which delays or drops it before the CM sees it.
            _rpcProxy = new RpcProxy(_serverId, _cm, _timeProvider);
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

    /// <summary>Offers a command to the CM; see <see cref="ConsensusModule.Submit"/>.</summary>
    public int Submit(object cmd) => Cm.Submit(cmd);

    /// <summary>Stops the CM and the RPC endpoint, then waits for the serving tasks to end.</summary>
    public async Task ShutdownAsync()
    {
        await Cm.StopAsync();
        // Closed before the serving tasks are cancelled: every call still queued, or arriving
        // meanwhile, fails at once instead of leaving its caller waiting for good.
        Endpoint.Close();
        _quit.Cancel();
        await _tasks.WhenAllAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

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
        RpcProxy? proxy;
        lock (_mu)
        {
            _peerClients.TryGetValue(id, out peer);
            proxy = _rpcProxy;
        }

        // Also what a call made after shutdown gets: DisconnectAll closed every connection.
        if (peer is null)
        {
            return null;
        }
        if (proxy is null)
        {
            throw new InvalidOperationException($"server {_serverId}: Serve has not been called");
        }
        try
        {
            return (TReply)await proxy.CallAsync(id, peer, serviceMethod, args);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    /// <summary>The hosted CM's id, current term and whether it thinks it is the leader.</summary>
    public (int Id, int Term, bool IsLeader) Report() => Cm.Report();

    /// <summary>Whether this server thinks it is the leader.</summary>
    public bool IsLeader() => Cm.Report().IsLeader;

    /// <summary>The RPC proxy: this server's network conditions, and faults for its outgoing calls.</summary>
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
