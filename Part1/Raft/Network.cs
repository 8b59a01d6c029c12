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
/// make this server's outgoing calls fail on demand, and watch them travel (<see cref="Observer"/>).
/// </summary>
public sealed class RpcProxy
{
    /// <summary>This server's id: the sender of its outgoing calls.</summary>
    private readonly int _id;

    /// <summary>The CM behind this proxy.</summary>
    private readonly ConsensusModule _cm;

    /// <summary>The clock the delays run on: the server's.</summary>
    private readonly TimeProvider _timeProvider;

    /// <summary>Guards the outgoing-call faults below.</summary>
    private readonly Lock _mu = new();

    /// <summary>What calls coming in suffer; swapped whole, so a call sees one consistent setting.</summary>
    private volatile NetworkConditions _conditions = NetworkConditions.FromEnvironment();

    /// <summary>Told about every outgoing call from now on; null (the default) tells nobody.</summary>
    private volatile MessageObserver? _observer;

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

    internal RpcProxy(int id, ConsensusModule cm, TimeProvider timeProvider)
    {
        _id = id;
        _cm = cm;
        _timeProvider = timeProvider;
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

    /// <summary>
    /// Who is told about each call this server makes from now on, step by step until its reply
    /// arrives or it is lost (see <see cref="MessageEventKind"/>). Set the same observer on
    /// every server to see all of a cluster's messages. Null, the default, costs a null check.
    /// </summary>
    public MessageObserver? Observer
    {
        get => _observer;
        set => _observer = value;
    }

    /// <summary>
    /// Routes a call by its service method name, as net/rpc does. An observed call arrives
    /// inside the record of its journey (see <see cref="CallAsync"/>), a call traced for the log
    /// inside its <see cref="Traced"/> label, any other bare.
    /// </summary>
    internal async Task<object> DispatchAsync(string serviceMethod, object args, CancellationToken ct)
    {
        InFlightMessage? m = args as InFlightMessage;
        Traced? traced = args as Traced;
        if (m is not null)
        {
            if (!m.Arrive())
            {
                throw new RpcException("RPC failed");
            }
            args = m.Args;
            traced = m.Trace;
        }
        else if (traced is not null)
        {
            args = traced.Args;
        }
        return serviceMethod switch
        {
            "ConsensusModule.RequestVote" => await ServeAsync("RequestVote", (RequestVoteArgs)args, _cm.RequestVote, m, traced, ct),
            "ConsensusModule.AppendEntries" => await ServeAsync("AppendEntries", (AppendEntriesArgs)args, _cm.AppendEntries, m, traced, ct),
            _ => throw UnknownMethod(serviceMethod, m),
        };
    }

    /// <summary>
    /// One call's way through the network to <paramref name="handler"/> and its reply's way back;
    /// the same for both RPCs, so only the handler differs.
    /// </summary>
    private async Task<TReply> ServeAsync<TArgs, TReply>(string method, TArgs args, Func<TArgs, TReply> handler, InFlightMessage? m, Traced? traced, CancellationToken ct)
        where TReply : notnull
    {
        NetworkConditions net = _conditions;
        try
        {
            (TimeSpan replyDelay, bool held) = await SimulateNetworkAsync(net, method, m, ct);
            if (traced is not null)
            {
                _cm.Dlog($"net: #{traced.Id} {method} from {traced.From} arrives after {traced.Elapsed()} ms{(held ? " (held)" : "")}");
            }
            TReply reply = handler(args);
            await SimulateReplyAsync(net, method, reply, replyDelay, m, ct);
            return reply;
        }
        catch (Exception e) when (m is not null)
        {
            m.Lose(e);
            throw;
        }
    }

    /// <summary>
    /// Makes an outgoing call to peer <paramref name="peerId"/> over <paramref name="peer"/>,
    /// unless this proxy is dropping calls, in which case the call fails at once. With debug
    /// logging on, the call carries a number, and the log gets one line where it arrives and one
    /// where it ends (its reply or its failure), so Tools/TestLogViz can tell which lines belong
    /// to which call.
    /// </summary>
    internal async Task<object> CallAsync(int peerId, RpcClient peer, string method, object args)
    {
        bool dropCall, dropReply;
        lock (_mu)
        {
            dropCall = _numCallsBeforeDrop == 0;
            if (_numCallsBeforeDrop > 0)
            {
                _numCallsBeforeDrop--;
            }
            dropReply = _dropReplies;
        }

        // Observed, the message travels inside the record that reports its journey; traced for
        // the log, with its label (inside that record, if both). Neither costs a thing otherwise.
        InFlightMessage? m = _observer?.Send(_id, peerId, method, args);
        if (dropCall)
        {
            _cm.Dlog($"drop Call {method}: {args}");
            m?.End(MessageEventKind.Lost, "its sender's calls are being dropped");
            throw new RpcException("RPC failed");
        }
        Traced? traced = _cm.DebugEnabled ? new Traced(Interlocked.Increment(ref _lastCallId), _id, Stopwatch.GetTimestamp(), args) : null;
        if (m is not null)
        {
            m.Trace = traced;
        }

        object reply;
        try
        {
            reply = await peer.CallAsync(method, (object?)m ?? (object?)traced ?? args);
        }
        catch (RpcException e)
        {
            m?.CallerGaveUp(e.Message);
            LogFailure(traced, method, peerId, e.Message);
            throw;
        }
        if (dropReply)
        {
            _cm.Dlog($"drop reply to {method}: {reply}");
            m?.End(MessageEventKind.ReplyLost, "its sender drops replies");
            LogFailure(traced, method, peerId, "RPC failed: reply lost");
            throw new RpcException("RPC failed: reply lost");
        }
        if (m is not null && !m.Receive())
        {
            LogFailure(traced, method, peerId, "RPC failed: reply lost");
            throw new RpcException("RPC failed: reply lost");
        }
        if (traced is not null)
        {
            _cm.Dlog($"net: #{traced.Id} {ShortName(method)} reply from {peerId} after {traced.Elapsed()} ms");
        }
        return reply;
    }

    /// <summary>The sender's line for a traced call that failed (see <see cref="Traced"/>).</summary>
    private void LogFailure(Traced? traced, string method, int peerId, string why)
    {
        if (traced is not null)
        {
            _cm.Dlog($"net: #{traced.Id} {ShortName(method)} to {peerId} failed after {traced.Elapsed()} ms: {why}");
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
    /// it), or delayed a little. Shutting the server down cancels <paramref name="ct"/>, and then
    /// the call never reaches the CM. Returns how long to hold the reply (zero, unless the
    /// conditions hold replies rather than calls and this call drew a long delay) and whether the
    /// call itself was held.
    /// </summary>
    private async Task<(TimeSpan ReplyDelay, bool Held)> SimulateNetworkAsync(NetworkConditions net, string method, InFlightMessage? m, CancellationToken ct)
    {
        // One roll decides, as upstream's one dice roll does: with Unreliable, 10% are lost,
        // another 10% held for 75 ms, and the rest pass at once.
        double dice = Random.Shared.NextDouble();
        TimeSpan delay;
        TimeSpan replyDelay = TimeSpan.Zero;
        bool held = false;
        if (dice < net.RequestLoss)
        {
            _cm.Dlog($"drop {method}");
            m?.End(MessageEventKind.Lost, "lost by the network");
            throw new RpcException("RPC failed");
        }
        else if (dice < net.RequestLoss + net.LongDelayChance && net.LongDelayOnReply)
        {
            // MIT labrpc's reordering: the call arrives on time, its reply comes back late.
            delay = Between(net.MinDelay, net.MaxDelay);
            replyDelay = Between(net.LongDelayMin, net.LongDelayMax);
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
        // The wait starts before the report, so a tool that steps a paused clock to the reported arrival finds its timer set.
        Task wait = Hold(delay, m, ct);
        m?.Report(held ? MessageEventKind.Held : MessageEventKind.Delayed, delay);
        await wait;
        ct.ThrowIfCancellationRequested();
        m?.Deliver();
        return (replyDelay, held);
    }

    /// <summary>
    /// What the reply suffers once the CM has handled the call: lost, with the chance the
    /// conditions give, or held for <paramref name="hold"/> before it goes back.
    /// </summary>
    private async Task SimulateReplyAsync(NetworkConditions net, string method, object reply, TimeSpan hold, InFlightMessage? m, CancellationToken ct)
    {
        if (net.ReplyLoss > 0 && Random.Shared.NextDouble() < net.ReplyLoss)
        {
            _cm.Dlog($"drop reply to {method}");
            m?.End(MessageEventKind.ReplyLost, "lost by the network", reply);
            throw new RpcException("RPC failed: reply lost");
        }
        if (hold > TimeSpan.Zero)
        {
            _cm.Dlog($"delay reply to {method}");
        }
        Task wait = Hold(hold, m, ct);
        m?.Reply(reply, hold);
        await wait;
        ct.ThrowIfCancellationRequested();
        m?.HandOver();
    }

    /// <summary>
    /// Waits <paramref name="delay"/> on this server's clock. On the system clock that is
    /// <see cref="PreciseDelay"/>, accurate to a fraction of a millisecond, as it always was;
    /// any other clock (a test's, a tool's slowed-down one) gets Task.Delay on it.
    /// </summary>
    private Task WaitAsync(TimeSpan delay, CancellationToken ct) =>
        ReferenceEquals(_timeProvider, TimeProvider.System)
            ? PreciseDelay.DelayAsync(delay, ct)
            : Task.Delay(delay, _timeProvider, ct);

    /// <summary>Holds a call or its reply for <paramref name="delay"/> (none if zero), started at once.</summary>
    private Task Hold(TimeSpan delay, InFlightMessage? m, CancellationToken ct) =>
        delay <= TimeSpan.Zero ? Task.CompletedTask
        : m is null ? WaitAsync(delay, ct)
        : WaitOrDropAsync(delay, m, ct);

    /// <summary>An observed message's wait: it also ends when a tool drops the message, and the next step then loses it.</summary>
    private async Task WaitOrDropAsync(TimeSpan delay, InFlightMessage m, CancellationToken ct)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct, m.DroppedToken);
        try
        {
            await WaitAsync(delay, either.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Dropped: the next step of its journey sees that and loses it.
        }
    }

    /// <summary>A call for a method this server does not have; an observed one is lost there.</summary>
    private static RpcException UnknownMethod(string serviceMethod, InFlightMessage? m)
    {
        var e = new RpcException($"rpc: can't find method {serviceMethod}");
        m?.Lose(e);
        return e;
    }

    /// <summary>A random duration in [min, max], in whole milliseconds as upstream draws them.</summary>
    private static TimeSpan Between(TimeSpan min, TimeSpan max) =>
        TimeSpan.FromMilliseconds(Random.Shared.Next((int)min.TotalMilliseconds, (int)max.TotalMilliseconds + 1));

    /// <summary>"ConsensusModule.RequestVote" as the log names it: RequestVote.</summary>
    private static string ShortName(string method) => method[(method.LastIndexOf('.') + 1)..];

    /// <summary>
    /// A call on its way while debug logging is on: the message, labelled with the network's own
    /// number for it and when it left, like a packet's header. Both ends' log lines name the
    /// number and say how long ago it left, just after its sender's "sending ..." line.
    /// </summary>
    internal sealed record Traced(long Id, int From, long SentAt, object Args)
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

    /// <summary>
    /// Where a long delay falls: false (the default) holds the call before the server sees it;
    /// true holds the reply after the server acted on the call, as MIT's labrpc reorders, so the
    /// server hears of the call on time while its sender learns the outcome late.
    /// </summary>
    public bool LongDelayOnReply { get; init; }

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

/// <summary>
/// The steps of an observed message's journey, in the order they happen. Each message starts
/// with <see cref="Sent"/> and ends with exactly one of <see cref="Lost"/>,
/// <see cref="ReplyDelivered"/> and <see cref="ReplyLost"/>.
/// </summary>
public enum MessageEventKind
{
    /// <summary>The sender handed the message to the network.</summary>
    Sent,

    /// <summary>The network will hand it to the receiver after <see cref="MessageEvent.Delay"/>, its ordinary delay.</summary>
    Delayed,

    /// <summary>The network holds it for a long <see cref="MessageEvent.Delay"/>: messages sent later may arrive first.</summary>
    Held,

    /// <summary>An end: it never reached the receiver's handler (<see cref="MessageEvent.Reason"/> says why).</summary>
    Lost,

    /// <summary>It reached the receiver, whose handler runs now.</summary>
    Delivered,

    /// <summary>The receiver's handler answered <see cref="MessageEvent.Reply"/>, which heads back.</summary>
    Replied,

    /// <summary>The network holds the reply for a long <see cref="MessageEvent.Delay"/> (<see cref="NetworkConditions.LongDelayOnReply"/>).</summary>
    ReplyHeld,

    /// <summary>An end: the sender has the <see cref="MessageEvent.Reply"/>.</summary>
    ReplyDelivered,

    /// <summary>An end: the receiver acted on the message, but its sender never learns how (<see cref="MessageEvent.Reason"/> says why).</summary>
    ReplyLost,
}

/// <summary>One step of an observed message's journey.</summary>
/// <param name="Id">The message's id, unique within its <see cref="MessageObserver"/>; every step of one message carries it.</param>
/// <param name="Kind">Which step.</param>
/// <param name="From">The sender's server id.</param>
/// <param name="To">The receiver's server id.</param>
/// <param name="Method">"RequestVote" or "AppendEntries".</param>
/// <param name="Args">The message itself: a <see cref="RequestVoteArgs"/> or an <see cref="AppendEntriesArgs"/>.</param>
public sealed record MessageEvent(long Id, MessageEventKind Kind, int From, int To, string Method, object Args)
{
    /// <summary>The reply (a RequestVoteReply or an AppendEntriesReply), once the handler has given one.</summary>
    public object? Reply { get; init; }

    /// <summary>How long the network holds the message (Delayed, Held) or its reply (ReplyHeld).</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Why it was lost (Lost, ReplyLost): "lost by the network", "dropped in flight", a closed connection...</summary>
    public string? Reason { get; init; }
}

/// <summary>
/// Watches messages travel: set one on every server's <see cref="RpcProxy.Observer"/> and it is
/// told each step of every call between them, and can drop a chosen message on its way, as the
/// network might have. The callback runs on whichever thread the step happens, sometimes on
/// several at once, and never under a lock: it must be quick, thread-safe, and must not throw.
/// </summary>
public sealed class MessageObserver
{
    /// <summary>Told about each step.</summary>
    private readonly Action<MessageEvent> _onEvent;

    /// <summary>Guards <see cref="_inFlight"/>.</summary>
    private readonly Lock _mu = new();

    /// <summary>The messages sent and not yet ended, by id, so that <see cref="Drop"/> finds them.</summary>
    private readonly Dictionary<long, InFlightMessage> _inFlight = [];

    /// <summary>The id of the last message sent.</summary>
    private long _lastId;

    public MessageObserver(Action<MessageEvent> onEvent)
    {
        _onEvent = onEvent ?? throw new ArgumentNullException(nameof(onEvent));
    }

    /// <summary>How many messages are on their way now: sent, and not yet ended.</summary>
    public int InFlightCount
    {
        get
        {
            lock (_mu)
            {
                return _inFlight.Count;
            }
        }
    }

    /// <summary>
    /// Drops message <paramref name="id"/>: if it has not reached its receiver's handler yet it
    /// is <see cref="MessageEventKind.Lost"/>, otherwise its reply is (<see cref="MessageEventKind.ReplyLost"/>),
    /// "dropped in flight", as if the network had lost it. A held message is lost at once, not
    /// at the end of its delay. False if no such message is on its way (it ended already).
    /// </summary>
    public bool Drop(long id)
    {
        InFlightMessage? m;
        lock (_mu)
        {
            _inFlight.TryGetValue(id, out m);
        }
        return m is not null && m.Drop();
    }

    /// <summary>Starts the journey of a call from <paramref name="from"/> to <paramref name="to"/>.</summary>
    internal InFlightMessage Send(int from, int to, string serviceMethod, object args)
    {
        // "ConsensusModule.RequestVote" becomes "RequestVote".
        string method = serviceMethod[(serviceMethod.LastIndexOf('.') + 1)..];
        var m = new InFlightMessage(this, Interlocked.Increment(ref _lastId), from, to, method, args);
        lock (_mu)
        {
            _inFlight.Add(m.Id, m);
        }
        m.Report(MessageEventKind.Sent);
        return m;
    }

    /// <summary>Tells the callback; never called under a lock.</summary>
    internal void Publish(MessageEvent e) => _onEvent(e);

    /// <summary>Forgets a message that has ended; called just before its end is published.</summary>
    internal void Forget(long id)
    {
        lock (_mu)
        {
            _inFlight.Remove(id);
        }
    }
}

/// <summary>
/// One observed call on its way. It travels in place of the bare message, so the receiver's
/// proxy reports to the sender's observer, and it keeps the journey's stage: while the call
/// heads for the receiver, the sender (giving up) or the receiver (arriving) moves it on;
/// while the receiver holds it (delay, handler, a held reply), only the receiver; once the reply
/// heads back, only the sender. Each move is one compare-and-swap, so exactly one end is reported.
/// </summary>
internal sealed class InFlightMessage
{
    // The stage, in the low two bits of _state, and two flags above them.
    private const int ToReceiver = 0;
    private const int AtReceiver = 1;
    private const int ToSender = 2;
    private const int Ended = 3;
    private const int StageMask = 3;

    /// <summary>Flag: the sender stopped waiting while the receiver held the message; the receiver loses the reply.</summary>
    private const int SenderGone = 4;

    /// <summary>Flag: a tool dropped the message; its next step loses it.</summary>
    private const int Dropped = 8;

    private const string DroppedReason = "dropped in flight";

    /// <summary>The sender's observer, told every step.</summary>
    private readonly MessageObserver _observer;

    /// <summary>Cancelled when the message is dropped, which ends the delay holding it.</summary>
    private readonly CancellationTokenSource _dropped = new();

    /// <summary>The stage and flags above; changed by compare-and-swap only.</summary>
    private int _state;

    /// <summary>Why the sender stopped waiting; written before <see cref="SenderGone"/> is set.</summary>
    private volatile string? _senderGoneReason;

    /// <summary>Whether the receiver's handler has been reached: a loss from then on is the reply's.</summary>
    private volatile bool _delivered;

    /// <summary>The handler's reply, once there is one.</summary>
    private volatile object? _reply;

    public InFlightMessage(MessageObserver observer, long id, int from, int to, string method, object args)
    {
        _observer = observer;
        Id = id;
        From = from;
        To = to;
        Method = method;
        Args = args;
    }

    public long Id { get; }

    public int From { get; }

    public int To { get; }

    public string Method { get; }

    public object Args { get; }

    /// <summary>The call's label for the log when debug logging is on (see <see cref="RpcProxy.Traced"/>), or null.</summary>
    public RpcProxy.Traced? Trace { get; set; }

    /// <summary>Cancelled when a tool drops the message.</summary>
    public CancellationToken DroppedToken => _dropped.Token;

    /// <summary>Publishes a step that is not an end.</summary>
    public void Report(MessageEventKind kind, TimeSpan delay = default) =>
        _observer.Publish(new MessageEvent(Id, kind, From, To, Method, Args) { Delay = delay, Reply = _reply });

    /// <summary>The receiver got the call; false if it ended on the way (dropped, or its sender gave up), and is not to be served.</summary>
    public bool Arrive()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & StageMask) != ToReceiver)
            {
                return false;
            }
            if ((s & Dropped) != 0)
            {
                TryEnd(s, MessageEventKind.Lost, DroppedReason);
                continue;
            }
            if (Interlocked.CompareExchange(ref _state, s | AtReceiver, s) == s)
            {
                return true;
            }
        }
    }

    /// <summary>The delay is over and the handler is next; throws if the message was dropped meanwhile.</summary>
    public void Deliver()
    {
        if ((Volatile.Read(ref _state) & Dropped) != 0)
        {
            End(MessageEventKind.Lost, DroppedReason);
            throw new RpcException("RPC failed");
        }
        _delivered = true;
        Report(MessageEventKind.Delivered);
    }

    /// <summary>The handler answered <paramref name="reply"/>, to be held for <paramref name="hold"/>; throws if the message was dropped meanwhile.</summary>
    public void Reply(object reply, TimeSpan hold)
    {
        _reply = reply;
        if ((Volatile.Read(ref _state) & Dropped) != 0)
        {
            End(MessageEventKind.ReplyLost, DroppedReason);
            throw new RpcException("RPC failed: reply lost");
        }
        Report(MessageEventKind.Replied);
        if (hold > TimeSpan.Zero)
        {
            Report(MessageEventKind.ReplyHeld, hold);
        }
    }

    /// <summary>The receiver sends the reply back; throws, the reply lost, if it was dropped or its sender has gone.</summary>
    public void HandOver()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & (Dropped | SenderGone)) != 0)
            {
                End(MessageEventKind.ReplyLost, (s & Dropped) != 0 ? DroppedReason : _senderGoneReason);
                throw new RpcException("RPC failed: reply lost");
            }
            if (Interlocked.CompareExchange(ref _state, (s & ~StageMask) | ToSender, s) == s)
            {
                return;
            }
        }
    }

    /// <summary>The sender got the reply; false, the reply lost, if the message was dropped on the way back.</summary>
    public bool Receive()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & StageMask) == Ended)
            {
                return false;
            }
            if ((s & Dropped) != 0)
            {
                End(MessageEventKind.ReplyLost, DroppedReason);
                return false;
            }
            if (TryEnd(s, MessageEventKind.ReplyDelivered, null))
            {
                return true;
            }
        }
    }

    /// <summary>
    /// The sender's call failed with <paramref name="reason"/> (its connection closed, or the
    /// receiver failed it). On the way out or back, that is the end; while the receiver holds
    /// the message, the receiver ends it: the call is served as a call on the wire would be, and its reply is lost.
    /// </summary>
    public void CallerGaveUp(string reason)
    {
        _senderGoneReason = reason;
        while (true)
        {
            int s = Volatile.Read(ref _state);
            switch (s & StageMask)
            {
                case Ended:
                    return;
                case AtReceiver:
                    if (Interlocked.CompareExchange(ref _state, s | SenderGone, s) == s)
                    {
                        return;
                    }
                    break;
                default:
                    if (TryEnd(s, (s & StageMask) == ToReceiver ? MessageEventKind.Lost : MessageEventKind.ReplyLost, reason))
                    {
                        return;
                    }
                    break;
            }
        }
    }

    /// <summary>The receiver failed while holding the message (shut down, or a bug): the message or its reply is lost.</summary>
    public void Lose(Exception e)
    {
        string reason = e is OperationCanceledException ? "its receiver shut down" : e.Message;
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & StageMask) != AtReceiver)
            {
                return;
            }
            if (TryEnd(s, _delivered ? MessageEventKind.ReplyLost : MessageEventKind.Lost, reason))
            {
                return;
            }
        }
    }

    /// <summary>Marks the message dropped and ends the delay holding it; false if it had ended already.</summary>
    public bool Drop()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & StageMask) == Ended)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _state, s | Dropped, s) == s)
            {
                break;
            }
        }
        // On the pool: the delay's end runs the receiver's code, which must not run on the tool's thread.
        _ = _dropped.CancelAsync();
        return true;
    }

    /// <summary>Ends the message as <paramref name="kind"/>, whatever its stage, unless it has ended already; <paramref name="reply"/> is the handler's, if it ran.</summary>
    public void End(MessageEventKind kind, string? reason, object? reply = null)
    {
        _reply ??= reply;
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & StageMask) == Ended || TryEnd(s, kind, reason))
            {
                return;
            }
        }
    }

    /// <summary>Ends the message as <paramref name="kind"/> if its state is still <paramref name="expected"/>, and publishes the end.</summary>
    private bool TryEnd(int expected, MessageEventKind kind, string? reason)
    {
        if (Interlocked.CompareExchange(ref _state, (expected & ~StageMask) | Ended, expected) != expected)
        {
            return false;
        }
        _observer.Forget(Id);
        _observer.Publish(new MessageEvent(Id, kind, From, To, Method, Args) { Reply = _reply, Reason = reason });
        return true;
    }
}
