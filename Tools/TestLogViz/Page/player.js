// The player on a test's page: rebuilds the cluster at any moment of the run from its recording
// (Tools/README.md says what a recording holds) and draws it with the playground's own drawing
// code (clusterview.js). A slider over the whole run, play and pause, a speed, a step to the
// event before or after; the log table below follows the player, and a click on a row moves it.
"use strict";
(() => {
  const data = document.getElementById("recording");
  if (!data) return;
  const rec = JSON.parse(data.textContent);
  const CV = window.ClusterView;
  const $ = id => document.getElementById(id);
  const events = rec.events;
  const n = rec.servers;
  const KEYFRAME_EVERY = 400;      // events between two saved states: scrubbing replays at most this many
  const SHOW_ENDED_MS = 3;         // a lost message's cross stays this long after it was lost

  // --- the state of the run after a given number of events ---

  function emptyState() {
    const servers = [];
    for (let id = 0; id < n; id++) {
      servers.push({ id, role: "Follower", term: 0, votedFor: -1, status: "connected", commitIndex: -1, lastApplied: -1,
        timerStartMs: null, timeoutMs: null, log: [], nextIndex: null, matchIndex: null });
    }
    return { servers, messages: new Map(), step: null, violation: null, failure: null, cut: [] };
  }

  function copyState(s) {
    return {
      servers: s.servers.map(v => Object.assign({}, v, { log: v.log.slice() })),
      messages: new Map([...s.messages].map(([k, m]) => [k, Object.assign({}, m)])),
      step: s.step, violation: s.violation, failure: s.failure, cut: s.cut,
    };
  }

  function apply(s, e) {
    if (e.type === "server") {
      const v = s.servers[e.id];
      Object.assign(v, { role: e.role, term: e.term, votedFor: e.votedFor, status: e.status, commitIndex: e.commitIndex, lastApplied: e.lastApplied,
        timerStartMs: e.timerStartMs === undefined ? null : e.timerStartMs, timeoutMs: e.timeoutMs === undefined ? null : e.timeoutMs,
        nextIndex: e.nextIndex || null, matchIndex: e.matchIndex || null });
      if (e.log) {
        v.log.length = e.log.from;
        for (const entry of e.log.entries) v.log.push(entry);
      }
    } else if (e.type === "message") {
      let m = s.messages.get(e.id);
      if (e.step === "sent") {
        m = { id: e.id, from: e.from, to: e.to, method: e.method, heartbeat: !!e.heartbeat, args: fields(e.args), stage: "sending", sentMs: e.t,
          dueMs: null, endMs: null, held: false, reply: null, outcome: null, reason: null };
        s.messages.set(e.id, m);
        return;
      }
      if (!m) return;
      switch (e.step) {
        case "delayed": m.dueMs = e.t + e.delayMs; break;
        case "held": m.dueMs = e.t + e.delayMs; m.held = true; break;
        case "delivered": m.stage = "handling"; break;
        case "replied":
          m.stage = "replying"; m.reply = fields(e.reply) || null; m.held = false; m.repliedMs = e.t; m.dueMs = null;
          m.outcome = e.ok === undefined ? null : m.method === "RequestVote" ? (e.ok ? "granted" : "refused") : (e.ok ? "success" : "failure");
          break;
        case "reply-held": m.held = true; m.dueMs = e.t + e.delayMs; break;
        case "reply-delayed": m.dueMs = e.t + e.delayMs; break;
        case "reply-delivered": m.stage = "answered"; m.endMs = e.t; break;
        case "lost": m.stage = "lost"; m.endMs = e.t; m.reason = e.reason || null; break;
        case "reply-lost": m.stage = "reply-lost"; m.endMs = e.t; m.reason = e.reason || null; break;
      }
    } else if (e.type === "links") {
      s.cut = e.cut;
    } else if (e.type === "step") {
      s.step = e;
    } else if (e.type === "violation") {
      s.violation = e;
    } else if (e.type === "failure") {
      s.failure = e;
    }
  }

  // Saved states every KEYFRAME_EVERY events: keyframes[k] is the state after k * KEYFRAME_EVERY events.
  const keyframes = [emptyState()];
  {
    const s = emptyState();
    events.forEach((e, i) => {
      apply(s, e);
      if ((i + 1) % KEYFRAME_EVERY === 0) {
        // Messages long over are dropped from the saved state: only those still in flight matter later.
        for (const [id, m] of s.messages) if (m.endMs !== null && m.endMs < e.t - SHOW_ENDED_MS) s.messages.delete(id);
        keyframes.push(copyState(s));
      }
    });
  }

  function stateAfter(count) {
    const k = Math.min(Math.floor(count / KEYFRAME_EVERY), keyframes.length - 1);
    const s = copyState(keyframes[k]);
    for (let i = k * KEYFRAME_EVERY; i < count; i++) apply(s, events[i]);
    return s;
  }

  // How many events have happened by cluster time t (every event at t included).
  function countAt(t) {
    let lo = 0, hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (events[mid].t <= t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // --- from a state to what ClusterView draws ---

  // A message as the run printed it, "RequestVoteArgs { Term = 1, CandidateId = 2 }", in the
  // playground's shape, "term=1 candidateId=2": one field per word (spaces inside a value kept
  // as no-break spaces, since the details put each word on a line of its own).
  function fields(text) {
    if (!text) return text;
    const m = /^\s*\w+\s*\{\s*(.*?)\s*\}\s*$/s.exec(text);
    if (!m) return text;
    const parts = [];
    let depth = 0, start = 0;
    const body = m[1];
    for (let i = 0; i <= body.length; i++) {
      const c = body[i];
      if (c === "[" || c === "{" || c === "(") depth++;
      else if (c === "]" || c === "}" || c === ")") depth--;
      else if ((c === "," && depth === 0) || i === body.length) {
        const part = body.slice(start, i).trim();
        if (part) parts.push(part);
        start = i + 1;
      }
    }
    return parts.map(p => {
      const eq = p.indexOf(" = ");
      if (eq < 0) return p.replace(/ /g, "\u00a0");
      const key = p.slice(0, eq);
      return key[0].toLowerCase() + key.slice(1) + "=" + p.slice(eq + 3).replace(/ /g, "\u00a0");
    }).join(" ");
  }

  function asArray(map) {
    if (!map) return null;
    const a = new Array(n).fill(null);
    for (const [k, v] of Object.entries(map)) a[Number(k)] = v;
    return a;
  }

  function viewOf(s, t) {
    const cards = s.servers.map(v => ({
      id: v.id, role: v.status === "crashed" ? "Dead" : v.role, term: v.term, status: v.status, votedFor: v.votedFor,
      logLength: v.log.length, commitIndex: v.commitIndex, lastApplied: v.lastApplied,
      timerMs: v.timerStartMs === null || v.status === "crashed" ? null : t - v.timerStartMs, timeoutMs: v.timeoutMs,
      nextIndex: asArray(v.nextIndex), matchIndex: asArray(v.matchIndex), kvAddr: "–",
    }));
    const links = [];
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        const up = s.servers[a].status === "connected" && s.servers[b].status === "connected";
        const cut = s.cut.some(([f, t]) => (f === a && t === b) || (f === b && t === a));
        links.push({ a, b, state: !up ? "down" : cut ? "cut" : "up" });
      }
    }
    const shown = [];
    for (const m of s.messages.values()) {
      if (m.endMs !== null && (m.stage === "answered" || t - m.endMs > SHOW_ENDED_MS)) continue;
      shown.push(m);
    }
    return { servers: n, links, cards, messages: { shown }, timeMs: t };
  }

  // A run without a log (Part1 elects leaders only) gets no log rows: they would stay empty.
  const hasLogs = events.some(e => e.type === "server" && e.log);
  $("player-logs").hidden = !hasLogs;
  if (!hasLogs) $("player-logs-key").textContent = "This part's servers keep no log: Part1 elects leaders only.";

  // --- the controls ---

  const slider = $("player-slider");
  const endMs = rec.endMs;
  let at = 0;                 // the cluster time shown
  let count = 0;              // events applied at that time
  let state = keyframes[0];
  let playing = false, lastFrame = null;
  let selected = null, selectedMsg = null;
  slider.max = String(endMs);
  slider.step = "any";

  function show(t, c) {
    at = Math.min(Math.max(t, 0), endMs);
    count = c === undefined ? countAt(at) : c;
    state = stateAfter(count);
    draw();
  }

  const fmt = ms => CV.fmtMs(ms);

  function draw() {
    const view = viewOf(state, at);
    const ring = $("player-ring");
    CV.drawRing(ring, view, { selected });
    CV.drawLive(ring, view, at, { selectedMsg });
    const logs = state.servers.map(v => v.log.map(e => e[0]));
    const commands = state.servers.map(v => v.log.map(e => e[1]));
    if (hasLogs) $("player-progress-of").textContent = CV.drawLogs($("player-logs"), view, logs, { selected, logVersion: count, commands });
    slider.value = String(at);
    $("player-time").textContent = fmt(at) + " of " + fmt(endMs);
    $("player-event").textContent = count + " of " + events.length + " events";
    const step = state.step;
    $("player-step").textContent = step ? `${fmt(step.t)}: ${step.text}` : `seed ${rec.seed}: the test has taken no step yet`;
    const bad = state.violation || state.failure;
    $("player-alarm").hidden = !bad;
    if (bad) $("player-alarm").textContent = (state.violation ? "Safety violated at " : "The test failed at ") + fmt(bad.t) + ": " + bad.text;
    const v = state.violation;
    markServers(ring, v ? v.servers : []);
    // Two commands at one index: the entries themselves are marked too, in the servers' rows.
    if (v && v.index !== undefined) {
      for (const id of v.servers) {
        const cell = document.querySelector(`#player-logs .row[data-server="${id}"] .cell[data-index="${v.index}"]`);
        if (cell) cell.classList.add("violating");
      }
    }
    showDetails(view, logs);
    followTable();
  }

  function markServers(ring, ids) {
    for (const g of ring.querySelectorAll(".server")) g.classList.toggle("violating", ids.includes(Number(g.dataset.id)));
  }

  function showDetails(view, logs) {
    const dl = $("player-fields");
    dl.replaceChildren();
    const title = $("player-details-title");
    let rows = null;
    if (selectedMsg !== null) {
      const m = view.messages.shown.find(x => x.id === selectedMsg);
      if (m) { title.textContent = `Message #${m.id}: ${m.method}`; rows = CV.messageRows(m); }
    }
    if (!rows && selected !== null) {
      const c = view.cards[selected];
      title.textContent = `Server ${c.id}`;
      rows = CV.serverRows(c, logs, view).filter(([k]) => k !== "KV API");
      if (c.nextIndex) {
        rows.push(["nextIndex / matchIndex", CV.progressRows(c).map(([p, ni, mi]) => `S${p}: ${ni} / ${mi}`).join("\n")]);
      }
    }
    if (!rows) {
      title.textContent = "Details";
      dl.append(CV.el("dd", { className: "hint", textContent: "Click a server or a message on the ring." }));
      return;
    }
    for (const [k, v] of rows) dl.append(CV.el("dt", { textContent: k }), CV.el("dd", {}, ...(Array.isArray(v) ? v : [v])));
  }

  $("player-ring").addEventListener("click", e => {
    const msg = e.target.closest("[data-msg]");
    if (msg) { const id = Number(msg.dataset.msg); selectedMsg = selectedMsg === id ? null : id; selected = null; draw(); return; }
    const g = e.target.closest(".server");
    if (g) { const id = Number(g.dataset.id); selected = selected === id ? null : id; selectedMsg = null; draw(); }
  });

  slider.addEventListener("input", () => { pause(); show(Number(slider.value)); });
  $("player-prev").addEventListener("click", () => { pause(); if (count > 0) show(prevTime()); });
  $("player-next").addEventListener("click", () => { pause(); if (count < events.length) show(events[count].t); });
  $("player-play").addEventListener("click", () => (playing ? pause() : play()));

  // The moment before the latest event shown: the time of the last event earlier than it.
  function prevTime() {
    const now = events[count - 1].t;
    let i = count - 1;
    while (i > 0 && events[i - 1].t === now) i--;
    return i > 0 ? events[i - 1].t : 0;
  }

  function play() {
    if (at >= endMs) show(0);
    playing = true;
    lastFrame = null;
    $("player-play").textContent = "Pause";
    requestAnimationFrame(tick);
  }
  function pause() {
    playing = false;
    $("player-play").textContent = "Play";
  }
  function tick(now) {
    if (!playing) return;
    if (lastFrame !== null) {
      const speed = Number($("player-speed").value);
      const t = Math.min(at + (now - lastFrame) * speed, endMs);
      // Only the events that happened since the last frame are applied, not the whole run again.
      const c = countAt(t);
      for (let i = count; i < c; i++) apply(state, events[i]);
      at = t;
      count = c;
      draw();
      if (at >= endMs) { pause(); return; }
    }
    lastFrame = now;
    requestAnimationFrame(tick);
  }

  // Keys, while no text field has the focus: space plays or pauses, the arrows step an event.
  document.addEventListener("keydown", e => {
    if (e.target.closest("input:not([type=range]), textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " " && e.target.closest("button")) return;   // a focused button clicks itself
    if (e.key === " ") { e.preventDefault(); playing ? pause() : play(); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); $("player-prev").click(); }
    else if (e.key === "ArrowRight") { e.preventDefault(); $("player-next").click(); }
  });

  // --- the table follows the player; a click on a row moves the player there ---

  const rows = [...document.querySelectorAll("#log tbody tr")];
  const rowMs = rows.map(r => {
    const m = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(r.cells[0].textContent.trim());
    return m ? (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 : 0;
  });
  let marked = null, clicked = null;
  function followTable() {
    let lo = 0, hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rowMs[mid] <= at + 1e-6) lo = mid + 1; else hi = mid;
    }
    // Many rows share a moment: the one clicked stays marked while the player stays there.
    const row = clicked !== null && rowMs[clicked] === at ? rows[clicked] : lo > 0 ? rows[lo - 1] : null;
    if (row === marked) return;
    if (marked) marked.classList.remove("at-cursor");
    marked = row;
    if (row) {
      row.classList.add("at-cursor");
      // While it plays with the player scrolled away (the learner reads the table), the table
      // keeps the row on the screen: scrolled once the row has left it, at most twice a second,
      // as scrolling a long table costs the browser a fresh layout of it.
      const now = performance.now();
      if (playing && now - scrolledAt > 500 && $("player").getBoundingClientRect().bottom < 0) {
        const box = row.getBoundingClientRect();
        if (box.bottom > innerHeight || box.top < 0) {
          row.scrollIntoView({ block: "center" });
          scrolledAt = now;
        }
      }
    }
  }
  let scrolledAt = -Infinity;
  document.querySelector("#log tbody").addEventListener("click", e => {
    const tr = e.target.closest("tr");
    if (!tr || e.target.closest("a, button")) return;
    pause();
    clicked = rows.indexOf(tr);
    show(rowMs[clicked]);
  });

  // A failing run opens where it broke: at a safety violation, else at the test's failed assertion.
  const alarm = events.find(e => e.type === "violation") || events.find(e => e.type === "failure");
  window.raftPlayer = { show: t => show(t), get at() { return at; }, get count() { return count; }, state: () => state, view: () => viewOf(state, at), endMs, alarm };
  // A link may name a moment: page.html#t=233.3 opens the player there.
  const asked = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
  show(asked ? Number(asked[1]) : alarm ? alarm.t : 0);
  // When the player was first drawn, from the start of navigation (the browser test reads it).
  document.body.dataset.playerReady = performance.now().toFixed(0);
})();
