// The simulated network between a cluster's servers: what each call suffers on its way (delays,
// losses, long holds that reorder, partitions), told step by step to an observer, with the
// log lines that let Tools/TestLogViz pair each call with its reply.
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Lab;

/// <summary>
/// The network of one cluster. Each server's RPC proxy takes a hook from <see cref="HookFor"/>
/// (<c>server.Proxy().Hook = network.HookFor(id)</c>): the server hands it every outgoing call,
/// and the hook carries the call to the peer and its reply back, through whatever the network
/// does to them. Set it on every server of the cluster; a part's own proxy then adds no delay of
/// its own. Thread-safe: in real time, calls come from many threads at once.
/// </summary>
/// <remarks>
/// A call's journey: <see cref="MessageEventKind.Sent"/>; unless lost, <see cref="MessageEventKind.Delayed"/>
/// or <see cref="MessageEventKind.Held"/> and, after the delay, <see cref="MessageEventKind.Delivered"/>
/// to the receiver's server; <see cref="MessageEventKind.Replied"/> once it answers, maybe
/// <see cref="MessageEventKind.ReplyHeld"/>; and one end: <see cref="MessageEventKind.Lost"/>,
/// <see cref="MessageEventKind.ReplyDelivered"/> or <see cref="MessageEventKind.ReplyLost"/>.
/// A call in flight on a connection that closes (a server disconnected or shut down) is lost, as
/// a pending call of Go's net/rpc fails when its client is closed.
/// </remarks>
public sealed class Network
{
    /// <summary>Guards everything below that can change.</summary>
    private readonly Lock _mu = new();

    /// <summary>The clock of the delays: a simulation's, or the system's (then with <see cref="PreciseDelay"/>).</summary>
    private readonly TimeProvider _clock;

    /// <summary>Where the network's lines go ("[2] net: #9 RequestVote from 1 arrives after ..."), if anywhere.</summary>
    private readonly ILogger? _log;

    /// <summary>Every roll of the dice; a simulation's own, or the thread-safe shared one in real time.</summary>
    private readonly Random _random;

    /// <summary>The simulation this network runs in, if any: everything it does is checked to be on its thread.</summary>
    private readonly Simulation? _sim;

    /// <summary>The conditions of calls into each server that has its own; the others get <see cref="_conditions"/>.</summary>
    private readonly Dictionary<int, NetworkConditions> _conditionsOf = [];

    /// <summary>Each server's side of the partition (absent: 0); calls pass only within a side.</summary>
    private readonly Dictionary<int, int> _side = [];

    /// <summary>Links cut one way: no call from the first server reaches the second.</summary>
    private readonly HashSet<(int From, int To)> _cut = [];

    /// <summary>Servers whose calls are delivered but whose replies are all lost.</summary>
    private readonly HashSet<int> _dropReplies = [];

    /// <summary>The messages on their way, by id, so that <see cref="Drop"/> finds them.</summary>
    private readonly Dictionary<long, Message> _inFlight = [];

    /// <summary>Gates waiting for a message to hold (<see cref="Hold"/>).</summary>
    private readonly List<MessageGate> _gates = [];

    /// <summary>The conditions of servers without their own.</summary>
    private NetworkConditions _conditions = NetworkConditions.FromEnvironment();

    /// <summary>The id of the last message sent.</summary>
    private long _lastId;

    /// <summary>
    /// A network on <paramref name="clock"/>. In a simulation, pass its clock and a random of its
    /// own (<see cref="Simulation.NewRandom"/>); in real time, the system clock and no random (the
    /// shared one is used, which is thread-safe).
    /// </summary>
    public Network(TimeProvider clock, ILogger? log = null, Random? random = null)
    {
        _clock = clock;
        _log = log;
        _random = random ?? Random.Shared;
        _sim = (clock as VirtualClock)?.Simulation;
    }

    /// <summary>A network for the current simulation: its clock, and a random of its own.</summary>
    public static Network For(Simulation sim, ILogger? log = null) => new(sim.Clock, log, sim.NewRandom());

    /// <summary>Told each step of every call from now on; null (the default) tells nobody. It runs on the thread of the step and must be quick.</summary>
    public Action<MessageEvent>? Observer { get; set; }

    /// <summary>Told each step of every call, as <see cref="Observer"/> is, whatever a test sets there (see <see cref="Lab.Recorder"/>).</summary>
    public Recorder? Recorder { get; set; }

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
    /// The hook for server <paramref name="serverId"/>'s proxy: it takes the peer's id, the method
    /// ("ConsensusModule.RequestVote"), the arguments, a function that delivers them to the peer
    /// and returns its reply, and a token cancelled when the connection closes; it returns the
    /// reply, or null when the call or its reply was lost.
    /// </summary>
    public Func<int, string, object, Func<object, Task<object>>, CancellationToken, Task<object?>> HookFor(int serverId) =>
        (peerId, method, args, deliver, closed) => CallAsync(serverId, peerId, method, args, deliver, closed);

    /// <summary>The conditions of every server from now on, replacing any server's own.</summary>
    public void SetConditions(NetworkConditions conditions)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        lock (_mu)
        {
            _conditions = conditions;
            _conditionsOf.Clear();
        }
    }

    /// <summary>The conditions of calls into server <paramref name="serverId"/> from now on.</summary>
    public void SetConditions(int serverId, NetworkConditions conditions)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        lock (_mu)
        {
            _conditionsOf[serverId] = conditions;
        }
    }

    /// <summary>What calls into server <paramref name="serverId"/> suffer now.</summary>
    public NetworkConditions ConditionsOf(int serverId)
    {
        lock (_mu)
        {
            return _conditionsOf.GetValueOrDefault(serverId, _conditions);
        }
    }

    /// <summary>Beyond upstream: server <paramref name="serverId"/>'s calls reach its peers, but their replies never reach it.</summary>
    public void DropReplies(int serverId, bool drop = true)
    {
        lock (_mu)
        {
            _ = drop ? _dropReplies.Add(serverId) : _dropReplies.Remove(serverId);
        }
    }

    /// <summary>Cuts the link from <paramref name="from"/> to <paramref name="to"/>, that way only; in-flight calls on it are lost when they arrive.</summary>
    public void Cut(int from, int to)
    {
        lock (_mu)
        {
            _cut.Add((from, to));
        }
        Recorder?.Links(Linked);
    }

    /// <summary>Splits the servers into sides: each group given is a side, and every server not named is on a side of its own with the others not named.</summary>
    public void Partition(params IReadOnlyList<int>[] sides)
    {
        lock (_mu)
        {
            _side.Clear();
            for (int s = 0; s < sides.Length; s++)
            {
                foreach (int id in sides[s])
                {
                    _side[id] = s + 1;
                }
            }
        }
        Recorder?.Links(Linked);
    }

    /// <summary>Ends every partition and mends every cut link.</summary>
    public void Heal()
    {
        lock (_mu)
        {
            _side.Clear();
            _cut.Clear();
        }
        Recorder?.Links(Linked);
    }

    /// <summary>
    /// Drops message <paramref name="id"/>: not delivered yet, it is <see cref="MessageEventKind.Lost"/>,
    /// otherwise its reply is (<see cref="MessageEventKind.ReplyLost"/>), "dropped in flight". A
    /// held message is lost at once, not at the end of its delay. False if no such message is on
    /// its way.
    /// </summary>
    public bool Drop(long id)
    {
        Message? m;
        lock (_mu)
        {
            _inFlight.TryGetValue(id, out m);
        }
        if (m is null || m.Dropped.IsCancellationRequested)
        {
            return false;
        }
        m.Dropped.Cancel();
        return true;
    }

    /// <summary>
    /// Holds the next message that <paramref name="match"/> accepts, just before it is delivered
    /// (or, with <paramref name="reply"/>, its reply just before the sender gets it), until the
    /// gate is released: for tests that put a message or a reply at a moment of their choosing.
    /// </summary>
    public MessageGate Hold(Func<MessageEvent, bool> match, bool reply = false)
    {
        var gate = new MessageGate(match, reply);
        lock (_mu)
        {
            _gates.Add(gate);
        }
        return gate;
    }

    /// <summary>One call's whole journey, from <paramref name="from"/> to <paramref name="to"/> and back.</summary>
    private async Task<object?> CallAsync(int from, int to, string serviceMethod, object args, Func<object, Task<object>> deliver, CancellationToken closed)
    {
        _sim?.CheckThread("the simulated network");
        var m = new Message(Interlocked.Increment(ref _lastId), from, to, serviceMethod[(serviceMethod.LastIndexOf('.') + 1)..], args, _clock.GetTimestamp());
        lock (_mu)
        {
            _inFlight.Add(m.Id, m);
        }
        try
        {
            Report(m, MessageEventKind.Sent);
            if (!Linked(from, to))
            {
                return End(m, MessageEventKind.Lost, "the link is cut");
            }

            // One roll decides, as upstream's one dice roll does: with Unreliable, 10% are lost,
            // another 10% held for 75 ms, and the rest pass at once.
            NetworkConditions net = ConditionsOf(to);
            double dice = _random.NextDouble();
            TimeSpan delay, replyDelay = TimeSpan.Zero;
            bool held = false;
            if (dice < net.RequestLoss)
            {
                Log(to, $"drop {m.Method}");
                return End(m, MessageEventKind.Lost, "lost by the network");
            }
            else if (dice < net.RequestLoss + net.LongDelayChance && net.LongDelayOnReply)
            {
                delay = Between(net.MinDelay, net.MaxDelay);
                replyDelay = Between(net.LongDelayMin, net.LongDelayMax);
            }
            else if (dice < net.RequestLoss + net.LongDelayChance)
            {
                Log(to, $"delay {m.Method}");
                delay = Between(net.LongDelayMin, net.LongDelayMax);
                held = true;
            }
            else
            {
                delay = Between(net.MinDelay, net.MaxDelay);
            }
            Report(m, held ? MessageEventKind.Held : MessageEventKind.Delayed, delay: delay);
            if (await WaitAsync(m, delay, closed) is { } why)
            {
                return End(m, MessageEventKind.Lost, why);
            }
            if (!Linked(from, to))
            {
                return End(m, MessageEventKind.Lost, "the link was cut on its way");
            }
            if (await GateAsync(m, reply: false, closed) is { } gated)
            {
                return End(m, MessageEventKind.Lost, gated);
            }

            Log(to, $"net: #{m.Id} {m.Method} from {from} arrives after {Elapsed(m)} ms{(held ? " (held)" : "")}");
            Report(m, MessageEventKind.Delivered);
            try
            {
                m.Reply = await deliver(args);
            }
            catch (Exception e)
            {
                // The peer's endpoint is closed, or its handler failed (a bug, which its server records).
                LogFailure(m, e.Message);
                return End(m, MessageEventKind.Lost, e.Message);
            }
            Report(m, MessageEventKind.Replied);

            bool dropReply;
            lock (_mu)
            {
                dropReply = _dropReplies.Contains(from);
            }
            if (net.ReplyLoss > 0 && _random.NextDouble() < net.ReplyLoss)
            {
                Log(to, $"drop reply to {m.Method}");
                return EndReplyLost(m, "lost by the network");
            }
            if (dropReply)
            {
                return EndReplyLost(m, "its sender drops replies");
            }
            if (replyDelay > TimeSpan.Zero)
            {
                Log(to, $"delay reply to {m.Method}");
                Report(m, MessageEventKind.ReplyHeld, delay: replyDelay);
            }
            else if (net.ReplyMaxDelay > TimeSpan.Zero)
            {
                // A reply that travels as its request did (the playground's network), drawn only then so other runs keep their randoms.
                replyDelay = Between(net.ReplyMinDelay, net.ReplyMaxDelay);
                Report(m, MessageEventKind.ReplyDelayed, delay: replyDelay);
            }
            if (await WaitAsync(m, replyDelay, closed) is { } lost)
            {
                return EndReplyLost(m, lost);
            }
            if (!Linked(to, from))
            {
                return EndReplyLost(m, "the link was cut on its way back");
            }
            if (await GateAsync(m, reply: true, closed) is { } gatedReply)
            {
                return EndReplyLost(m, gatedReply);
            }
            Log(from, $"net: #{m.Id} {m.Method} reply from {to} after {Elapsed(m)} ms");
            End(m, MessageEventKind.ReplyDelivered, null);
            return m.Reply;
        }
        finally
        {
            lock (_mu)
            {
                _inFlight.Remove(m.Id);
            }
        }
    }

    /// <summary>Whether a call from <paramref name="from"/> reaches <paramref name="to"/> now: not cut that way, and on the same side of any partition.</summary>
    public bool Linked(int from, int to)
    {
        lock (_mu)
        {
            return _side.GetValueOrDefault(from) == _side.GetValueOrDefault(to) && !_cut.Contains((from, to));
        }
    }

    /// <summary>
    /// Waits <paramref name="delay"/> on the network's clock; null when done, or why the message is
    /// lost: dropped meanwhile, or its connection closed.
    /// </summary>
    private async Task<string?> WaitAsync(Message m, TimeSpan delay, CancellationToken closed)
    {
        if (delay > TimeSpan.Zero)
        {
            using var either = CancellationTokenSource.CreateLinkedTokenSource(closed, m.Dropped.Token);
            Task wait = _clock == TimeProvider.System
                ? PreciseDelay.DelayAsync(delay, either.Token)
                : ExactDelay.DelayAsync(_clock, delay, either.Token);
            // Never goes on inside whoever cancelled (a tool's thread dropping the message, say).
            await wait.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext | ConfigureAwaitOptions.ForceYielding);
        }
        return m.Dropped.IsCancellationRequested ? "dropped in flight"
            : closed.IsCancellationRequested ? "its connection closed"
            : null;
    }

    /// <summary>Holds <paramref name="m"/> at a gate that wants it, if any, until released; null, or why it was lost meanwhile.</summary>
    private async Task<string?> GateAsync(Message m, bool reply, CancellationToken closed)
    {
        MessageGate? gate;
        lock (_mu)
        {
            gate = _gates.Find(g => g.Reply == reply && g.Match(m.Event(reply ? MessageEventKind.Replied : MessageEventKind.Delayed)));
            if (gate is not null)
            {
                _gates.Remove(gate);
            }
        }
        if (gate is null)
        {
            return null;
        }
        using var either = CancellationTokenSource.CreateLinkedTokenSource(closed, m.Dropped.Token);
        await gate.HoldAsync(m.Event(reply ? MessageEventKind.Replied : MessageEventKind.Delayed), either.Token);
        return await WaitAsync(m, TimeSpan.Zero, closed);
    }

    /// <summary>Tells the observer of a step that is not an end.</summary>
    private void Report(Message m, MessageEventKind kind, TimeSpan delay = default) => Tell(m.Event(kind) with { Delay = delay });

    /// <summary>Tells the observer and the recorder, if any, of one step.</summary>
    private void Tell(MessageEvent e)
    {
        Observer?.Invoke(e);
        Recorder?.Message(e);
    }

    /// <summary>Tells the observer of the message's end; returns null, the hook's "lost".</summary>
    private object? End(Message m, MessageEventKind kind, string? reason)
    {
        if (kind == MessageEventKind.Lost && reason is not null)
        {
            LogFailure(m, reason);
        }
        Tell(m.Event(kind) with { Reason = reason });
        return null;
    }

    /// <summary>The reply is lost after the receiver acted: the sender's call fails.</summary>
    private object? EndReplyLost(Message m, string reason)
    {
        LogFailure(m, reason);
        return End(m, MessageEventKind.ReplyLost, reason);
    }

    /// <summary>The sender's line for a call that failed: "net: #9 RequestVote to 2 failed after 0.190 ms: why".</summary>
    private void LogFailure(Message m, string why) =>
        Log(m.From, $"net: #{m.Id} {m.Method} to {m.To} failed after {Elapsed(m)} ms: {why}");

    /// <summary>Writes a line as server <paramref name="serverId"/>'s, in the shape of its CM's own (so a page reads both alike).</summary>
    private void Log(int serverId, string message)
    {
        if (_log is not null && _log.IsEnabled(LogLevel.Debug))
        {
            _log.LogDebug("[{Id}] {Message}", serverId, message);
        }
    }

    /// <summary>Milliseconds since <paramref name="m"/> was sent, to the microsecond, rounded down.</summary>
    private string Elapsed(Message m) =>
        (Math.Floor(_clock.GetElapsedTime(m.SentAt).TotalMicroseconds) / 1000).ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>
    /// A random duration in [min, max], to the microsecond. Upstream draws whole milliseconds, but
    /// on a simulated clock those make many deliveries fall on the same instant, where only the
    /// order of the queue tells them apart; real delays never tie.
    /// </summary>
    private TimeSpan Between(TimeSpan min, TimeSpan max) =>
        TimeSpan.FromMicroseconds(_random.NextInt64((long)min.TotalMicroseconds, (long)max.TotalMicroseconds + 1));

    /// <summary>One call on its way.</summary>
    private sealed class Message(long id, int from, int to, string method, object args, long sentAt)
    {
        public long Id { get; } = id;

        public int From { get; } = from;

        public int To { get; } = to;

        public string Method { get; } = method;

        public long SentAt { get; } = sentAt;

        /// <summary>Cancelled by <see cref="Network.Drop"/>. Never disposed: it has no timer, and a late Drop may still cancel it.</summary>
        public CancellationTokenSource Dropped { get; } = new();

        /// <summary>The receiver's answer, once there is one.</summary>
        public object? Reply { get; set; }

        public MessageEvent Event(MessageEventKind kind) => new(Id, kind, From, To, Method, args) { Reply = Reply };
    }
}

/// <summary>
/// The steps of a message's journey, in the order they happen. Each message starts with
/// <see cref="Sent"/> and ends with exactly one of <see cref="Lost"/>, <see cref="ReplyDelivered"/>
/// and <see cref="ReplyLost"/>.
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

    /// <summary>It reached the receiver's server, whose handler runs now.</summary>
    Delivered,

    /// <summary>The receiver answered <see cref="MessageEvent.Reply"/>, which heads back.</summary>
    Replied,

    /// <summary>The network holds the reply for a long <see cref="MessageEvent.Delay"/> (<see cref="NetworkConditions.LongDelayOnReply"/>).</summary>
    ReplyHeld,

    /// <summary>The reply travels back for <see cref="MessageEvent.Delay"/>, its ordinary delay (<see cref="NetworkConditions.ReplyMaxDelay"/>).</summary>
    ReplyDelayed,

    /// <summary>An end: the sender has the <see cref="MessageEvent.Reply"/>.</summary>
    ReplyDelivered,

    /// <summary>An end: the receiver acted on the message, but its sender never learns how (<see cref="MessageEvent.Reason"/> says why).</summary>
    ReplyLost,
}

/// <summary>One step of a message's journey.</summary>
/// <param name="Id">The message's id, unique within its <see cref="Network"/>: every step of one message carries it, and so do its "net: #N" log lines.</param>
/// <param name="Kind">Which step.</param>
/// <param name="From">The sender's server id.</param>
/// <param name="To">The receiver's server id.</param>
/// <param name="Method">"RequestVote" or "AppendEntries".</param>
/// <param name="Args">The message itself, as the part defines it (a RequestVoteArgs, say).</param>
public sealed record MessageEvent(long Id, MessageEventKind Kind, int From, int To, string Method, object Args)
{
    /// <summary>The reply, once the receiver has given one.</summary>
    public object? Reply { get; init; }

    /// <summary>How long the network holds the message (Delayed, Held) or its reply (ReplyHeld).</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Why it was lost (Lost, ReplyLost): "lost by the network", "dropped in flight", a closed connection...</summary>
    public string? Reason { get; init; }
}

/// <summary>A hold on one message (see <see cref="Network.Hold"/>).</summary>
public sealed class MessageGate
{
    private readonly TaskCompletionSource<MessageEvent> _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal MessageGate(Func<MessageEvent, bool> match, bool reply)
    {
        Match = match;
        Reply = reply;
    }

    /// <summary>Completes with the message once one is held.</summary>
    public Task<MessageEvent> Held => _held.Task;

    /// <summary>Which message to hold.</summary>
    internal Func<MessageEvent, bool> Match { get; }

    /// <summary>Whether the reply is held, rather than the call.</summary>
    internal bool Reply { get; }

    /// <summary>Lets the held message go on (or, if none is held yet, the first one to come).</summary>
    public void Release() => _released.TrySetResult();

    /// <summary>Holds here until released, or until <paramref name="lost"/> is cancelled.</summary>
    internal async Task HoldAsync(MessageEvent m, CancellationToken lost)
    {
        _held.TrySetResult(m);
        using (lost.Register(static r => ((TaskCompletionSource)r!).TrySetResult(), _released))
        {
            await _released.Task;
        }
    }
}
