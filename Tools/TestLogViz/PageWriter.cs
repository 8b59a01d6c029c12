// Renders one test's log as a self-contained HTML page: a ribbon of each server's states across
// the top, then upstream's table (a time column, a TEST column, one column per server, every cell
// coloured by its server's state) with the RPCs between servers drawn over it as arrows, a filter
// box and per-server views. No network fetches.
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace TestLogViz;

/// <summary>Builds the HTML page for a test, and picks the pages' file names.</summary>
public static class PageWriter
{
    /// <summary>
    /// One page name per test, in order: the test's name, made safe for a file name, with -2, -3...
    /// added when a name repeats (a log may hold several runs of one test).
    /// </summary>
    public static IReadOnlyList<string> PageNames(IReadOnlyList<ParsedLog> tests)
    {
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var names = new List<string>(tests.Count);
        foreach (var test in tests)
        {
            string name = SafeFileName(test.Name);
            int count = seen.GetValueOrDefault(name) + 1;
            seen[name] = count;
            names.Add(count == 1 ? name : $"{name}-{count.ToString(CultureInfo.InvariantCulture)}");
        }
        return names;
    }

    /// <summary>The whole page for one test; <paramref name="pageName"/> heads it.</summary>
    public static string Render(ParsedLog log, string pageName)
    {
        var servers = log.ServerIds;
        var states = new ServerStates(log);
        var messages = new MessagePairs(log);
        bool haveTest = log.HasTestLines;
        string? noPlayer = NoPlayerReason(log);
        var html = new StringBuilder(1024 + (log.Lines.Count * (64 + (servers.Count * 24))));

        html.Append("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(E($"{pageName} -- {log.Status}")).Append("</title>\n")
            .Append("<style>").Append(StateStyle.Css).Append(Css).Append(TableCss(servers.Count, haveTest)).Append(noPlayer is null ? PlayerCss : "").Append("</style>\n")
            .Append("</head>\n<body>\n");

        WriteHeader(html, log, pageName, servers.Count);
        WritePlayer(html, noPlayer);
        WriteRibbons(html, log, servers, states, haveTest);
        WriteMessageLegend(html, messages);
        html.Append("<div id=\"toolbar\">")
            .Append("<input id=\"filter\" type=\"search\" placeholder=\"Filter rows: becomes, term=3, Disconnect...\" aria-label=\"Filter rows\">")
            .Append("<span id=\"count\" aria-live=\"polite\"></span>")
            .Append("<label><input id=\"show-messages\" type=\"checkbox\" checked> Messages</label>")
            .Append("<label><input id=\"show-heartbeats\" type=\"checkbox\" checked> Heartbeats</label>")
            .Append("<span class=\"hint\">Click a server's column header to see only its rows and messages (and TEST's); click again for all.</span>")
            .Append("</div>\n");
        html.Append("<div id=\"logwrap\">\n");
        WriteTable(html, log, servers, states, haveTest);
        html.Append("<svg id=\"arrows\" aria-hidden=\"true\"></svg>\n</div>\n<div id=\"tip\" role=\"tooltip\" hidden></div>\n");
        html.Append("<script>\nconst MESSAGES = ").Append(MessagesJson(messages, servers)).Append(";\n")
            .Append(Script).Append("</script>\n");
        if (noPlayer is null)
        {
            // "<" is written escaped, so no text of the run can end the script element early.
            html.Append("<script id=\"recording\" type=\"application/json\">").Append(log.Recording!.Replace("<", "\\u003c", StringComparison.Ordinal)).Append("</script>\n")
                .Append("<script>").Append(ClusterViewScript).Append(PlayerScript).Append("</script>\n");
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>
    /// What the arrows mean, drawn as they are drawn, and how they were found. Shown only when the
    /// log has messages to draw.
    /// </summary>
    private static void WriteMessageLegend(StringBuilder html, MessagePairs messages)
    {
        if (messages.All.Count == 0)
        {
            return;
        }
        static string Sample(string cls, string extra, string label) =>
            $"<span class=\"item\"><svg class=\"sample\" viewBox=\"0 0 34 10\" aria-hidden=\"true\"><g class=\"m {cls}\"><path class=\"line\" d=\"M1 5 H27\"/>{extra}</g></svg>{label}</span> ";
        const string Head = "<path class=\"head\" d=\"M33 5 L26 1.5 L26 8.5 Z\"/>";
        const string Cross = "<path class=\"cross\" d=\"M24 1 L32 9 M32 1 L24 9\"/>";
        html.Append("<p class=\"legend arrows\"><b>Messages</b> (an arrow from the row where a server sent it to the row where it arrived; hover one for its fields): ")
            .Append(Sample("rv", Head, "RequestVote"))
            .Append(Sample("ae", Head, "AppendEntries with entries"))
            .Append(Sample("ae hb", Head, "heartbeat (no entries)"))
            .Append(Sample("rv reply", Head, "reply (dashed)"))
            .Append(Sample("ae reply no", Head, "vote refused or entries rejected"))
            .Append(Sample("ae held", Head, "held by the network, overtaken by later calls"))
            .Append(Sample("ae lost", Cross, "lost"));
        html.Append(messages.FromNetworkLines
            ? "<br><span class=\"how\">Paired by the simulated network's numbered lines (net: #N), so each arrow is the call it shows.</span>"
            : "<br><span class=\"how\">This log has no network lines (a Go log, or an older C# one), so calls are paired by their text: where two identical calls between the same servers crossed, the pairing is a guess.</span>");
        html.Append("</p>\n");
    }

    /// <summary>
    /// The messages for the page's script, one array each:
    /// [kind (0 RequestVote, 1 AppendEntries), sender's column, receiver's column, row sent,
    /// row arrived, row replied, row the reply arrived, row lost, flags, network number, ms on the
    /// way, arguments, reply, note]; a row is -1 when the log has none. Flags: 1 heartbeat, 2 held,
    /// 4 refused or rejected, 8 request lost, 16 reply lost, 32 lost at the receiver's end.
    /// </summary>
    private static string MessagesJson(MessagePairs messages, IReadOnlyList<string> servers)
    {
        var column = servers.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        var rows = new List<object?[]>(messages.All.Count);
        foreach (var m in messages.All)
        {
            if (!column.TryGetValue(m.From, out int from) || !column.TryGetValue(m.To, out int to))
            {
                continue;
            }
            int flags = (m.Heartbeat ? 1 : 0) | (m.Held ? 2 : 0) | (m.Ok == false ? 4 : 0) | (m.RequestLost ? 8 : 0) | (m.ReplyLost ? 16 : 0) | (m.LostAtReceiver ? 32 : 0);
            rows.Add([
                m.Kind == RpcKind.RequestVote ? 0 : 1, from, to, m.SendRow, m.ArriveRow, m.ReplyRow, m.BackRow, m.LostRow,
                flags, m.NetId, m.TravelMs, Fields(m.Args), m.Reply is null ? null : Fields(m.Reply), m.Note,
            ]);
        }
        return JsonSerializer.Serialize(rows);
    }

    /// <summary>
    /// A message's fields as the tooltip shows them: "Term = 1, CandidateId = 2" without the
    /// record's name and braces (Go's "{Term:1 CandidateId:2}" without its braces), cut short
    /// when a long run of entries would fill the screen.
    /// </summary>
    private static string Fields(string text)
    {
        string inner = text.Trim();
        int open = inner.IndexOf('{', StringComparison.Ordinal);
        if (open >= 0 && inner.EndsWith('}') && inner[..open].All(c => char.IsLetterOrDigit(c) || c == ' '))
        {
            inner = inner[(open + 1)..^1].Trim();
        }
        return inner.Length <= 600 ? inner : string.Concat(inner.AsSpan(0, 600), " ...");
    }

    /// <summary>
    /// The player, when the log carries a playable recording (<paramref name="noPlayer"/> null);
    /// otherwise one line saying why this page has none.
    /// </summary>
    private static void WritePlayer(StringBuilder html, string? noPlayer)
    {
        if (noPlayer is not null)
        {
            html.Append("<p id=\"no-player\">No player for this run: ").Append(E(noPlayer)).Append(".</p>\n");
            return;
        }
        html.Append("""
            <section id="player" aria-label="The run, replayed">
            <div class="player-bar">
              <button type="button" id="player-prev" title="Back to the event before (←)">◀ event</button>
              <button type="button" id="player-play" title="Play the run in cluster time, at the speed chosen (space)">Play</button>
              <button type="button" id="player-next" title="On to the next event (→)">event ▶</button>
              <label title="How fast the run plays: 1/20× shows a 50 ms heartbeat in a second">speed
                <select id="player-speed"><option value="0.005">1/200×</option><option value="0.02">1/50×</option><option value="0.05" selected>1/20×</option>
                <option value="0.2">1/5×</option><option value="1">1×</option></select></label>
              <input id="player-slider" type="range" min="0" value="0" aria-label="Cluster time: drag to any moment of the run">
              <span id="player-time"></span> <span id="player-event" class="sub"></span>
            </div>
            <p id="player-alarm" role="alert" hidden></p>
            <p id="player-step" title="The test's latest step at this moment"></p>
            <div class="player-views">
              <svg id="player-ring" viewBox="0 0 360 345" role="img" aria-label="Servers on a ring, messages in flight between them, each follower's election timer"></svg>
              <div id="player-details"><h2 id="player-details-title">Details</h2><dl id="player-fields"></dl></div>
            </div>
            <p class="legend cv-legend">fill: the server's term · <b>thick ring</b>: leader · dashed ring: candidate · a ringed red server: one a safety violation involves ·
            <span class="line up"></span>link up <span class="line cut"></span>cut by the network <span class="line down"></span>down (a server disconnected or crashed) · <b>outer arc</b>: a follower's election timer, full when it stands ·
            messages: <span class="dot rv"></span>RequestVote <span class="dot ae"></span>AppendEntries <span class="dot hb"></span>heartbeat, a reply
            <span class="dot ok"></span>granted/success <span class="dot no"></span>refused/failure, <b class="lostkey">✕</b> lost. Click one for its fields.</p>
            <div id="player-logs" aria-label="Every server's log at this moment"></div>
            <p class="legend"><span id="player-logs-key">Logs: one cell per entry, coloured and numbered by its term; ▼ nextIndex and ● matchIndex <span id="player-progress-of"></span>.</span>
            Click a row of the table below to move here; the row at this moment is marked.</p>
            </section>

            """);
    }

    /// <summary>Why a page gets no player (no recording, or one that cannot be played), or null when it gets one.</summary>
    public static string? NoPlayerReason(ParsedLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (log.Recording is not null)
        {
            return log.RecordingProblem is { } problem ? $"its recording cannot be played: {problem}" : null;
        }
        LogLine? first = log.Lines.FirstOrDefault(l => l.Id == ParsedLog.TestId);
        if (first?.Message.StartsWith("real time", StringComparison.Ordinal) == true)
        {
            return "it ran in real time (RAFT_REAL_TIME, or a test about the wire), and only a simulated run is recorded";
        }
        if (first?.Message.StartsWith("seed ", StringComparison.Ordinal) == true)
        {
            return "it was not recorded; ./dotest.sh PART TEST --seed N records the run of seed N and makes its page";
        }
        return "its log has no recording (a Go log, or a run not made by TestLogViz); the table and arrows below show it";
    }

    /// <summary>The title, the outcome, a line of counts and, for a failed test, why it failed.</summary>
    private static void WriteHeader(StringBuilder html, ParsedLog log, string pageName, int serverCount)
    {
        string statusClass = log.Status is "PASS" or "FAIL" ? log.Status : "OTHER";
        html.Append("<header>\n<h1>").Append(E(pageName))
            .Append(" <span class=\"status ").Append(statusClass).Append("\">").Append(E(log.Status)).Append("</span></h1>\n")
            .Append(CultureInfo.InvariantCulture, $"<p class=\"meta\">{serverCount} server{(serverCount == 1 ? "" : "s")} · {log.Lines.Count} log lines");
        if (log.Duration is not null)
        {
            html.Append(" · ran ").Append(E(log.Duration));
        }
        // A simulated run names its seed first thing: with it, the page says how to see this very run again.
        if (log.Lines.FirstOrDefault(l => l.Id == ParsedLog.TestId && l.Message.StartsWith("seed ", StringComparison.Ordinal)) is { } seed)
        {
            html.Append(" · ").Append(E(seed.Message));
        }
        html.Append("</p>\n");
        if (log.Failure.Count > 0)
        {
            html.Append("<pre class=\"failure\">").Append(E(string.Join('\n', log.Failure).Trim())).Append("</pre>\n");
        }
        html.Append("</header>\n");
    }

    /// <summary>
    /// One ribbon per server: where along the log it was a candidate, leader or dead (white is
    /// follower). Positions are by row, not by clock, so a ribbon lines up with the table's order.
    /// The TEST ribbon marks the test's own lines. A click on a mark scrolls the table to its row.
    /// </summary>
    private static void WriteRibbons(StringBuilder html, ParsedLog log, IReadOnlyList<string> servers, ServerStates states, bool haveTest)
    {
        int rows = log.Lines.Count;
        if (rows == 0)
        {
            return;
        }
        html.Append("<section id=\"ribbons\" aria-label=\"Server states along the log\">\n");
        if (haveTest)
        {
            html.Append("<div class=\"lane\"><span class=\"name\">TEST</span><div class=\"ribbon\">");
            WriteTestMarks(html, log);
            html.Append("</div></div>\n");
        }
        foreach (string server in servers)
        {
            html.Append("<div class=\"lane\"><span class=\"name\">").Append(E(server)).Append("</span><div class=\"ribbon\">");
            foreach (var span in states.Spans[server].Where(s => s.State != ServerState.Follower))
            {
                string term = span.Term is int t ? $" (term {t.ToString(CultureInfo.InvariantCulture)})" : "";
                string from = log.Lines[span.FirstRow].Time, to = log.Lines[span.LastRow].Time;
                int length = span.LastRow - span.FirstRow + 1;
                html.Append(CultureInfo.InvariantCulture, $"<span class=\"seg {span.State}\" data-row=\"{span.FirstRow}\" style=\"left:{Percent(span.FirstRow, rows)}%;width:{Percent(length, rows)}%\" title=\"")
                    .Append(E($"Server {server}: {span.State}{term}, {from} to {to}. Click to see it in the table."))
                    .Append("\">").Append(E(Label(span, (double)length / rows))).Append("</span>");
            }
            html.Append("</div></div>\n");
        }
        html.Append("<div class=\"lane axis\"><span class=\"name\"></span><div><span>").Append(E(log.Lines[0].Time))
            .Append("</span><span>log order →</span><span>").Append(E(log.Lines[^1].Time)).Append("</span></div></div>\n")
            .Append("<div class=\"legend\">")
            .Append("<span class=\"key Follower\"></span>Follower <span class=\"key Candidate\"></span>Candidate ")
            .Append("<span class=\"key Leader\"></span>Leader <span class=\"key Dead\"></span>Dead ")
            .Append("<span class=\"key mark\"></span>a line of the test's own · L5: leader in term 5</div>\n")
            .Append("</section>\n");
    }

    /// <summary>
    /// A ribbon segment's text, as much as its width allows: "Leader, term 5", or "L5" when narrow
    /// (the tooltip always has it all).
    /// </summary>
    private static string Label(StateSpan span, double share) => Label(span.State, span.Term, share);

    /// <summary>
    /// The same for a state of <paramref name="term"/> that takes <paramref name="share"/> of its
    /// ribbon's width; public so that RaftPlayground's live ribbons read like these.
    /// </summary>
    public static string Label(ServerState state, int? term, double share) => (share, term) switch
    {
        ( >= 0.09, int t) => $"{state}, term {t.ToString(CultureInfo.InvariantCulture)}",
        ( >= 0.09, null) => state.ToString(),
        ( >= 0.015, int t) => $"{state.ToString()[0]}{t.ToString(CultureInfo.InvariantCulture)}",
        ( >= 0.015, null) => state.ToString()[..1],
        _ => "",
    };

    /// <summary>
    /// A thin mark per TEST line. Lines that would fall on the same spot (a busy client can log
    /// thousands) share one mark, which says how many it stands for.
    /// </summary>
    private static void WriteTestMarks(StringBuilder html, ParsedLog log)
    {
        const int Slots = 1000;
        int rows = log.Lines.Count;
        var marks = Enumerable.Range(0, rows)
            .Where(row => log.Lines[row].Id == ParsedLog.TestId)
            .GroupBy(row => (long)row * Slots / rows);
        foreach (var mark in marks)
        {
            int row = mark.First();
            int more = mark.Count() - 1;
            var entry = log.Lines[row];
            string tooltip = more > 0 ? $"{entry.Time} {entry.Message} (and {more.ToString(CultureInfo.InvariantCulture)} more)" : $"{entry.Time} {entry.Message}";
            html.Append(CultureInfo.InvariantCulture, $"<span class=\"mark\" data-row=\"{row}\" style=\"left:{Percent(row, rows)}%\" title=\"")
                .Append(E(tooltip)).Append("\"></span>");
        }
    }

    /// <summary>Upstream's table: every row has a cell per server, coloured by its state then.</summary>
    private static void WriteTable(StringBuilder html, ParsedLog log, IReadOnlyList<string> servers, ServerStates states, bool haveTest)
    {
        var column = servers.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);

        html.Append("<table id=\"log\">\n<thead><tr><th>Time</th>");
        if (haveTest)
        {
            html.Append("<th>TEST</th>");
        }
        for (int i = 0; i < servers.Count; i++)
        {
            html.Append(CultureInfo.InvariantCulture, $"<th class=\"server\" data-col=\"{i}\"><button type=\"button\" title=\"")
                .Append(E($"Show only server {servers[i]}'s rows (and TEST's); click again to show all"))
                .Append("\">").Append(E(servers[i])).Append("</button></th>");
        }
        html.Append("</tr></thead>\n<tbody>\n");

        for (int row = 0; row < log.Lines.Count; row++)
        {
            var entry = log.Lines[row];
            var now = states.States[row];
            bool isTest = entry.Id == ParsedLog.TestId;
            int own = isTest ? -1 : column[entry.Id];

            html.Append("<tr data-s=\"").Append(isTest ? "T" : own.ToString(CultureInfo.InvariantCulture))
                .Append("\"><td>").Append(E(entry.Time)).Append("</td>");
            if (haveTest)
            {
                html.Append("<td class=\"testcell\">");
                if (isTest)
                {
                    html.Append(E(entry.Message));
                }
                html.Append("</td>");
            }
            for (int i = 0; i < servers.Count; i++)
            {
                html.Append("<td class=\"").Append(now[i].ToString());
                if (i == own)
                {
                    html.Append(states.IsChange[row] ? " change\">" : "\">").Append(E(entry.Message));
                }
                else
                {
                    html.Append("\">");
                }
                html.Append("</td>");
            }
            html.Append("</tr>\n");
        }
        html.Append("</tbody>\n</table>\n");
    }

    /// <summary>A log line is data, never markup: escape everything taken from the input.</summary>
    private static string E(string text) => WebUtility.HtmlEncode(text);

    /// <summary>part/whole as a CSS percentage with a few decimals.</summary>
    private static string Percent(int part, int whole) =>
        (100.0 * part / whole).ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Letters, digits, '_', '-' and '.' stay; anything else (a subtest's '/') becomes '_'.</summary>
    private static string SafeFileName(string name)
    {
        var safe = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' ? c : '_')]);
        return safe.Trim('.') is { Length: > 0 } trimmed ? trimmed : "test";
    }

    /// <summary>
    /// The rules that depend on the columns. Every row is laid out as a grid of the same columns,
    /// so the browser can skip rows that are off screen (content-visibility), which a table's
    /// layout cannot do: that keeps a 20,000-row page quick. And the server views: while the
    /// table's data-only is N, rows of other servers are hidden (TEST rows stay, they say what the
    /// test did).
    /// </summary>
    private static string TableCss(int serverCount, bool haveTest)
    {
        var css = new StringBuilder();
        css.Append(CultureInfo.InvariantCulture, $"#log tr {{ grid-template-columns: 10em{(haveTest ? " 14%" : "")} repeat({serverCount}, minmax(0, 1fr)); }}\n");
        for (int i = 0; i < serverCount; i++)
        {
            css.Append(CultureInfo.InvariantCulture, $"#log[data-only=\"{i}\"] tbody tr:not([data-s=\"{i}\"]):not([data-s=\"T\"]) {{ display: none; }}\n")
                .Append(CultureInfo.InvariantCulture, $"#log[data-only=\"{i}\"] th[data-col=\"{i}\"] button {{ background: #24292f; color: #fff; }}\n");
        }
        return css.ToString();
    }

    /// <summary>The page's look: Page/page.css, embedded in this assembly.</summary>
    private static readonly string Css = "\n" + PageFile("page.css");

    /// <summary>The page's behaviour: Page/page.js, embedded in this assembly.</summary>
    private static readonly string Script = "\n" + PageFile("page.js");

    /// <summary>The playground's drawing code, shared: Page/clusterview.js (the playground serves the same file).</summary>
    private static readonly string ClusterViewScript = "\n" + PageFile("clusterview.js");

    /// <summary>The player's look, after the drawing code's own: Page/clusterview.css, Page/player.css.</summary>
    private static readonly string PlayerCss = "\n" + PageFile("clusterview.css") + "\n" + PageFile("player.css");

    /// <summary>The player: Page/player.js.</summary>
    private static readonly string PlayerScript = "\n" + PageFile("player.js");

    /// <summary>
    /// A file of the Page folder, as the build embedded it. The page is one file a learner can
    /// open offline or mail, so its style and script go inside it; in the repository they are
    /// files of their own, to read and edit as CSS and JavaScript.
    /// </summary>
    private static string PageFile(string name)
    {
        using Stream stream = typeof(PageWriter).Assembly.GetManifestResourceStream("Page/" + name)
                              ?? throw new InvalidOperationException($"Page/{name} is not embedded in {typeof(PageWriter).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
