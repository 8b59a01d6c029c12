// The playground's page: draws the state the server sends over Server-Sent Events, and turns
// clicks into calls of the JSON API. No framework, no build step, nothing from the network.
"use strict";
(() => {
  const $ = id => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const KEEP_LINES = 500;           // log lines kept on the page; older ones are dropped
  const CELL = 28;                  // a log cell's width in pixels, gap included
  const cards = [];                 // per server: the elements updated in place on every state
  const stores = [];                // per server: its data store's pairs as the updates built them
  const logs = [];                  // per server: its log's terms, index by index, as the updates built them
  const logVersions = [];           // per server: how many changes its log has had, so an unchanged view is not redrawn
  let ringDrawn = "", logsDrawn = "";  // what the ring and the logs show now, to skip redrawing the same
  let last = null;                  // the latest update
  let selected = null;              // the server whose state the details panel shows
  let selectedMsg = null;           // or the message whose fields it shows: its last known view
  let clock = null, clockAt = 0;    // the cluster's clock as the latest update gave it, and when (performance.now())
  const live = document.createElementNS("http://www.w3.org/2000/svg", "g");  // timers and messages, drawn every frame over the ring
  let filterText = "";

  // --- one colour per term, for every view: the ring, the log cells, the cards, the details ---

  const TERM_COLOURS = ["#9ecae1", "#fdae6b", "#c6a5e0", "#f4a6b7", "#7fd1c8", "#d9b38c", "#a1a9f0", "#f59f86"];
  const termColour = t => t <= 0 ? "#eeeeee" : TERM_COLOURS[(t - 1) % TERM_COLOURS.length];

  // --- the JSON API ---

  async function post(path, body) {
    const resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body === undefined ? {} : body),
    });
    const answer = await resp.json().catch(() => ({ error: resp.status + " " + resp.statusText }));
    if (!resp.ok) throw new Error(answer.error || resp.statusText);
    return answer;
  }

  function notice(text, isError) {
    const n = $("notice");
    n.textContent = text;
    n.className = isError ? "error" : "";
  }

  async function run(path, body) {
    try {
      notice((await post(path, body)).message, false);
    } catch (e) {
      notice(e.message, true);
    }
  }

  function el(tag, props, ...children) {
    const e = Object.assign(document.createElement(tag), props);
    e.append(...children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    e.append(...children);
    return e;
  }

  // --- the ring: servers on a circle, a line for every pair ---

  function ringPoint(id, n) {
    const angle = -Math.PI / 2 + 2 * Math.PI * id / n;
    return { x: 180 + 118 * Math.cos(angle), y: 182 + 118 * Math.sin(angle) };
  }

  function showRing(s) {
    const ring = $("ring");
    const n = s.servers;
    const shows = JSON.stringify([selected, s.links, s.cards.map(c => [c.role, c.term, c.status, c.logLength, c.commitIndex])]);
    if (shows === ringDrawn) return;
    ringDrawn = shows;
    const links = svg("g", { class: "links" });
    for (const link of s.links) {
      const a = ringPoint(link.a, n), b = ringPoint(link.b, n);
      const line = svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "link " + link.state, "data-a": link.a, "data-b": link.b, "data-state": link.state },
        svg("title", {}, `${link.a} ↔ ${link.b}: ${link.state === "up" ? "connected" : link.state === "cut" ? "cut by the partition" : "down (a server is disconnected or crashed)"}`));
      links.append(line);
      if (link.state === "cut") {
        // A cut link is drawn broken in the middle, with a cross where it is broken.
        const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
        links.append(svg("text", { x: mx, y: my + 4, class: "cut-mark" }, "✕"));
      }
    }
    const servers = svg("g", { class: "servers" });
    for (const c of s.cards) {
      const p = ringPoint(c.id, n);
      const g = svg("g", { class: "server " + c.role + (c.id === selected ? " selected" : ""), "data-id": c.id, tabindex: 0, role: "button",
        "aria-label": `server ${c.id}: ${c.role}, term ${c.term}` });
      g.append(svg("circle", { cx: p.x, cy: p.y, r: 31, class: "body", fill: c.status === "crashed" ? "#d0d0d0" : termColour(c.term), "data-term": c.term }));
      g.append(svg("text", { x: p.x, y: p.y - 5, class: "name" }, "S" + c.id));
      g.append(svg("text", { x: p.x, y: p.y + 12, class: "term" }, "term " + c.term));
      const below = p.y > 182 ? p.y + 53 : p.y - 45;
      g.append(svg("text", { x: p.x, y: below, class: "role" }, c.status === "crashed" ? "crashed" : c.status === "disconnected" ? c.role + " · cut off" : c.role));
      g.append(svg("title", {}, `Server ${c.id}: ${c.role}, term ${c.term}, log ${c.logLength}, commit index ${c.commitIndex}. Click for its state.`));
      servers.append(g);
    }
    ring.replaceChildren(links, servers, live);
  }

  // --- the cluster's time, between two updates: moved on at its speed unless paused ---

  function clusterNow() {
    if (!clock) return 0;
    return clock.paused ? clock.timeMs : clock.timeMs + (performance.now() - clockAt) * clock.speed;
  }

  // Whole milliseconds past 10 s: a step to the next timer is often 1-5 ms, and it should show.
  function fmtMs(ms) {
    return ms >= 10000 ? (ms / 1000).toFixed(3) + " s" : ms.toFixed(1) + " ms";
  }

  // --- drawn every frame over the ring: each follower's election timer, each message on its way ---

  // The point a fraction f of the way from server a's edge to server b's.
  function along(a, b, n, f) {
    const p = ringPoint(a, n), q = ringPoint(b, n);
    const d = Math.hypot(q.x - p.x, q.y - p.y), edge = 38 / d;
    const t = edge + (1 - 2 * edge) * Math.min(Math.max(f, 0), 1);
    return { x: p.x + (q.x - p.x) * t, y: p.y + (q.y - p.y) * t };
  }

  function arc(p, r, f) {
    // An arc clockwise from the top, a fraction f of the circle (just short of whole, so it is still drawn).
    const a = 2 * Math.PI * Math.min(f, 0.9999) - Math.PI / 2;
    const x = p.x + r * Math.cos(a), y = p.y + r * Math.sin(a);
    return `M ${p.x} ${p.y - r} A ${r} ${r} 0 ${f > 0.5 ? 1 : 0} 1 ${x} ${y}`;
  }

  const msgKind = m => m.method === "RequestVote" ? "rv" : m.heartbeat ? "hb" : "ae";
  const kindName = m => m.method === "RequestVote" ? "RequestVote" : m.heartbeat ? "heartbeat (AppendEntries, no entries)" : "AppendEntries";

  // The live layer keeps its elements from frame to frame, one per timer and per message, and
  // only moves them: rebuilding them all every frame kept the browser busy with an idle cluster.
  const liveShapes = new Map();
  let liveOrder = "";
  function liveShape(key, make) {
    let e = liveShapes.get(key);
    if (!e) liveShapes.set(key, e = make());
    return e;
  }
  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      const text = String(v);
      if (e.getAttribute(k) !== text) e.setAttribute(k, text);
    }
  }
  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }

  function drawLive() {
    const s = last;
    if (!s) return;
    const n = s.servers, now = clusterNow();
    const keys = [];
    for (const c of s.cards) {
      if (c.timerMs === undefined || c.timerMs === null || !c.timeoutMs || c.status === "crashed") continue;
      const p = ringPoint(c.id, n);
      const elapsed = Math.min(c.timerMs + (now - clock.timeMs), c.timeoutMs);
      setAttrs(liveShape("track" + c.id, () => svg("circle", { class: "timer-track" })), { cx: p.x, cy: p.y, r: 36 });
      setAttrs(liveShape("timer" + c.id, () => svg("path", { "data-server": c.id })),
        { d: arc(p, 36, elapsed / c.timeoutMs), class: "timer" + (elapsed >= c.timeoutMs ? " late" : "") });
      keys.push("track" + c.id, "timer" + c.id);
    }
    for (const m of s.messages.shown) {
      const sel = selectedMsg && selectedMsg.id === m.id ? " selected" : "";
      const kind = msgKind(m);
      let at, cls = "msg " + kind + sel, lost = false;
      if (m.stage === "sending") {
        const f = m.dueMs === undefined || m.dueMs === null || m.dueMs <= m.sentMs ? 0 : (now - m.sentMs) / (m.dueMs - m.sentMs);
        at = along(m.from, m.to, n, f);
        if (m.held) cls += " held";
      } else if (m.stage === "handling") {
        at = along(m.from, m.to, n, 1);
      } else if (m.stage === "replying" || m.stage === "answered") {
        // The reply: back at the sender's end (held halfway while the network holds it).
        at = along(m.to, m.from, n, m.held && m.stage === "replying" ? 0.5 : 1);
        cls += " reply " + (m.outcome === "granted" || m.outcome === "success" ? "ok" : "no") + (m.held && m.stage === "replying" ? " held" : "");
      } else {
        // Lost: a cross where it was, the request's way or the reply's.
        const f = m.stage === "lost" ? (m.dueMs && m.dueMs > m.sentMs ? (m.endMs - m.sentMs) / (m.dueMs - m.sentMs) : 0.5) : 0.2;
        at = m.stage === "lost" ? along(m.from, m.to, n, f) : along(m.to, m.from, n, f);
        lost = true;
      }
      const key = (lost ? "lost" : "msg") + m.id;
      const g = liveShape(key, () => svg("g", { "data-msg": m.id, class: "message" }, svg("title", {}),
        svg("circle", { r: 10, class: "hit", "data-msg": m.id }),
        lost ? svg("text", { "data-msg": m.id }, "✕") : svg("circle", { "data-msg": m.id })));
      const [title, hit, shape] = g.children;
      setText(title, `#${m.id} ${kindName(m)} S${m.from} → S${m.to}: ${m.stage}${m.outcome ? ", " + m.outcome : ""}. Click for its fields.`);
      setAttrs(g, { "data-stage": m.stage, "data-due": m.dueMs === undefined || m.dueMs === null ? "" : m.dueMs });
      setAttrs(hit, { cx: at.x, cy: at.y });
      setAttrs(shape, lost ? { x: at.x, y: at.y + 5, class: "msg-lost" + sel } : { cx: at.x, cy: at.y, r: m.heartbeat ? 4.5 : 6, class: cls });
      keys.push(key);
    }
    const order = keys.join(" ");
    if (order !== liveOrder) {
      live.replaceChildren(...keys.map(k => liveShapes.get(k)));
      const shown = new Set(keys);
      for (const k of [...liveShapes.keys()]) if (!shown.has(k)) liveShapes.delete(k);
      liveOrder = order;
    }
    const clusterText = fmtMs(now);
    if ($("cluster-time").textContent !== clusterText) $("cluster-time").textContent = clusterText;
  }

  // Drawn up to 30 times a second while the clock runs; while paused, only when an update brings
  // something new (so that nothing is replaced under a click).
  let drawnPausedAt = null, drawnAt = -Infinity;
  function frame(t) {
    if (clock && t - drawnAt >= 1000 / 30 - 2) {
      const key = clock.paused ? JSON.stringify([clock.timeMs, last.messages.shown, last.cards.map(c => [c.timerMs, c.timeoutMs, c.status]), selectedMsg && selectedMsg.id]) : null;
      if (key === null || key !== drawnPausedAt) {
        drawLive();
        drawnPausedAt = key;
        drawnAt = t;
      }
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
  setInterval(() => { $("wall-time").textContent = new Date().toLocaleTimeString("en-GB"); }, 250);

  function select(id) {
    selected = selected === id ? null : id;
    selectedMsg = null;
    if (last) { showRing(last); showDetails(last); }
  }
  function selectMsg(id) {
    const m = last && last.messages.shown.find(x => x.id === id);
    if (!m) return;
    selectedMsg = selectedMsg && selectedMsg.id === id ? null : m;
    selected = null;
    drawnPausedAt = null;
    if (last) { showRing(last); showDetails(last); }
  }
  $("ring").addEventListener("click", e => {
    const msg = e.target.closest("[data-msg]");
    if (msg) { selectMsg(Number(msg.dataset.msg)); return; }
    const g = e.target.closest(".server");
    if (g) select(Number(g.dataset.id));
  });
  $("ring").addEventListener("keydown", e => {
    const g = e.target.closest(".server");
    if (g && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); select(Number(g.dataset.id)); }
  });

  // --- the details of the selected server ---

  function showMessage(s) {
    // The message's latest view while it is on the board; once gone, the last one seen.
    const m = s.messages.shown.find(x => x.id === selectedMsg.id) || selectedMsg;
    selectedMsg = m;
    $("details-hint").hidden = true;
    $("details-title").textContent = `Message #${m.id}: ${m.method}`;
    const dl = $("details-fields");
    dl.replaceChildren();
    $("progress").hidden = true;
    const stages = { sending: "on its way to the receiver", handling: "at the receiver: its handler runs", replying: "the reply on its way back",
      answered: "ended: the sender has the reply", lost: "ended: lost before the receiver's handler", "reply-lost": "ended: the receiver acted on it, but the reply was lost" };
    const rows = [
      ["kind", kindName(m)], ["from → to", `S${m.from} → S${m.to}`], ["stage", stages[m.stage] + (m.held ? " (held by the network for a long delay)" : "")],
      ["sent at", fmtMs(m.sentMs) + " (cluster time)"],
    ];
    if (m.dueMs !== undefined && m.dueMs !== null && m.stage === "sending") rows.push(["arrives at", fmtMs(m.dueMs) + ` (after ${(m.dueMs - m.sentMs).toFixed(2)} ms)`]);
    if (m.endMs !== undefined && m.endMs !== null) rows.push(["ended at", fmtMs(m.endMs)]);
    rows.push(["fields", m.args.split(" ").join("\n")]);
    if (m.reply) rows.push(["reply", m.reply.split(" ").join("\n") + (m.outcome ? "\n→ " + m.outcome : "")]);
    if (m.reason) rows.push(["why lost", m.reason]);
    for (const [k, v] of rows) dl.append(el("dt", { textContent: k }), el("dd", { textContent: v, className: k === "fields" || k === "reply" ? "fields" : "" }));
    const drop = $("msg-drop");
    drop.hidden = false;
    drop.disabled = !["sending", "handling", "replying"].includes(m.stage) || !s.canControl;
    drop.dataset.msg = m.id;
  }
  $("msg-drop").addEventListener("click", () => run("/api/messages/" + $("msg-drop").dataset.msg + "/drop"));

  function showDetails(s) {
    $("msg-drop").hidden = true;
    if (selectedMsg) { showMessage(s); return; }
    const c = selected === null ? null : s.cards[selected];
    $("details-hint").hidden = c !== null;
    $("details-title").textContent = c ? `Server ${c.id}` : "Server";
    const dl = $("details-fields");
    dl.replaceChildren();
    $("progress").hidden = true;
    if (!c) return;
    const group = s.groups ? s.groups.findIndex(g => g.includes(c.id)) : -1;
    const swatch = el("span", { className: "swatch" });
    swatch.style.background = termColour(c.term);
    const rows = [
      ["role", c.role], ["status", c.status + (group >= 0 ? ` · group ${"ABCDE"[group]} of the partition` : "")],
      ["currentTerm", [swatch, String(c.term)]], ["votedFor", c.votedFor < 0 ? "nobody" : String(c.votedFor)],
      ["log length", String(c.logLength)], ["commitIndex", String(c.commitIndex)], ["lastApplied", String(c.lastApplied)],
      ["last entry's term", logs[c.id] && logs[c.id].length ? String(logs[c.id][logs[c.id].length - 1]) : "(empty log)"],
      ["election timer", c.timerMs === undefined || c.timerMs === null ? (c.role === "Leader" ? "none (a leader sends heartbeats instead)" : "–")
        : `${c.timerMs.toFixed(1)} of ${c.timeoutMs.toFixed(0)} ms`],
      ["KV API", c.kvAddr],
    ];
    for (const [k, v] of rows) dl.append(el("dt", { textContent: k }), el("dd", {}, ...(Array.isArray(v) ? v : [v])));
    if (c.nextIndex) {
      const body = $("progress").querySelector("tbody");
      body.replaceChildren();
      c.nextIndex.forEach((ni, peer) => {
        if (ni === null || ni === undefined) return;
        body.append(el("tr", {}, el("td", { textContent: "S" + peer }), el("td", { textContent: ni }), el("td", { textContent: c.matchIndex[peer] })));
      });
      $("progress").hidden = false;
    }
  }

  // --- the logs: a row of cells per server ---

  function applyLog(change) {
    const terms = logs[change.id] || (logs[change.id] = []);
    logVersions[change.id] = (logVersions[change.id] || 0) + 1;
    terms.length = change.from;
    for (let k = 0; k < change.runs.length; k += 2) {
      for (let m = 0; m < change.runs[k + 1]; m++) terms.push(change.runs[k]);
    }
  }

  function showLogs(s) {
    const box = $("log-rows");
    const width = Math.max(box.clientWidth - 110, CELL * 8);
    const slots = Math.floor(width / CELL);
    const longest = Math.max(0, ...s.cards.map(c => (logs[c.id] || []).length));
    // The last entries, with one free slot at the end where the next entry (and a nextIndex past the end) goes.
    const start = Math.max(0, longest + 1 - slots);
    // Whose nextIndex and matchIndex the rows show: the selected server's if it leads, else the leader of the highest
    // term (a leader cut off in a minority still thinks it leads, in an older term).
    const leaders = s.cards.filter(c => c.nextIndex);
    const leader = leaders.find(c => c.id === selected) || leaders.sort((a, b) => b.term - a.term)[0];
    $("progress-of").textContent = leader ? `as S${leader.id} (leader in term ${leader.term}) sees them` + (leaders.length > 1 ? "; click another leader for its view" : "") : "(no leader now)";
    const shows = JSON.stringify([start, slots, logVersions, leader ? [leader.id, leader.nextIndex, leader.matchIndex] : null,
      s.cards.map(c => [c.status, c.role, c.commitIndex])]);
    if (shows === logsDrawn) return;
    logsDrawn = shows;
    const rows = [];
    const header = el("div", { className: "row header" }, el("span", { className: "who", textContent: start > 0 ? `… ${start} earlier` : "index" }));
    const headCells = el("div", { className: "cells" });
    for (let i = start; i < start + slots; i++) headCells.append(el("span", { className: "index", textContent: i }));
    header.append(headCells);
    rows.push(header);
    for (const c of s.cards) {
      const terms = logs[c.id] || [];
      const row = el("div", { className: "row " + c.status });
      row.dataset.server = c.id;
      row.dataset.commit = c.commitIndex;
      row.dataset.length = terms.length;
      const who = el("span", { className: "who" }, el("b", { textContent: "S" + c.id }), " " + (c.status === "crashed" ? "crashed" : c.role.toLowerCase()));
      const cells = el("div", { className: "cells" });
      for (let i = start; i < start + slots; i++) {
        const slot = el("span", { className: "slot" });
        if (i < terms.length) {
          const cell = el("span", { className: "cell" + (i <= c.commitIndex ? " committed" : " uncommitted"), textContent: terms[i],
            title: `S${c.id}, index ${i}: term ${terms[i]}, ${i <= c.commitIndex ? "committed" : "not committed on S" + c.id}` });
          cell.style.background = termColour(terms[i]);
          cell.dataset.index = i;
          cell.dataset.term = terms[i];
          if (i === c.commitIndex) cell.classList.add("commit");
          slot.append(cell);
        }
        if (leader && leader.id !== c.id) {
          if (leader.nextIndex[c.id] === i) slot.append(el("span", { className: "next", textContent: "▼", title: `S${leader.id} sends S${c.id} index ${i} next (nextIndex)` }));
          if (leader.matchIndex[c.id] === i) slot.append(el("span", { className: "match", textContent: "●", title: `S${leader.id} knows S${c.id} holds up to index ${i} (matchIndex)` }));
        }
        cells.append(slot);
      }
      // A log that ends before the first index shown (a server far behind) says where it ends.
      if (terms.length < start) {
        cells.prepend(el("span", { className: "behind", textContent: `← its ${terms.length} entries end before index ${start}` +
          (c.commitIndex >= 0 ? `; commit index ${c.commitIndex}` : "") }));
      }
      row.append(who, cells);
      rows.push(row);
    }
    box.replaceChildren(...rows);
  }

  // --- server cards: built once, then updated in place so a button is never replaced under a click ---

  function buildCard(id) {
    const fields = {};
    const dl = el("dl", {});
    for (const [key, label] of [["term", "term"], ["votedFor", "voted for"], ["logLength", "log length"],
                                ["commitIndex", "commit index"], ["lastApplied", "last applied"]]) {
      fields[key] = el("dd", {});
      dl.append(el("dt", { textContent: label }), fields[key]);
    }
    const role = el("span", { className: "role" });
    const status = el("span", { className: "status" });
    const kv = el("table", { className: "kv" });
    const buttons = {};
    const bar = el("div", { className: "buttons" });
    for (const action of ["crash", "restart", "disconnect", "reconnect"]) {
      buttons[action] = el("button", { type: "button", textContent: action });
      buttons[action].dataset.action = action;
      buttons[action].addEventListener("click", () => run("/api/servers/" + id + "/" + action));
      bar.append(buttons[action]);
    }
    const card = el("article", { id: "server-" + id, className: "card Follower" },
      el("h3", {}, el("span", {}, "Server " + id + " · ", role), status), dl, kv, bar);
    $("cards").append(card);
    return { card, role, status, fields, kv, buttons };
  }

  function showCard(view) {
    const c = cards[view.id] || (cards[view.id] = buildCard(view.id));
    c.card.className = "card " + view.role;
    c.card.dataset.role = view.role;
    c.card.dataset.status = view.status;
    c.role.textContent = view.role;
    c.status.textContent = view.status;
    c.status.className = "status " + view.status;
    c.fields.term.replaceChildren(el("span", { className: "swatch" }), String(view.term));
    c.fields.term.firstChild.style.background = termColour(view.term);
    c.fields.votedFor.textContent = view.votedFor < 0 ? "nobody" : view.votedFor;
    c.fields.logLength.textContent = view.logLength;
    c.fields.commitIndex.textContent = view.commitIndex;
    c.fields.lastApplied.textContent = view.lastApplied;
    c.buttons.crash.disabled = view.status === "crashed";
    c.buttons.restart.disabled = view.status !== "crashed";
    c.buttons.disconnect.disabled = view.status !== "connected";
    c.buttons.reconnect.disabled = view.status !== "disconnected";

    // The data store's pairs: redrawn only when they change, so they can be selected and read.
    const data = view.status === "crashed" ? null : (stores[view.id] || {});
    const text = JSON.stringify(data);
    if (c.kv.dataset.text === text) return;
    c.kv.dataset.text = text;
    c.kv.replaceChildren();
    if (data === null) {
      c.kv.append(el("tr", {}, el("td", { className: "empty", colSpan: 2, textContent: "crashed: its data store is gone" })));
    } else if (Object.keys(data).length === 0) {
      c.kv.append(el("tr", {}, el("td", { className: "empty", colSpan: 2, textContent: "no keys yet" })));
    } else {
      for (const k of Object.keys(data).sort((a, b) => a.localeCompare(b, "en", { numeric: true }))) {
        const row = el("tr", {}, el("td", { textContent: k }), el("td", { textContent: data[k] }));
        row.dataset.key = k;
        c.kv.append(row);
      }
    }
  }

  // --- partitions: a group for each server, then Partition; Heal ends it ---

  const groupPicks = [];
  let shownGroups = null;
  function showGroups(s) {
    if (groupPicks.length === s.servers) {
      // The choices follow the cluster's partition when it changes, and are the learner's otherwise.
      const now = JSON.stringify(s.groups || null);
      if (now === shownGroups) return;
      shownGroups = now;
      groupPicks.forEach((pick, id) => {
        const g = s.groups ? s.groups.findIndex(members => members.includes(id)) : 0;
        pick.value = "ABCDE"[Math.max(g, 0)];
      });
      return;
    }
    for (let id = 0; id < s.servers; id++) {
      const pick = el("select", { ariaLabel: "group of server " + id, title: "the group of server " + id });
      pick.dataset.server = id;
      for (const g of "ABC") pick.append(el("option", { value: g, textContent: g }));
      groupPicks.push(pick);
      $("groups").append(el("label", {}, "S" + id + " ", pick));
    }
  }

  $("partition").addEventListener("submit", e => {
    e.preventDefault();
    const groups = {};
    groupPicks.forEach((pick, id) => (groups[pick.value] = groups[pick.value] || []).push(id));
    run("/api/network/partition", { groups: Object.keys(groups).sort().map(g => groups[g]) });
  });
  $("heal").addEventListener("click", () => run("/api/network/heal"));

  // --- scenarios: one button each; the running one's step is said in words ---

  const scenarioButtons = {};
  fetch("/api/scenarios").then(r => r.json()).then(list => {
    for (const sc of list) {
      const b = el("button", { type: "button", title: sc.summary }, sc.title, el("small", { textContent: sc.summary }));
      b.dataset.scenario = sc.name;
      b.addEventListener("click", () => run("/api/scenarios/" + sc.name));
      scenarioButtons[sc.name] = b;
      $("scenario-buttons").append(b);
    }
    const stop = el("button", { type: "button", id: "scenario-stop", textContent: "Stop the scenario" });
    stop.addEventListener("click", () => run("/api/scenarios/stop"));
    scenarioButtons.stop = stop;
    $("scenario-buttons").append(stop);
    showScenario(last ? last.scenario : null);
  }).catch(e => notice("could not load the scenarios: " + e.message, true));

  function showScenario(sc) {
    const running = !!(sc && sc.running);
    for (const [name, b] of Object.entries(scenarioButtons)) {
      b.disabled = name === "stop" ? !running : running;
      b.classList.toggle("current", !!sc && sc.name === name);
    }
    const text = $("scenario-text");
    text.className = running ? "running" : sc && sc.failed ? "failed" : "";
    text.dataset.step = sc ? sc.step : "";
    text.textContent = !sc ? "Each one first makes the cluster whole, then goes step by step, pausing after each."
      : running ? `${sc.title}, step ${sc.step} of ${sc.steps}: ${sc.text}` : `${sc.title}: ${sc.text}`;
  }

  // --- the timeline: ribbons laid out by the server with TestLogViz's states and labels ---

  function showTimeline(t) {
    const lanes = $("lanes");
    lanes.replaceChildren();
    for (const lane of t.lanes) {
      const ribbon = el("div", { className: "ribbon" });
      for (const s of lane.segments) {
        const seg = el("span", { className: "seg " + s.state, textContent: s.label, title: s.title });
        seg.style.left = s.left + "%";
        seg.style.width = s.width + "%";
        ribbon.append(seg);
      }
      if (t.nowPercent < 100) {
        const future = el("span", { className: "future", title: "still to come" });
        future.style.left = t.nowPercent + "%";
        ribbon.append(future);
      }
      lanes.append(el("div", { className: "lane" }, el("span", { className: "name", textContent: lane.server }), ribbon));
    }
    $("from").textContent = t.from + " s";
    $("to").textContent = t.to + " s";
  }

  // --- the log lines ---

  // Whether the log box is scrolled to its end, read before anything of the page changes (reading it after would make the browser lay the page out twice).
  function linesAtBottom() {
    const box = $("lines");
    return box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  }

  function addLines(lines, skipped, atBottom) {
    const box = $("lines");
    if (skipped > 0) {
      // Too many lines to send them all (or to read them): say so where they would have been.
      const gap = el("div", { className: "skipped", textContent: `… ${skipped} lines not shown: more than the page is sent per update` });
      gap.dataset.text = "";
      box.append(gap);
    }
    const added = document.createDocumentFragment();
    for (const line of lines) {
      const row = el("div", {}, el("span", { className: "t", textContent: line.time + " " }),
        el("span", { className: "id " + line.id, textContent: line.id }), " " + line.message);
      row.dataset.text = (line.id + " " + line.message).toLowerCase();
      row.hidden = filterText !== "" && !row.dataset.text.includes(filterText);
      added.append(row);
    }
    box.append(added);
    while (box.childElementCount > KEEP_LINES) box.firstElementChild.remove();
    // Scrolled when the browser lays the page out anyway, rather than forcing a layout of its own now.
    if (atBottom) requestAnimationFrame(() => { box.scrollTop = box.scrollHeight; });
  }

  $("filter").addEventListener("input", () => {
    filterText = $("filter").value.trim().toLowerCase();
    for (const row of $("lines").children) row.hidden = filterText !== "" && !row.dataset.text.includes(filterText);
  });

  // --- the KV console ---

  const op = $("kv-op");
  function showFields() {
    $("kv-value").hidden = op.value === "get";
    $("kv-compare").hidden = op.value !== "cas";
  }
  op.addEventListener("change", showFields);
  showFields();

  $("kv-form").addEventListener("submit", async e => {
    e.preventDefault();
    const body = { key: $("kv-key").value, value: $("kv-value").value, compare: $("kv-compare").value };
    const what = op.value === "get" ? `Get(${body.key})`
      : op.value === "cas" ? `CAS(${body.key}, ${body.compare}, ${body.value})`
      : `${op.options[op.selectedIndex].text}(${body.key}, ${body.value})`;
    const item = el("li", { textContent: what + " … " });
    $("kv-results").prepend(item);
    try {
      const a = await post("/api/kv/" + op.value, body);
      item.dataset.ok = a.ok;
      if (a.ok) {
        const found = a.keyFound ? JSON.stringify(a.value) : "(no such key)";
        item.append(op.value === "get" ? "value " + found : "was " + found);
      } else {
        item.append(el("span", { className: "fail", textContent: "failed: " + a.error }));
      }
      const who = a.server === null ? "" : "server " + a.server + " · ";
      item.append(el("span", { className: "who", textContent: " · " + who + a.elapsedMs + " ms" }));
    } catch (err) {
      item.dataset.ok = false;
      item.append(el("span", { className: "fail", textContent: "refused: " + err.message }));
    }
  });

  // --- the cluster's clock: speed, pause and resume, steps while paused ---

  $("speed").addEventListener("change", e => run("/api/clock/speed", { speed: Number(e.target.value) }));
  $("pause").addEventListener("click", () => run("/api/clock/" + (clock && clock.paused ? "resume" : "pause")));
  for (const id of ["step-timer", "step-message", "step-10"]) {
    $(id).addEventListener("click", e => {
      const to = e.currentTarget.dataset.step;
      run("/api/clock/step", to === "10" ? { ms: 10 } : { to });
    });
  }

  function showClock(c) {
    clock = c;
    stats.clusterMs = c.timeMs;
    clockAt = performance.now();
    $("pause").textContent = c.paused ? "Resume" : "Pause";
    $("pause").classList.toggle("paused", c.paused);
    for (const id of ["step-timer", "step-message", "step-10"]) $(id).disabled = !c.paused;
    $("clock-state").textContent = c.paused ? "paused" : c.speed < 1 ? `at 1/${Math.round(1 / c.speed)}×` : "";
    if (document.activeElement !== $("speed")) {
      const opt = [...$("speed").options].find(o => Math.abs(Number(o.value) - c.speed) < 1e-9);
      if (opt) $("speed").value = opt.value;
    }
    drawnPausedAt = null;
  }

  // How many messages the cluster sent since the previous update: at full speed most begin and end between two.
  let sentBefore = null;
  function showMessageSummary(m) {
    const sent = m.sent;
    if (sentBefore) {
      const d = k => sent[k] - sentBefore[k];
      $("msg-summary").textContent = `sent since the last update: ${d("heartbeats")} heartbeats, ${d("appendEntries")} AppendEntries with entries, ${d("requestVote")} RequestVote`
        + ` · drawn: ${m.shown.length}` + (m.notShown ? ` (${m.notShown} more not drawn)` : "") + (clock && clock.speed === 1 && !clock.paused ? " · at 1× most are over before the page sees them: slow down to watch them" : "");
    }
    sentBefore = sent;
  }

  // --- the network switch ---

  $("unreliable").addEventListener("change", e => run("/api/network/" + (e.target.checked ? "unreliable" : "reliable")));

  // --- live updates; EventSource reconnects by itself if the stream drops ---

  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    $("live").textContent = "live";
    $("live").className = "";
    // A new stream starts from scratch: its first update carries every log and store whole.
    logs.length = 0;
    logVersions.length = 0;
    stores.length = 0;
  });
  events.addEventListener("error", () => { $("live").textContent = "disconnected: is the playground running?"; $("live").className = "off"; });
  // What drawing costs and what the stream brings, for anyone who asks (the browser test does).
  const stats = window.playgroundStats = { updates: 0, bytes: 0, drawMs: 0, maxDrawMs: 0 };
  events.addEventListener("state", e => {
    const started = performance.now();
    const atBottom = linesAtBottom();
    const s = JSON.parse(e.data);
    last = s;
    $("size").textContent = s.servers + " servers";
    // A client who may only watch (--watch-only, from another machine) is not shown controls that would be refused.
    document.body.classList.toggle("watch-only", !s.canControl);
    if (document.activeElement !== $("unreliable")) $("unreliable").checked = s.network === "unreliable";
    for (const change of s.logs) applyLog(change);
    // The data stores come as changes: a reset replaces a store, otherwise the keys given are set.
    for (const change of s.data) {
      const store = change.reset ? {} : (stores[change.id] || {});
      stores[change.id] = Object.assign(store, change.set);
    }
    showClock(s.clock);
    showMessageSummary(s.messages);
    showRing(s);
    showDetails(s);
    showGroups(s);
    showLogs(s);
    showScenario(s.scenario);
    for (const view of s.cards) showCard(view);
    showTimeline(s.timeline);
    addLines(s.lines, s.linesSkipped || 0, atBottom);
    const took = performance.now() - started;
    stats.updates++;
    stats.bytes += e.data.length;
    stats.drawMs += took;
    stats.maxDrawMs = Math.max(stats.maxDrawMs, took);
  });
})();
