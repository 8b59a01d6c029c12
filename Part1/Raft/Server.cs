// The server around a consensus module: its RPC endpoint, its connections to peers, and the
// proxy that simulates an imperfect network.
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

    /// <summary>Completes when the whole cluster is connected.</summary>
    private readonly Task _ready;

    /// <summary>Cancelled by <see cref="ShutdownAsync"/>.</summary>
    private readonly CancellationTokenSource _quit = new();

    /// <summary>The tasks serving RPCs (Go's WaitGroup of serving goroutines).</summary>
    private readonly TaskTracker _tasks;

    /// <summary>Handed to the CM, for its debug log.</summary>
    private readonly ILogger _logger;

    public Server(int serverId, IReadOnlyList<int> peerIds, Task ready, ILogger? logger = null)
    {
        _serverId = serverId;
        _peerIds = [.. peerIds];
        _ready = ready;
        _logger = logger ?? NullLogger.Instance;
        _tasks = new TaskTracker(serverId, _logger, _quit.Token);
    }

    /// <summary>Creates the CM and starts serving RPCs.</summary>
    public void Serve()
    {
        lock (_mu)
        {
            _cm = new ConsensusModule(_serverId, _peerIds, this, _ready, _logger);

            // Every incoming call goes through the proxy, which delays or drops it before the CM sees it.
            _rpcProxy = new RpcProxy(_cm);
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
        Cm.Stop();
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
    /// Calls <paramref name="serviceMethod"/> on peer <paramref name="id"/>. Fails with
    /// <see cref="RpcException"/> at once if the peer is not connected, and as soon as the
    /// connection closes if that happens while the call is in flight.
    /// </summary>
    public async Task<TReply> CallAsync<TArgs, TReply>(int id, string serviceMethod, TArgs args)
        where TArgs : notnull
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
            throw new RpcException($"call client {id} after it's closed");
        }
        if (proxy is null)
        {
            throw new InvalidOperationException($"server {_serverId}: Serve has not been called");
        }
        return (TReply)await proxy.CallAsync(peer, serviceMethod, args);
    }

    /// <summary>The hosted CM's id, current term and whether it thinks it is the leader.</summary>
    public (int Id, int Term, bool IsLeader) Report() => Cm.Report();

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

/// <summary>
/// Sits between the network and a CM, so that every part runs on an imperfect network. Calls
/// coming in suffer this server's <see cref="Conditions"/>: by default upstream's 1-5 ms delay,
/// or with RAFT_UNRELIABLE_RPC set upstream's drops and 75 ms delays. Tests and tools can also
/// make this server's outgoing calls fail on demand. The same code in every part: it is the
/// simulated network, not the algorithm.
/// </summary>
public sealed class RpcProxy
{
    /// <summary>The CM behind this proxy.</summary>
    private readonly ConsensusModule _cm;

    /// <summary>Guards the outgoing-call faults below.</summary>
    private readonly Lock _mu = new();

    /// <summary>What calls coming in suffer; swapped whole, so a call sees one consistent setting.</summary>
    private volatile NetworkConditions _conditions = NetworkConditions.FromEnvironment();

    /// <summary>
    /// Outgoing calls to let through before dropping all of them: -1 drops none, 0 drops every
    /// call from now on, n &gt; 0 lets n more through first.
    /// </summary>
    private int _numCallsBeforeDrop = -1;

    /// <summary>
    /// When set, outgoing calls are delivered and served, but their replies are lost: the peer
    /// acts on the message while this server never learns that it did. A fault beyond upstream's;
    /// it lets a test cut a leader off after its message got out, without a race.
    /// </summary>
    private bool _dropReplies;

    internal RpcProxy(ConsensusModule cm)
    {
        _cm = cm;
    }

    /// <summary>
    /// The faults calls to this server suffer from now on. Settable at any time, for this server
    /// only; set every server's to change a whole cluster's network.
    /// </summary>
    public NetworkConditions Conditions
    {
        get => _conditions;
        set => _conditions = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Routes a call by its service method name, as net/rpc does.</summary>
    internal async Task<object> DispatchAsync(string serviceMethod, object args, CancellationToken ct) => serviceMethod switch
    {
        "ConsensusModule.RequestVote" => await RequestVoteAsync((RequestVoteArgs)args, ct),
        "ConsensusModule.AppendEntries" => await AppendEntriesAsync((AppendEntriesArgs)args, ct),
        _ => throw new RpcException($"rpc: can't find method {serviceMethod}"),
    };

    internal async Task<RequestVoteReply> RequestVoteAsync(RequestVoteArgs args, CancellationToken ct)
    {
        NetworkConditions net = _conditions;
        await SimulateNetworkAsync(net, "RequestVote", ct);
        RequestVoteReply reply = _cm.RequestVote(args);
        LoseReplySometimes(net, "RequestVote");
        return reply;
    }

    internal async Task<AppendEntriesReply> AppendEntriesAsync(AppendEntriesArgs args, CancellationToken ct)
    {
        NetworkConditions net = _conditions;
        await SimulateNetworkAsync(net, "AppendEntries", ct);
        AppendEntriesReply reply = _cm.AppendEntries(args);
        LoseReplySometimes(net, "AppendEntries");
        return reply;
    }

    /// <summary>
    /// Makes an outgoing call to <paramref name="peer"/>, unless this proxy is dropping calls,
    /// in which case the call fails at once.
    /// </summary>
    internal async Task<object> CallAsync(RpcClient peer, string method, object args)
    {
        bool dropReply;
        lock (_mu)
        {
            if (_numCallsBeforeDrop == 0)
            {
                _cm.Dlog($"drop Call {method}: {args}");
                throw new RpcException("RPC failed");
            }
            if (_numCallsBeforeDrop > 0)
            {
                _numCallsBeforeDrop--;
            }
            dropReply = _dropReplies;
        }

        object reply = await peer.CallAsync(method, args);
        if (dropReply)
        {
            _cm.Dlog($"drop reply to {method}: {reply}");
            throw new RpcException("RPC failed: reply lost");
        }
        return reply;
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

    /// <summary>Delivers outgoing calls but loses their replies (see <see cref="_dropReplies"/>).</summary>
    public void DropReplies()
    {
        lock (_mu)
        {
            _dropReplies = true;
        }
    }

    /// <summary>Ends every fault this proxy was told to inject into outgoing calls.</summary>
    public void DontDropCalls()
    {
        lock (_mu)
        {
            _numCallsBeforeDrop = -1;
            _dropReplies = false;
        }
    }

    /// <summary>
    /// What a call suffers on its way in: lost, held for a long while (so later calls overtake
    /// it), or delayed a little. Shutting the server down cancels <paramref name="ct"/>, and then
    /// the call never reaches the CM.
    /// </summary>
    private async Task SimulateNetworkAsync(NetworkConditions net, string method, CancellationToken ct)
    {
        // One roll decides, as upstream's one dice roll does: with Unreliable, 10% are lost,
        // another 10% held for 75 ms, and the rest pass at once.
        double dice = Random.Shared.NextDouble();
        TimeSpan delay;
        if (dice < net.RequestLoss)
        {
            _cm.Dlog($"drop {method}");
            throw new RpcException("RPC failed");
        }
        else if (dice < net.RequestLoss + net.LongDelayChance)
        {
            _cm.Dlog($"delay {method}");
            delay = Between(net.LongDelayMin, net.LongDelayMax);
        }
        else
        {
            delay = Between(net.MinDelay, net.MaxDelay);
        }
        if (delay > TimeSpan.Zero)
        {
            await PreciseDelay.DelayAsync(delay, ct);
        }
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Fails the call after the CM has handled it, with the chance the conditions give.</summary>
    private void LoseReplySometimes(NetworkConditions net, string method)
    {
        if (net.ReplyLoss > 0 && Random.Shared.NextDouble() < net.ReplyLoss)
        {
            _cm.Dlog($"drop reply to {method}");
            throw new RpcException("RPC failed: reply lost");
        }
    }

    /// <summary>A random duration in [min, max], in whole milliseconds as upstream draws them.</summary>
    private static TimeSpan Between(TimeSpan min, TimeSpan max) =>
        TimeSpan.FromMilliseconds(Random.Shared.Next((int)min.TotalMilliseconds, (int)max.TotalMilliseconds + 1));
}

/// <summary>
/// How unreliable the network into one server is: what share of calls is lost before the
/// handler runs, what share of replies is lost after it ran, how long calls are delayed, and
/// what share is held so long that later calls overtake it. Immutable: build one with
/// <c>with</c> and hand it to <see cref="RpcProxy.Conditions"/>.
/// </summary>
public sealed record NetworkConditions
{
    /// <summary>The chance (0 to 1) that a call is lost before the server sees it.</summary>
    public double RequestLoss { get; init => field = Chance(value); }

    /// <summary>The chance (0 to 1) that the reply is lost after the server acted on the call.</summary>
    public double ReplyLoss { get; init => field = Chance(value); }

    /// <summary>The shortest delay of a call that is neither lost nor held.</summary>
    public TimeSpan MinDelay { get; init => field = Duration(value); }

    /// <summary>The longest delay of a call that is neither lost nor held.</summary>
    public TimeSpan MaxDelay { get; init => field = Duration(value); }

    /// <summary>The chance (0 to 1) that a call is held for a long delay, so later calls overtake it.</summary>
    public double LongDelayChance { get; init => field = Chance(value); }

    /// <summary>The shortest long delay.</summary>
    public TimeSpan LongDelayMin { get; init => field = Duration(value); }

    /// <summary>The longest long delay.</summary>
    public TimeSpan LongDelayMax { get; init => field = Duration(value); }

    /// <summary>Upstream's normal network: every call is delayed by 1-5 ms, none is lost.</summary>
    public static NetworkConditions Reliable { get; } = new()
    {
        MinDelay = TimeSpan.FromMilliseconds(1),
        MaxDelay = TimeSpan.FromMilliseconds(5),
    };

    /// <summary>Upstream's RAFT_UNRELIABLE_RPC: one call in ten lost, one in ten delayed by 75 ms, the rest at once.</summary>
    public static NetworkConditions Unreliable { get; } = new()
    {
        RequestLoss = 0.1,
        LongDelayChance = 0.1,
        LongDelayMin = TimeSpan.FromMilliseconds(75),
        LongDelayMax = TimeSpan.FromMilliseconds(75),
    };

    /// <summary>
    /// Much harsher, after the figures of MIT 6.824's Raft lab: 10% of calls and 10% of replies
    /// lost, 0-27 ms of delay, and one call in ten held 200-2200 ms, which reorders messages.
    /// </summary>
    public static NetworkConditions Harsh { get; } = new()
    {
        RequestLoss = 0.1,
        ReplyLoss = 0.1,
        MinDelay = TimeSpan.Zero,
        MaxDelay = TimeSpan.FromMilliseconds(27),
        LongDelayChance = 0.1,
        LongDelayMin = TimeSpan.FromMilliseconds(200),
        LongDelayMax = TimeSpan.FromMilliseconds(2200),
    };

    /// <summary>No delay and no loss: what the code itself costs (Tools/RaftBench).</summary>
    public static NetworkConditions Instant { get; } = new();

    /// <summary><see cref="Unreliable"/> if RAFT_UNRELIABLE_RPC is set, as upstream reads it; otherwise <see cref="Reliable"/>.</summary>
    public static NetworkConditions FromEnvironment() =>
        string.IsNullOrEmpty(Environment.GetEnvironmentVariable("RAFT_UNRELIABLE_RPC")) ? Reliable : Unreliable;

    private static double Chance(double p) =>
        p is >= 0 and <= 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), p, "a chance must be between 0 and 1");

    private static TimeSpan Duration(TimeSpan t) =>
        t >= TimeSpan.Zero && t <= TimeSpan.FromMinutes(1)
            ? t
            : throw new ArgumentOutOfRangeException(nameof(t), t, "a delay must be between 0 and 1 minute");
}
