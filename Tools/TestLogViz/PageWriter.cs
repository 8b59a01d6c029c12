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
        var html = new StringBuilder(1024 + (log.Lines.Count * (64 + (servers.Count * 24))));

        html.Append("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(E($"{pageName} -- {log.Status}")).Append("</title>\n")
            .Append("<style>").Append(StateStyle.Css).Append(Css).Append(TableCss(servers.Count, haveTest)).Append("</style>\n")
            .Append("</head>\n<body>\n");

        WriteHeader(html, log, pageName, servers.Count);
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
            .Append(Script).Append("</script>\n</body>\n</html>\n");
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

    /// <summary>The page's look. Cell colours follow upstream's: white follower, yellow candidate, green leader, grey dead.</summary>
    private const string Css = """

        :root { --test: #2b4fa8; --bar: 2.8rem; }
        * { box-sizing: border-box; }
        body { margin: 0 1.2rem 2rem; font: 14px/1.4 system-ui, sans-serif; color: #1f2328; background: #fafafa; }
        header h1 { margin: 1rem 0 0.2rem; font-size: 1.5rem; }
        .status { font-size: 0.9rem; padding: 0.15rem 0.5rem; border-radius: 0.3rem; vertical-align: middle; color: #fff; background: #8a6d00; }
        .status.PASS { background: #1a7f37; }
        .status.FAIL { background: #cf222e; }
        .meta { margin: 0 0 0.6rem; color: #59636e; }
        .failure { margin: 0 0 0.8rem; padding: 0.6rem 0.8rem; border-left: 4px solid #cf222e; background: #ffebe9;
                   white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
        #ribbons { margin: 0 0 0.4rem; }
        .mark { position: absolute; top: 2px; bottom: 2px; width: 3px; margin-left: -1px; background: var(--test); cursor: pointer; }
        .seg:hover, .mark:hover { outline: 2px solid #1f2328; z-index: 1; }
        .axis > div { flex: 1; display: flex; justify-content: space-between; font: 11px ui-monospace, monospace; color: #59636e; }
        .legend { margin: 0.3rem 0 0 3.7rem; font-size: 12px; color: #59636e; }
        .key.mark { position: static; width: 3px; background: var(--test); border: 0; }
        #toolbar { position: sticky; top: 0; z-index: 3; height: var(--bar); display: flex; align-items: center; gap: 0.8rem;
                   background: #fafafa; border-bottom: 1px solid #d0d7de; }
        #filter { width: 22rem; padding: 0.3rem 0.5rem; font: inherit; border: 1px solid #8c959f; border-radius: 0.3rem; }
        #count { font-weight: 600; white-space: nowrap; }
        .hint { color: #59636e; font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        #log { display: block; width: 100%; background: #fff; font: 12px/1.35 ui-monospace, "Cascadia Mono", Menlo, Consolas, monospace; }
        #log thead { display: block; position: sticky; top: var(--bar); z-index: 2; }
        #log tbody { display: block; }
        #log tr { display: grid; }
        #log tbody tr { content-visibility: auto; contain-intrinsic-size: auto 1.8em; }
        #log tbody tr[hidden] { display: none; }
        #log th { display: block; background: #eaeef2; padding: 0; border: 1px solid #c8ced5; border-width: 1px 1px 1px 0; font: 600 12px system-ui, sans-serif; }
        #log th:not(.server) { padding: 0.35rem; }
        #log th:first-child, #log td:first-child { border-left-width: 1px; }
        #log th button { width: 100%; height: 100%; padding: 0.35rem; font: inherit; border: 0; background: none; cursor: pointer; }
        #log th button:hover { background: #d0d7de; }
        #log td { display: block; padding: 3px 6px; border: 0 solid #e1e4e8; border-width: 0 1px 1px 0; overflow-wrap: anywhere; }
        #log td:first-child { white-space: nowrap; overflow-wrap: normal; color: #59636e; }
        #log td.testcell { color: var(--test); background: #f3f6fd; }
        #log td.Follower { background: var(--follower); }
        #log td.Candidate { background: var(--candidate); }
        #log td.Leader { background: var(--leader); }
        #log td.Dead { background: var(--dead); }
        #log td.change { font-weight: 700; }
        #log tbody tr:hover td { border-bottom-color: #6e7781; }
        #log tr.flash td { animation: flash 1.5s; }
        @keyframes flash { from { box-shadow: inset 0 0 0 2px #0969da; } to { box-shadow: none; } }
        #toolbar label { white-space: nowrap; font-size: 13px; cursor: pointer; }
        #logwrap { position: relative; }
        #arrows { position: absolute; left: 0; top: 0; width: 100%; height: 100%; overflow: visible; pointer-events: none; z-index: 1; }
        #arrows[hidden] { display: none; }
        .m { --ink: #0969da; fill: none; stroke: var(--ink); }
        .m.rv { --ink: #8250df; }
        .m .line { stroke-width: 2; stroke-linecap: round; }
        .m .head { fill: var(--ink); stroke: none; }
        .m.hb { opacity: 0.45; }
        .m.hb .line { stroke-width: 1.2; }
        .m .reply, .m.reply .line { stroke-width: 1.4; stroke-dasharray: 5 3; }
        .m .no, .m.no .line { stroke: #cf222e; }
        .m .no.head, .m.no .head { fill: #cf222e; }
        .m.held .line.request, .m.held.line, .sample .m.held .line { stroke-dasharray: 1 4; stroke-width: 3; }
        .m .cross { stroke: #24292f; stroke-width: 2.2; stroke-linecap: round; }
        .m.lost .line { stroke-dasharray: 2 3; }
        .m .hit { stroke: transparent; stroke-width: 9; pointer-events: stroke; cursor: help; }
        .m.on { opacity: 1; }
        .m.on .line { stroke-width: 3; }
        #log td.msgcell { box-shadow: inset 0 0 0 2px #fb8f44; }
        .legend.arrows { margin: 0.2rem 0 0.5rem; line-height: 1.9; }
        .legend .item { white-space: nowrap; }
        .legend .how { color: #59636e; }
        .sample { width: 34px; height: 10px; margin: 0 0.2rem 0 0.5rem; vertical-align: -1px; overflow: visible; }
        .sample .m .line { stroke-width: 2; }
        #tip { position: fixed; z-index: 5; max-width: 34rem; padding: 0.45rem 0.6rem; border: 1px solid #8c959f; border-radius: 0.3rem;
               background: #fff; box-shadow: 0 3px 12px rgba(0,0,0,0.18); font: 12px/1.45 ui-monospace, monospace; pointer-events: none; }
        #tip b { font-family: system-ui, sans-serif; font-size: 13px; }
        #tip .k { color: #59636e; }
        #tip .bad { color: #cf222e; font-weight: 600; }

        """;

    /// <summary>
    /// The page's behaviour: the filter box, the server views, the ribbon's links and the message
    /// arrows. It touches a row only when its visibility changes, and draws only the arrows near
    /// the screen (again on every scroll), so a 20,000-row page stays quick.
    /// </summary>
    private const string Script = """

        "use strict";
        (() => {
          const table = document.getElementById("log");
          const rows = Array.from(table.tBodies[0].rows);
          const owner = rows.map(r => r.dataset.s);   // a server's column number, or "T" for TEST
          const filter = document.getElementById("filter");
          const count = document.getElementById("count");
          let texts = null;                            // each row's text in lower case, made on the first search

          // Hides rows that do not contain the filter text; the server view is CSS (see data-only).
          function applyFilter() {
            const query = filter.value.trim().toLowerCase();
            if (query && texts === null) texts = rows.map(r => r.textContent.toLowerCase());
            for (let i = 0; i < rows.length; i++) {
              const hide = query !== "" && !texts[i].includes(query);
              if (rows[i].hidden !== hide) rows[i].hidden = hide;
            }
            viewChanged();
          }

          function showCount() {
            const only = table.dataset.only;
            const shown = shownRows.length;
            const view = only === undefined ? "" : " · server " + serverName(only) + " and TEST only";
            count.textContent = (shown === rows.length ? rows.length + " rows" : shown + " of " + rows.length + " rows") + view;
          }

          function serverName(col) { return table.tHead.querySelector('th[data-col="' + col + '"]').textContent; }

          let pending = 0;
          filter.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(applyFilter, 150); });

          table.tHead.addEventListener("click", e => {
            const th = e.target.closest("th.server");
            if (!th) return;
            if (table.dataset.only === th.dataset.col) delete table.dataset.only;
            else table.dataset.only = th.dataset.col;
            viewChanged();
          });

          // A ribbon mark brings its row into view, clearing the filters if they hide it.
          document.getElementById("ribbons")?.addEventListener("click", e => {
            const mark = e.target.closest("[data-row]");
            if (!mark) return;
            const row = rows[Number(mark.dataset.row)];
            if (row.hidden || getComputedStyle(row).display === "none") {
              filter.value = "";
              delete table.dataset.only;
              applyFilter();
            }
            row.scrollIntoView({ block: "center" });
            row.classList.remove("flash");
            void row.offsetWidth;
            row.classList.add("flash");
          });

          // ---- Which rows are on the page: the filter's and the server view's choice, kept as
          // the list of shown rows and, for every row, the first shown row at or after it.
          let shownRows = [];
          let nextShown = new Int32Array(rows.length + 1);

          function findShown() {
            const only = table.dataset.only;
            nextShown[rows.length] = -1;
            for (let i = rows.length - 1; i >= 0; i--) {
              const shown = !rows[i].hidden && (only === undefined || owner[i] === only || owner[i] === "T");
              nextShown[i] = shown ? i : nextShown[i + 1];
            }
            shownRows = [];
            for (let i = 0; i < rows.length; i++) if (nextShown[i] === i) shownRows.push(i);
          }

          function viewChanged() {
            findShown();
            showCount();
            redraw();
          }

          // ---- The messages: each an arrow from the sender's column, at the row where it was
          // sent, to the receiver's column, at the row where it arrived, and its reply back.
          const wrap = document.getElementById("logwrap");
          const svg = document.getElementById("arrows");
          const tip = document.getElementById("tip");
          const showMessages = document.getElementById("show-messages");
          const showHeartbeats = document.getElementById("show-heartbeats");
          const columns = Array.from(table.tHead.querySelectorAll("th.server"));
          const KIND = ["RequestVote", "AppendEntries"];
          const HEARTBEAT = 1, HELD = 2, REFUSED = 4, LOST = 8, REPLY_LOST = 16, AT_RECEIVER = 32;
          // The first and last row each message touches, to skip those far from the screen.
          const reach = MESSAGES.map(m => {
            const used = [m[3], m[4], m[5], m[6], m[7]].filter(r => r >= 0);
            return [Math.min(...used), Math.max(...used)];
          });
          let hovered = -1;
          let drawPending = false;

          function redraw() {
            if (drawPending) return;
            drawPending = true;
            requestAnimationFrame(draw);
          }

          function isDrawn(m) {
            if ((m[8] & HEARTBEAT) && !showHeartbeats.checked) return false;
            const only = table.dataset.only;
            if (only !== undefined && String(m[1]) !== only && String(m[2]) !== only) return false;
            for (let k = 3; k <= 6; k++) if (m[k] >= 0 && nextShown[m[k]] === m[k]) return true;
            return false;
          }

          // The first and last shown rows on the screen, and a few beyond: a binary search, since
          // shown rows go down the page in order.
          function rowsOnScreen() {
            if (shownRows.length === 0) return null;
            const top = 0, bottom = window.innerHeight;
            let lo = 0, hi = shownRows.length - 1;
            while (lo < hi) {
              const mid = (lo + hi) >> 1;
              if (rowRect(shownRows[mid]).bottom < top) lo = mid + 1; else hi = mid;
            }
            const first = lo;
            hi = shownRows.length - 1;
            while (lo < hi) {
              const mid = (lo + hi + 1) >> 1;
              if (rowRect(shownRows[mid]).top > bottom) hi = mid - 1; else lo = mid;
            }
            return [shownRows[Math.max(0, first - 3)], shownRows[Math.min(shownRows.length - 1, lo + 3)]];
          }

          function rowRect(i) { return rows[i].getBoundingClientRect(); }

          function draw() {
            const started = performance.now();
            drawPending = false;
            svg.hidden = !showMessages.checked;
            const range = showMessages.checked ? rowsOnScreen() : null;
            if (range === null) {
              svg.replaceChildren();
              svg.dataset.drawn = "0";
              return;
            }
            const box = wrap.getBoundingClientRect();
            const xs = columns.map(th => { const b = th.getBoundingClientRect(); return [b.left - box.left + b.width * 0.3, b.left - box.left + b.width * 0.7]; });
            const ys = new Map();
            // A row's middle; a hidden row is placed where the next shown row begins.
            const y = r => {
              let v = ys.get(r);
              if (v === undefined) {
                const s = nextShown[r];
                if (s === r) { const b = rowRect(r); v = b.top - box.top + b.height / 2; }
                else if (s >= 0) v = rowRect(s).top - box.top;
                else v = rowRect(shownRows[shownRows.length - 1]).bottom - box.top;
                ys.set(r, v);
              }
              return v;
            };
            const parts = [];
            for (let i = 0; i < MESSAGES.length; i++) {
              if (reach[i][1] < range[0] || reach[i][0] > range[1] || !isDrawn(MESSAGES[i])) continue;
              parts.push(arrow(i, MESSAGES[i], xs, y));
            }
            svg.innerHTML = parts.join("");
            svg.dataset.drawn = String(parts.length);
            svg.dataset.ms = (performance.now() - started).toFixed(1);   // how long this drawing took, for the tests
            if (hovered >= 0) svg.querySelector('g[data-i="' + hovered + '"]')?.classList.add("on");
          }

          const f = v => v.toFixed(1);
          function line(x1, y1, x2, y2, cls) { return '<path class="' + cls + '" d="M' + f(x1) + " " + f(y1) + " L" + f(x2) + " " + f(y2) + '"/>'; }
          function head(x1, y1, x2, y2, cls) {
            const len = Math.hypot(x2 - x1, y2 - y1) || 1, ux = (x2 - x1) / len, uy = (y2 - y1) / len;
            const bx = x2 - ux * 8, by = y2 - uy * 8;
            return '<path class="head' + cls + '" d="M' + f(x2) + " " + f(y2) + " L" + f(bx - uy * 3.5) + " " + f(by + ux * 3.5) +
              " L" + f(bx + uy * 3.5) + " " + f(by - ux * 3.5) + ' Z"/>';
          }
          function cross(x, y) { return '<path class="cross" d="M' + f(x - 4) + " " + f(y - 4) + " L" + f(x + 4) + " " + f(y + 4) +
            " M" + f(x + 4) + " " + f(y - 4) + " L" + f(x - 4) + " " + f(y + 4) + '"/>'; }

          // One message: the request, and the reply if there was one; a lost one stops part way
          // with a cross, at the row where the log says it was lost. Each end sits in the third of
          // its cell that faces the other server: arrows between neighbours stay short but slanted.
          function arrow(i, m, xs, y) {
            const [kind, from, to, sent, arrived, replied, back, lost, flags] = m;
            const right = to > from;
            const x1 = xs[from][right ? 1 : 0], x2 = xs[to][right ? 0 : 1], y1 = y(sent);
            let out = "", hit = "";
            if (arrived >= 0) {
              const y2 = y(arrived);
              out += line(x1, y1, x2, y2, "line request") + head(x1, y1, x2, y2, "");
              hit += line(x1, y1, x2, y2, "hit");
            } else {
              const yl = lost >= 0 ? Math.max(y(lost), y1) : y1 + 6, xl = x1 + (x2 - x1) * (flags & AT_RECEIVER ? 0.8 : 0.45);
              out += line(x1, y1, xl, yl, "line request") + cross(xl, yl);
              hit += line(x1, y1, xl, yl, "hit");
            }
            if (arrived >= 0 && replied >= 0) {
              const yr = y(replied), no = flags & REFUSED ? " no" : "";
              if (back >= 0) {
                const yb = y(back);
                out += line(x2, yr, x1, yb, "line reply" + no) + head(x2, yr, x1, yb, no);
                hit += line(x2, yr, x1, yb, "hit");
              } else if (flags & REPLY_LOST) {
                const yl = lost >= 0 ? Math.max(y(lost), yr) : yr + 6, xl = x2 + (x1 - x2) * (flags & AT_RECEIVER ? 0.2 : 0.55);
                out += line(x2, yr, xl, yl, "line reply" + no) + cross(xl, yl);
                hit += line(x2, yr, xl, yl, "hit");
              } else {
                out += line(x2, yr, x1, yr + 8, "line reply" + no) + head(x2, yr, x1, yr + 8, no);
                hit += line(x2, yr, x1, yr + 8, "hit");
              }
            }
            const cls = "m " + (kind === 0 ? "rv" : "ae") + (flags & HEARTBEAT ? " hb" : "") + (flags & HELD ? " held" : "") +
              (flags & LOST ? " lost" : "");
            return '<g class="' + cls + '" data-i="' + i + '" data-kind="' + KIND[kind] + '" data-from="' + from + '" data-to="' + to + '">' +
              out + hit + "</g>";
          }

          // ---- Hovering an arrow: its fields in a box by the pointer, and its rows outlined.
          function time(r) { return rows[r].cells[0].textContent; }

          function showTip(i, e) {
            const [kind, from, to, sent, arrived, replied, back, lost, flags, id, ms, args, reply, note] = MESSAGES[i];
            const add = (key, text, bad) => {
              const div = document.createElement("div");
              const k = document.createElement("span");
              k.className = "k";
              k.textContent = key + ": ";
              const v = document.createElement("span");
              if (bad) v.className = "bad";
              v.textContent = text;
              div.append(k, v);
              tip.append(div);
            };
            tip.replaceChildren();
            const title = document.createElement("b");
            title.textContent = KIND[kind] + " from " + serverName(from) + " to " + serverName(to) + (flags & HEARTBEAT ? " (heartbeat: no entries)" : "");
            tip.append(title);
            add("sent", time(sent));
            if (arrived >= 0) {
              add("arrived", time(arrived) + (ms !== null ? ", " + ms + " ms later" : "") + (flags & HELD ? ", held by the network" : ""));
            } else {
              add("lost", note ?? "", true);
            }
            add("fields", args);
            if (reply !== null) {
              const verdict = kind === 0 ? (flags & REFUSED ? "vote refused" : "vote granted") : (flags & REFUSED ? "entries rejected" : "accepted");
              add("reply", reply + " (" + verdict + ")" + (back >= 0 ? ", back at " + time(back) : ""), (flags & REFUSED) !== 0);
            }
            if (flags & REPLY_LOST) add("reply lost", note ?? "", true);
            else if (arrived >= 0 && note) add("note", note);
            if (id > 0) add("network", "call #" + id);
            tip.hidden = false;
            const w = tip.offsetWidth, h = tip.offsetHeight;
            tip.style.left = Math.max(4, Math.min(e.clientX + 14, window.innerWidth - w - 8)) + "px";
            tip.style.top = (e.clientY + 16 + h > window.innerHeight ? Math.max(4, e.clientY - h - 12) : e.clientY + 16) + "px";
            // The cells where it happened: sent and answer back in the sender's column, arrived and answered in the receiver's.
            for (const [r, col] of [[sent, from], [arrived, to], [replied, to], [back, from]]) {
              if (r >= 0) rows[r].cells[rows[r].cells.length - columns.length + col].classList.add("msgcell");
            }
          }

          function hideTip() {
            tip.hidden = true;
            for (const cell of table.tBodies[0].querySelectorAll("td.msgcell")) cell.classList.remove("msgcell");
            svg.querySelector("g.on")?.classList.remove("on");
            hovered = -1;
          }

          svg.addEventListener("mouseover", e => {
            const g = e.target.closest("g.m");
            if (!g || Number(g.dataset.i) === hovered) return;
            hideTip();
            hovered = Number(g.dataset.i);
            g.classList.add("on");
            showTip(hovered, e);
          });
          svg.addEventListener("mouseout", e => {
            const g = e.target.closest("g.m");
            if (g && !g.contains(e.relatedTarget)) hideTip();
          });

          showMessages.addEventListener("change", () => { hideTip(); redraw(); });
          showHeartbeats.addEventListener("change", () => { hideTip(); redraw(); });
          window.addEventListener("scroll", () => { if (hovered >= 0) hideTip(); redraw(); }, { passive: true });
          window.addEventListener("resize", redraw);
          // Rows that scroll into view take their real height (content-visibility), moving the rows below.
          new ResizeObserver(redraw).observe(table.tBodies[0]);

          findShown();
          showCount();
          requestAnimationFrame(() => {
            draw();
            document.body.dataset.ready = String(Math.round(performance.now()));
          });
        })();

        """;
}
