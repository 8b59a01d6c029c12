// Draws a Raft cluster from a view of it: the ring of servers, the live layer over it (election
// timers, messages on their way), every server's log as a row of cells, and the rows of a server's
// or a message's details. The playground's live page and a test page's player both draw with it,
// so the two show the same pictures; where a view comes from is theirs. No framework, no build step.
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const CELL = 28;                  // a log cell's width in pixels, gap included (as clusterview.css)
  const VIEW_BOX = "0 0 360 345";   // the ring's coordinates, below

  // --- helpers ---

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

  // --- one colour per term, for every view: the ring, the log cells, the cards, the details ---

  // Twelve, so that the terms of any one run of elections look different; neighbours far apart.
  const TERM_COLOURS = ["#9ecae1", "#fdae6b", "#c6a5e0", "#b5de8c", "#f4a6b7", "#7fd1c8",
                        "#f6e07c", "#a1a9f0", "#e0b48a", "#e7a0d8", "#8fd7a0", "#f28e8e"];
  const termColour = t => t <= 0 ? "#eeeeee" : TERM_COLOURS[(t - 1) % TERM_COLOURS.length];

  // Whole milliseconds past 10 s: a step to the next timer is often 1-5 ms, and it should show.
  function fmtMs(ms) {
    return ms >= 10000 ? (ms / 1000).toFixed(3) + " s" : ms.toFixed(1) + " ms";
  }

  const msgKind = m => m.method === "RequestVote" ? "rv" : m.heartbeat ? "hb" : "ae";
  const kindName = m => m.method === "RequestVote" ? "RequestVote" : m.heartbeat ? "heartbeat (AppendEntries, no entries)" : "AppendEntries";

  // --- per svg element: what its ring shows, and its live layer ---

  // Kept by element, so that two rings on one page (or a ring redrawn from another view) do not share a memo.
  const rings = new WeakMap();
  function ringOf(svgEl) {
    let r = rings.get(svgEl);
    if (!r) {
      r = { drawn: "", live: document.createElementNS(SVG, "g"), shapes: new Map(), order: "" };
      rings.set(svgEl, r);
      svgEl.classList.add("cv-ring");
      if (!svgEl.hasAttribute("viewBox")) svgEl.setAttribute("viewBox", VIEW_BOX);
    }
    return r;
  }

  // --- the ring: servers on a circle, a line for every pair ---

  function ringPoint(id, n) {
    const angle = -Math.PI / 2 + 2 * Math.PI * id / n;
    return { x: 180 + 118 * Math.cos(angle), y: 182 + 118 * Math.sin(angle) };
  }

  function drawRing(svgEl, view, opts) {
    const r = ringOf(svgEl);
    const selected = opts && opts.selected !== undefined ? opts.selected : null;
    const n = view.servers;
    const shows = JSON.stringify([selected, view.links, view.cards.map(c => [c.role, c.term, c.status, c.logLength, c.commitIndex])]);
    if (shows === r.drawn) return;
    r.drawn = shows;
    const links = svg("g", { class: "links" });
    for (const link of view.links) {
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
    for (const c of view.cards) {
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
    // The live layer stays last, over the servers.
    svgEl.replaceChildren(links, servers, r.live);
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

  // The live layer keeps its elements from frame to frame, one per timer and per message, and
  // only moves them: rebuilding them all every frame kept the browser busy with an idle cluster.
  function liveShape(r, key, make) {
    let e = r.shapes.get(key);
    if (!e) r.shapes.set(key, e = make());
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

  // The timers and messages of view as at cluster time now: a timer has run on by now - view.timeMs
  // since the view was taken (at most opts.timerAheadMs, a number or a function of the server's
  // card: a view that is not of every event cannot see a timer restarted since), and a message has
  // moved on its way by as much.
  function drawLive(svgEl, view, now, opts) {
    const r = ringOf(svgEl);
    if (svgEl.lastChild !== r.live) svgEl.append(r.live);
    const selectedMsg = opts && opts.selectedMsg !== undefined ? opts.selectedMsg : null;
    const aheadOf = !opts || opts.timerAheadMs === undefined ? () => Infinity
      : typeof opts.timerAheadMs === "function" ? opts.timerAheadMs : () => opts.timerAheadMs;
    const n = view.servers;
    const keys = [];
    for (const c of view.cards) {
      if (c.timerMs === undefined || c.timerMs === null || !c.timeoutMs || c.status === "crashed") continue;
      const p = ringPoint(c.id, n);
      const ahead = Math.min(view.timeMs === undefined ? 0 : now - view.timeMs, aheadOf(c));
      const elapsed = Math.min(c.timerMs + ahead, c.timeoutMs);
      setAttrs(liveShape(r, "track" + c.id, () => svg("circle", { class: "timer-track" })), { cx: p.x, cy: p.y, r: 36 });
      setAttrs(liveShape(r, "timer" + c.id, () => svg("path", { "data-server": c.id })),
        { d: arc(p, 36, elapsed / c.timeoutMs), class: "timer" + (elapsed >= c.timeoutMs ? " late" : "") });
      keys.push("track" + c.id, "timer" + c.id);
    }
    for (const m of view.messages.shown) {
      const sel = selectedMsg !== null && selectedMsg === m.id ? " selected" : "";
      const kind = msgKind(m);
      let at, cls = "msg " + kind + sel, lost = false;
      if (m.stage === "sending") {
        const f = m.dueMs === undefined || m.dueMs === null || m.dueMs <= m.sentMs ? 0 : (now - m.sentMs) / (m.dueMs - m.sentMs);
        at = along(m.from, m.to, n, f);
        if (m.held) cls += " held";
      } else if (m.stage === "handling") {
        at = along(m.from, m.to, n, 1);
      } else if (m.stage === "replying" || m.stage === "answered") {
        // The reply: on its way back while the network delays it, then at the sender's end.
        let f = 1;
        if (m.stage === "replying" && m.repliedMs !== undefined && m.repliedMs !== null && m.dueMs !== undefined && m.dueMs !== null && m.dueMs > m.repliedMs) {
          f = Math.min(1, Math.max(0, (now - m.repliedMs) / (m.dueMs - m.repliedMs)));
        } else if (m.held && m.stage === "replying") {
          f = 0.5;
        }
        at = along(m.to, m.from, n, f);
        cls += " reply " + (m.outcome === "granted" || m.outcome === "success" ? "ok" : "no") + (m.held && m.stage === "replying" ? " held" : "");
      } else {
        // Lost: a cross where it was, the request's way or the reply's.
        const f = m.stage === "lost" ? (m.dueMs && m.dueMs > m.sentMs ? (m.endMs - m.sentMs) / (m.dueMs - m.sentMs) : 0.5) : 0.2;
        at = m.stage === "lost" ? along(m.from, m.to, n, f) : along(m.to, m.from, n, f);
        lost = true;
      }
      const key = (lost ? "lost" : "msg") + m.id;
      const g = liveShape(r, key, () => svg("g", { "data-msg": m.id, class: "message" }, svg("title", {}),
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
    if (order !== r.order) {
      r.live.replaceChildren(...keys.map(k => r.shapes.get(k)));
      const shown = new Set(keys);
      for (const k of [...r.shapes.keys()]) if (!shown.has(k)) r.shapes.delete(k);
      r.order = order;
    }
  }

  // --- the logs: a row of cells per server ---

  // Per box: what its rows show now, so that an unchanged view is not redrawn.
  const logBoxes = new WeakMap();

  // Draws every server's log into boxEl; returns whose nextIndex and matchIndex the rows show, in words.
  function drawLogs(boxEl, view, logs, opts) {
    const selected = opts && opts.selected !== undefined ? opts.selected : null;
    const commands = opts && opts.commands;
    if (!boxEl.classList.contains("cv-logs")) boxEl.classList.add("cv-logs");
    const width = Math.max(boxEl.clientWidth - 110, CELL * 8);
    const slots = Math.floor(width / CELL);
    const longest = Math.max(0, ...view.cards.map(c => (logs[c.id] || []).length));
    // The last entries, with one free slot at the end where the next entry (and a nextIndex past the end) goes.
    const start = Math.max(0, longest + 1 - slots);
    // Whose nextIndex and matchIndex the rows show: the selected server's if it leads, else the leader of the highest
    // term (a leader cut off in a minority still thinks it leads, in an older term).
    const leaders = view.cards.filter(c => c.nextIndex);
    const leader = leaders.find(c => c.id === selected) || leaders.sort((a, b) => b.term - a.term)[0];
    const progressOf = leader ? `as S${leader.id} (leader in term ${leader.term}) sees them` + (leaders.length > 1 ? "; click another leader for its view" : "") : "(no leader now)";
    const shows = JSON.stringify([start, slots, opts ? opts.logVersion : null, !!commands, leader ? [leader.id, leader.nextIndex, leader.matchIndex] : null,
      view.cards.map(c => [c.status, c.role, c.commitIndex])]);
    if (shows === logBoxes.get(boxEl)) return progressOf;
    logBoxes.set(boxEl, shows);
    const rows = [];
    const header = el("div", { className: "row header" }, el("span", { className: "who", textContent: start > 0 ? `… ${start} earlier` : "index" }));
    const headCells = el("div", { className: "cells" });
    for (let i = start; i < start + slots; i++) headCells.append(el("span", { className: "index", textContent: i }));
    header.append(headCells);
    rows.push(header);
    for (const c of view.cards) {
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
          const command = commands && commands[c.id] ? commands[c.id][i] : undefined;
          const cell = el("span", { className: "cell" + (i <= c.commitIndex ? " committed" : " uncommitted"), textContent: terms[i],
            title: `S${c.id}, index ${i}: term ${terms[i]}, ${i <= c.commitIndex ? "committed" : "not committed on S" + c.id}` +
              (command !== undefined && command !== null ? `\ncommand: ${command}` : "") });
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
    boxEl.replaceChildren(...rows);
    return progressOf;
  }

  // --- the details: rows of [label, value], a value text or an array of nodes; the page lays them out ---

  // A server's state, as its card in view has it (and its log's last term, from logs).
  function serverRows(c, logs, view) {
    const group = view && view.groups ? view.groups.findIndex(g => g.includes(c.id)) : -1;
    const swatch = el("span", { className: "swatch" });
    swatch.style.background = termColour(c.term);
    const log = logs ? logs[c.id] : null;
    const rows = [
      ["role", c.role], ["status", c.status + (group >= 0 ? ` · group ${"ABCDE"[group]} of the partition` : "")],
      ["currentTerm", [swatch, String(c.term)]], ["votedFor", c.votedFor < 0 ? "nobody" : String(c.votedFor)],
      ["log length", String(c.logLength)], ["commitIndex", String(c.commitIndex)], ["lastApplied", String(c.lastApplied)],
      ["last entry's term", log && log.length ? String(log[log.length - 1]) : "(empty log)"],
      ["election timer", c.timerMs === undefined || c.timerMs === null ? (c.role === "Leader" ? "none (a leader sends heartbeats instead)" : "–")
        : `${c.timerMs.toFixed(1)} of ${c.timeoutMs.toFixed(0)} ms`],
    ];
    // Only a live cluster's servers have a KV API to give.
    if (c.kvAddr !== undefined) rows.push(["KV API", c.kvAddr]);
    return rows;
  }

  // What a leader knows of each follower: [peer id, nextIndex, matchIndex] (numbers); none for a server that does not lead.
  function progressRows(c) {
    const rows = [];
    if (!c.nextIndex) return rows;
    c.nextIndex.forEach((ni, peer) => {
      if (ni === null || ni === undefined) return;
      rows.push([peer, ni, c.matchIndex ? c.matchIndex[peer] : null]);
    });
    return rows;
  }

  const STAGES = { sending: "on its way to the receiver", handling: "at the receiver: its handler runs", replying: "the reply on its way back",
    answered: "ended: the sender has the reply", lost: "ended: lost before the receiver's handler", "reply-lost": "ended: the receiver acted on it, but the reply was lost" };

  // A message's fields; "fields" and "reply" are one field a line.
  function messageRows(m) {
    const rows = [
      ["kind", kindName(m)], ["from → to", `S${m.from} → S${m.to}`], ["stage", STAGES[m.stage] + (m.held ? " (held by the network for a long delay)" : "")],
      ["sent at", fmtMs(m.sentMs) + " (cluster time)"],
    ];
    if (m.dueMs !== undefined && m.dueMs !== null && m.stage === "sending") rows.push(["arrives at", fmtMs(m.dueMs) + ` (after ${(m.dueMs - m.sentMs).toFixed(2)} ms)`]);
    if (m.endMs !== undefined && m.endMs !== null) rows.push(["ended at", fmtMs(m.endMs)]);
    rows.push(["fields", m.args.split(" ").join("\n")]);
    if (m.reply) rows.push(["reply", m.reply.split(" ").join("\n") + (m.outcome ? "\n→ " + m.outcome : "")]);
    if (m.reason) rows.push(["why lost", m.reason]);
    return rows;
  }

  window.ClusterView = Object.freeze({
    termColour, fmtMs, msgKind, kindName, drawRing, drawLive, drawLogs, serverRows, progressRows, messageRows, svg, el,
  });
})();
