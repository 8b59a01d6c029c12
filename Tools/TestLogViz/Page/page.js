// A test's page: the filter box, the server views, the ribbon's links and the message arrows.
// It touches a row only when its visibility changes, and draws only the arrows near the screen
// (again on every scroll), so a 20,000-row page stays quick. PageWriter puts MESSAGES before it.
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
