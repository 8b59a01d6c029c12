// The simulated network: the proxy every call between servers passes through, and the
// conditions (delays, losses, reordering) it imposes. This file is the same in Part1, Part2 and
// Part3, byte for byte: it models the wire, not the algorithm, so it does not change as the posts
// add to Raft, and keeping it apart leaves Server.cs to match upstream's server.go and the part
// diffs to show only what each post adds. Upstream keeps its RPCProxy in server.go.
using System.Diagnostics;
using System.Globalization;

namespace Raft;

/// <summary>
/// Sits between the network and a CM, so that every part runs on an imperfect network. Calls
/// coming in suffer this server's <see cref="Conditions"/>: by default upstream's 1-5 ms delay,
/// or with RAFT_UNRELIABLE_RPC set upstream's drops and 75 ms delays. Tests and tools can also
/// make this server's outgoing calls fail on demand.
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

    /// <summary>The number of the last call any proxy sent with debug logging on (see <see cref="Traced"/>).</summary>
    private static long _lastCallId;

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
    internal async Task<object> DispatchAsync(string serviceMethod, object message, CancellationToken ct)
    {
        Traced? traced = message as Traced;
        object args = traced?.Args ?? message;
        return serviceMethod switch
        {
            "ConsensusModule.RequestVote" => await RequestVoteAsync((RequestVoteArgs)args, traced, ct),
            "ConsensusModule.AppendEntries" => await AppendEntriesAsync((AppendEntriesArgs)args, traced, ct),
            _ => throw new RpcException($"rpc: can't find method {serviceMethod}"),
        };
    }

    internal async Task<RequestVoteReply> RequestVoteAsync(RequestVoteArgs args, Traced? traced, CancellationToken ct)
    {
        NetworkConditions net = _conditions;
        bool held = await SimulateNetworkAsync(net, "RequestVote", ct);
        if (traced is not null)
        {
            _cm.Dlog($"net: #{traced.Id} RequestVote from {args.CandidateId} arrives after {traced.Elapsed()} ms{(held ? " (held)" : "")}");
        }
        RequestVoteReply reply = _cm.RequestVote(args);
        LoseReplySometimes(net, "RequestVote");
        return reply;
    }

    internal async Task<AppendEntriesReply> AppendEntriesAsync(AppendEntriesArgs args, Traced? traced, CancellationToken ct)
    {
        NetworkConditions net = _conditions;
        bool held = await SimulateNetworkAsync(net, "AppendEntries", ct);
        if (traced is not null)
        {
            _cm.Dlog($"net: #{traced.Id} AppendEntries from {args.LeaderId} arrives after {traced.Elapsed()} ms{(held ? " (held)" : "")}");
        }
        AppendEntriesReply reply = _cm.AppendEntries(args);
        LoseReplySometimes(net, "AppendEntries");
        return reply;
    }

    /// <summary>
    /// Makes an outgoing call to peer <paramref name="peerId"/>, unless this proxy is dropping
    /// calls, in which case the call fails at once. With debug logging on, the call carries a
    /// number, and the log gets one line where it arrives and one where it ends (its reply or its
    /// failure), so Tools/TestLogViz can tell which lines belong to which call.
    /// </summary>
    internal async Task<object> CallAsync(int peerId, RpcClient peer, string method, object args)
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

        // Off the record (no debug log), a call travels as it is and costs nothing more.
        Traced? traced = _cm.DebugEnabled ? new Traced(Interlocked.Increment(ref _lastCallId), Stopwatch.GetTimestamp(), args) : null;
        try
        {
            object reply = await peer.CallAsync(method, traced ?? args);
            if (dropReply)
            {
                _cm.Dlog($"drop reply to {method}: {reply}");
                throw new RpcException("RPC failed: reply lost");
            }
            if (traced is not null)
            {
                _cm.Dlog($"net: #{traced.Id} {ShortName(method)} reply from {peerId} after {traced.Elapsed()} ms");
            }
            return reply;
        }
        catch (RpcException e) when (traced is not null)
        {
            _cm.Dlog($"net: #{traced.Id} {ShortName(method)} to {peerId} failed after {traced.Elapsed()} ms: {e.Message}");
            throw;
        }
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
    /// it), or delayed a little; true if it was held. Shutting the server down cancels
    /// <paramref name="ct"/>, and then the call never reaches the CM.
    /// </summary>
    private async Task<bool> SimulateNetworkAsync(NetworkConditions net, string method, CancellationToken ct)
    {
        // One roll decides, as upstream's one dice roll does: with Unreliable, 10% are lost,
        // another 10% held for 75 ms, and the rest pass at once.
        double dice = Random.Shared.NextDouble();
        TimeSpan delay;
        bool held = false;
        if (dice < net.RequestLoss)
        {
            _cm.Dlog($"drop {method}");
            throw new RpcException("RPC failed");
        }
        else if (dice < net.RequestLoss + net.LongDelayChance)
        {
            _cm.Dlog($"delay {method}");
            delay = Between(net.LongDelayMin, net.LongDelayMax);
            held = true;
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
        return held;
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

    /// <summary>"ConsensusModule.RequestVote" as the log names it: RequestVote.</summary>
    private static string ShortName(string method) => method[(method.LastIndexOf('.') + 1)..];

    /// <summary>
    /// A call on its way while debug logging is on: the message, wrapped with the network's own
    /// number for it and when it left, like a packet's header. Both ends' log lines name the
    /// number and say how long ago it left, just after its sender's "sending ..." line.
    /// </summary>
    internal sealed record Traced(long Id, long SentAt, object Args)
    {
        /// <summary>Milliseconds since the call left, to the microsecond, rounded down.</summary>
        public string Elapsed() =>
            (Math.Floor(Stopwatch.GetElapsedTime(SentAt).TotalMicroseconds) / 1000).ToString("0.000", CultureInfo.InvariantCulture);
    }
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
