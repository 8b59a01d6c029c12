// Renders one test's log as a self-contained HTML page: a ribbon of each server's states across
// the top, then upstream's table (a time column, a TEST column, one column per server, every cell
// coloured by its server's state), with a filter box and per-server views. No network fetches.
using System.Globalization;
using System.Net;
using System.Text;

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
        bool haveTest = log.HasTestLines;
        var html = new StringBuilder(1024 + (log.Lines.Count * (64 + (servers.Count * 24))));

        html.Append("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(E($"{pageName} -- {log.Status}")).Append("</title>\n")
            .Append("<style>").Append(StateStyle.Css).Append(Css).Append(TableCss(servers.Count, haveTest)).Append("</style>\n")
            .Append("</head>\n<body>\n");

        WriteHeader(html, log, pageName, servers.Count);
        WriteRibbons(html, log, servers, states, haveTest);
        html.Append("<div id=\"toolbar\">")
            .Append("<input id=\"filter\" type=\"search\" placeholder=\"Filter rows: becomes, term=3, Disconnect...\" aria-label=\"Filter rows\">")
            .Append("<span id=\"count\" aria-live=\"polite\"></span>")
            .Append("<span class=\"hint\">Click a server's column header to see only its rows (and TEST's); click again for all.</span>")
            .Append("</div>\n");
        WriteTable(html, log, servers, states, haveTest);
        html.Append("<script>").Append(Script).Append("</script>\n</body>\n</html>\n");
        return html.ToString();
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

        """;

    /// <summary>
    /// The page's behaviour: the filter box, the server views and the ribbon's links. It touches a
    /// row only when its visibility changes, so a 20,000-row page stays quick.
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
            showCount();
          }

          function showCount() {
            const only = table.dataset.only;
            let shown = 0;
            for (let i = 0; i < rows.length; i++) {
              if (!rows[i].hidden && (only === undefined || owner[i] === only || owner[i] === "T")) shown++;
            }
            const view = only === undefined ? "" :
              " · server " + table.tHead.querySelector('th[data-col="' + only + '"]').textContent + " and TEST only";
            count.textContent = (shown === rows.length ? rows.length + " rows" : shown + " of " + rows.length + " rows") + view;
          }

          let pending = 0;
          filter.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(applyFilter, 150); });

          table.tHead.addEventListener("click", e => {
            const th = e.target.closest("th.server");
            if (!th) return;
            if (table.dataset.only === th.dataset.col) delete table.dataset.only;
            else table.dataset.only = th.dataset.col;
            showCount();
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

          showCount();
        })();

        """;
}
