// The playground's page: draws the state the server sends over Server-Sent Events, and turns
// clicks into calls of the JSON API. No framework, no build step, nothing from the network.
// The ring, its timers and messages, the logs and the details' rows are drawn by ClusterView
// (clusterview.js, TestLogViz's), which a test page's player draws with too.
"use strict";
(() => {
  const $ = id => document.getElementById(id);
  const { el, termColour, fmtMs } = ClusterView;
  const KEEP_LINES = 500;           // log lines kept on the page; older ones are dropped
  const cards = [];                 // per server: the elements updated in place on every state
  // The live run as the updates built it: per server, its log's terms index by index, how many
  // changes its log has had (so an unchanged view is not redrawn), and its data store's pairs.
  const live = { logs: [], logVersion: [], stores: [] };
  let liveLast = null;              // the latest update
  // What the page draws: the latest update with the live model, or a state of the past with its own.
  let last = null, model = live;
  // While the learner looks at the past: the moment asked for, and the state drawn (null while live).
  let past = null;
  let selected = null;              // the server whose state the details panel shows
  let selectedMsg = null;           // or the message whose fields it shows: its last known view
  let clock = null, clockAt = 0;    // the cluster's clock as the latest update gave it, and when (performance.now())
  let filterText = "";

  // Changes an element only if its text differs: writing the same text again still replaces its
  // node and makes the browser lay the page out again, four times a second for every field.
  function put(e, text) {
    text = String(text);
    if (e.textContent !== text) e.textContent = text;
  }
  // The same for a property such as hidden, disabled or className.
  function set(e, name, value) {
    if (e[name] !== value) e[name] = value;
  }

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

  // --- the ring: servers on a circle, a line for every pair ---

  function showRing(s) {
    ClusterView.drawRing($("ring"), s, { selected });
  }

  // --- the cluster's time, between two updates: moved on at its speed unless paused ---

  function clusterNow() {
    if (!clock) return 0;
    return clock.paused ? clock.timeMs : clock.timeMs + (performance.now() - clockAt) * clock.speed;
  }

  // --- drawn every frame over the ring: each follower's election timer, each message on its way ---

  // Whether the state drawn stands still at its moment: one of the past (also while, after
  // "Continue from here", the new run's first update is awaited).
  const still = () => past !== null || waitingForRun !== null;

  function drawLive() {
    if (!last) return;
    // A state of the past stands still at its moment; the live one runs on from its update.
    const now = still() ? last.timeMs : clusterNow();
    ClusterView.drawLive($("ring"), last, now, { selectedMsg: selectedMsg && selectedMsg.id, timerAheadMs });
    // Slowed, the time moves on every frame; at 1/2 and faster, four times a second is all anyone
    // reads (and each change of text lays the page out again).
    if (!still() && (clock.speed < 0.5 || performance.now() - clockShownAt >= 250)) showClusterTime(now);
  }
  // A follower that hears from a leader has its election timer restarted with every heartbeat, 50 ms
  // apart, which the page does not see between two updates (250 ms of cluster time at 1×): its
  // timer is drawn running on from the update only that long, not filling up (and turning red) as
  // if it were about to stand. One with no leader it can hear runs on to its timeout.
  const HEARTBEAT_MS = 50;
  function timerAheadMs(c) {
    const leader = last.cards.find(l => l.role === "Leader" && l.status === "connected" && l.term === c.term && l.id !== c.id);
    if (!leader || c.status !== "connected") return Infinity;
    const link = last.links.find(k => k.a === Math.min(c.id, leader.id) && k.b === Math.max(c.id, leader.id));
    return link && link.state === "up" ? HEARTBEAT_MS : Infinity;
  }

  let clockShownAt = -Infinity;
  function showClusterTime(ms) {
    clockShownAt = performance.now();
    const text = fmtMs(ms);
    if ($("cluster-time").textContent !== text) $("cluster-time").textContent = text;
  }

  // While the clock runs: drawn 30 times a second when slowed, 10 at 1/2 and faster (where a
  // message lasts a few ms, less than a frame, and a timer's arc moves a few pixels a frame).
  // Otherwise (paused, or a moment of the past) only when something it shows changed, so that
  // nothing is replaced under a click. A frame is asked for only when one is to be drawn: a
  // browser asked for every frame works 60 times a second even when nothing changes.
  let liveVersion = 0, drawnVersion = -1, drawnAt = -Infinity;
  let frameAsked = false, frameTimer = 0;
  function askFrame() {
    if (!frameAsked) {
      frameAsked = true;
      requestAnimationFrame(frame);
    }
  }
  function askFrameIn(ms) {
    clearTimeout(frameTimer);
    frameTimer = setTimeout(askFrame, ms);
  }
  function redrawLive() {
    liveVersion++;
    askFrame();
  }
  function frame(t) {
    frameAsked = false;
    if (!last || !clock) return;
    if (!still() && !clock.paused) {
      const gap = 1000 / (clock.speed >= 0.5 ? 10 : 30);
      if (t - drawnAt < gap - 2) {
        askFrameIn(drawnAt + gap - 2 - t);
        return;
      }
      askFrameIn(gap - 4);
    } else if (drawnVersion === liveVersion) {
      return;
    }
    drawLive();
    drawnVersion = liveVersion;
    drawnAt = t;
  }
  setInterval(() => put($("wall-time"), new Date().toLocaleTimeString("en-GB")), 1000);

  function select(id) {
    selected = selected === id ? null : id;
    selectedMsg = null;
    redrawLive();
    if (last) { showRing(last); showDetails(last); showLogs(last); }
  }
  function selectMsg(id) {
    const m = last && last.messages.shown.find(x => x.id === id);
    if (!m) return;
    selectedMsg = selectedMsg && selectedMsg.id === id ? null : m;
    selected = null;
    redrawLive();
    if (last) { showRing(last); showDetails(last); showLogs(last); }
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
    set($("details-hint"), "hidden", true);
    put($("details-title"), `Message #${m.id}: ${m.method}`);
    set($("progress"), "hidden", true);
    const rows = ClusterView.messageRows(m);
    if (detailsShow(["msg", rows])) {
      const dl = $("details-fields");
      dl.replaceChildren();
      for (const [k, v] of rows) dl.append(el("dt", { textContent: k }), el("dd", { textContent: v, className: k === "fields" || k === "reply" ? "fields" : "" }));
    }
    const drop = $("msg-drop");
    set(drop, "hidden", false);
    set(drop, "disabled", !["sending", "handling", "replying"].includes(m.stage) || !s.canControl || past !== null);
    drop.dataset.msg = m.id;
  }
  $("msg-drop").addEventListener("click", () => run("/api/messages/" + $("msg-drop").dataset.msg + "/drop"));

  // The selected server's menu: only what applies to its status; nothing in the past (it acts on the live run).
  function showMenu(c) {
    const menu = $("server-menu");
    set(menu, "hidden", !c);
    if (!c) return;
    menu.dataset.server = c.id;
    const applies = { crash: c.status !== "crashed", restart: c.status === "crashed", disconnect: c.status === "connected", reconnect: c.status === "disconnected",
      timeout: c.status !== "crashed" && c.role !== "Leader" };
    for (const b of menu.querySelectorAll("button[data-action]")) {
      set(b, "hidden", !applies[b.dataset.action]);
      set(b, "disabled", past !== null);
    }
    set($("send-here"), "disabled", past !== null);
    $("send-here").classList.toggle("current", $("kv-server").value === String(c.id));
  }
  for (const b of $("server-menu").querySelectorAll("button[data-action]")) {
    b.addEventListener("click", () => run("/api/servers/" + $("server-menu").dataset.server + "/" + b.dataset.action));
  }
  $("send-here").addEventListener("click", () => {
    const id = $("server-menu").dataset.server;
    $("kv-server").value = id;
    $("send-here").classList.add("current");
    notice(`The console's requests go to S${id} first: a follower points the client to the leader it knows.`, false);
  });

  function showDetails(s) {
    set($("msg-drop"), "hidden", true);
    if (selectedMsg) { showMenu(null); showMessage(s); return; }
    const c = selected === null ? null : s.cards[selected];
    showMenu(c);
    set($("details-hint"), "hidden", c !== null);
    put($("details-title"), c ? `Server ${c.id}` : "Server");
    const rows = c ? ClusterView.serverRows(c, model.logs, s) : [];
    const progress = c && c.nextIndex ? ClusterView.progressRows(c) : null;
    // A value is text, or nodes (a term's swatch and its number), told apart by their text and colour.
    const text = v => Array.isArray(v) ? v.map(x => typeof x === "string" ? x : x.textContent + x.style.background) : v;
    if (!detailsShow(["server", rows.map(([k, v]) => [k, text(v)]), progress])) return;
    const dl = $("details-fields");
    dl.replaceChildren();
    for (const [k, v] of rows) dl.append(el("dt", { textContent: k }), el("dd", {}, ...(Array.isArray(v) ? v : [v])));
    set($("progress"), "hidden", !progress);
    if (progress) {
      const body = $("progress").querySelector("tbody");
      body.replaceChildren();
      for (const [peer, ni, mi] of progress) {
        body.append(el("tr", {}, el("td", { textContent: "S" + peer }), el("td", { textContent: ni }), el("td", { textContent: mi })));
      }
    }
  }

  // Whether the details' rows must be drawn again: only when what they say changed.
  let detailsShown = "";
  function detailsShow(what) {
    const key = JSON.stringify(what);
    if (key === detailsShown) return false;
    detailsShown = key;
    return true;
  }

  // --- the logs: a row of cells per server ---

  function applyLog(m, change) {
    const terms = m.logs[change.id] || (m.logs[change.id] = []);
    m.logVersion[change.id] = (m.logVersion[change.id] || 0) + 1;
    terms.length = change.from;
    for (let k = 0; k < change.runs.length; k += 2) {
      for (let m = 0; m < change.runs[k + 1]; m++) terms.push(change.runs[k]);
    }
  }

  function showLogs(s) {
    put($("progress-of"), ClusterView.drawLogs($("log-rows"), s, model.logs, { selected, logVersion: model.logVersion }));
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
    const look = JSON.stringify([view.role, view.status, view.term, view.votedFor, view.logLength, view.commitIndex, view.lastApplied]);
    if (c.card.dataset.look !== look) {
      c.card.dataset.look = look;
      set(c.card, "className", "card " + view.role);
      c.card.dataset.role = view.role;
      c.card.dataset.status = view.status;
      put(c.role, view.role);
      put(c.status, view.status);
      set(c.status, "className", "status " + view.status);
      c.fields.term.replaceChildren(el("span", { className: "swatch" }), String(view.term));
      c.fields.term.firstChild.style.background = termColour(view.term);
      put(c.fields.votedFor, view.votedFor < 0 ? "nobody" : view.votedFor);
      put(c.fields.logLength, view.logLength);
      put(c.fields.commitIndex, view.commitIndex);
      put(c.fields.lastApplied, view.lastApplied);
    }
    // In the past nothing can be done: the buttons act on the live run.
    set(c.buttons.crash, "disabled", view.status === "crashed" || past !== null);
    set(c.buttons.restart, "disabled", view.status !== "crashed" || past !== null);
    set(c.buttons.disconnect, "disabled", view.status !== "connected" || past !== null);
    set(c.buttons.reconnect, "disabled", view.status !== "disconnected" || past !== null);

    // The data store's pairs: redrawn only when they change, so they can be selected and read.
    const data = view.status === "crashed" ? null : (model.stores[view.id] || {});
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
    for (let id = 0; id < s.servers; id++) $("kv-server").append(el("option", { value: id, textContent: "S" + id }));
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
      set(b, "disabled", (name === "stop" ? !running : running) || past !== null);
      b.classList.toggle("current", !!sc && sc.name === name);
    }
    const text = $("scenario-text");
    set(text, "className", running ? "running" : sc && sc.failed ? "failed" : "");
    set(text.dataset, "step", String(sc ? sc.step : ""));
    put(text, !sc ? "Each one first makes the cluster whole, then goes step by step, pausing after each."
      : running ? `${sc.title}, step ${sc.step} of ${sc.steps}: ${sc.text}` : `${sc.title}: ${sc.text}`);
  }

  // --- the timeline: ribbons laid out by the server with TestLogViz's states and labels ---

  // Its elements are kept and changed in place: the segments move a little with every update.
  function showTimeline(t) {
    const lanes = $("lanes");
    t.lanes.forEach((lane, k) => {
      let row = lanes.children[k];
      if (!row) {
        row = el("div", { className: "lane" }, el("span", { className: "name", textContent: lane.server }), el("div", { className: "ribbon" }));
        lanes.append(row);
      }
      const ribbon = row.lastChild;
      const parts = lane.segments.map(s => ["seg " + s.state, s.label, s.title, s.left, s.width]);
      if (t.nowPercent < 100) parts.push(["future", "", "still to come", t.nowPercent, 100 - t.nowPercent]);
      while (ribbon.childElementCount > parts.length) ribbon.lastChild.remove();
      parts.forEach(([cls, label, title, left, width], i) => {
        const seg = ribbon.children[i] || ribbon.appendChild(el("span", {}));
        if (seg.className !== cls) seg.className = cls;
        put(seg, label);
        if (seg.title !== title) seg.title = title;
        if (seg.style.left !== left + "%") seg.style.left = left + "%";
        if (seg.style.width !== width + "%") seg.style.width = width + "%";
      });
    });
    while (lanes.childElementCount > t.lanes.length) lanes.lastChild.remove();
    put($("from"), t.from + " s");
    put($("to"), t.to + " s");
  }

  // --- the log lines ---

  // Whether the log box is scrolled to its end, read before anything of the page changes (reading it after would make the browser lay the page out twice).
  function linesAtBottom() {
    const box = $("lines");
    return box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  }

  // The live run's latest lines, kept while the page shows the past, to be shown again after it.
  const liveLines = [];

  function lineRow(line) {
    if (line.note !== undefined) {
      const note = el("div", { className: "skipped", textContent: line.note });
      note.dataset.text = "";
      return note;
    }
    const row = el("div", {}, el("span", { className: "t", textContent: line.time + " " }),
      el("span", { className: "id " + line.id, textContent: line.id }), " " + line.message);
    row.dataset.text = (line.id + " " + line.message).toLowerCase();
    row.hidden = filterText !== "" && !row.dataset.text.includes(filterText);
    return row;
  }

  // An update's lines: kept, and shown unless the page shows the past.
  function addLines(lines, skipped, atBottom) {
    // Too many lines to send them all (or to read them): said where they would have been.
    const added = skipped > 0 ? [{ note: `… ${skipped} lines not shown: more than the page is sent per update` }, ...lines] : lines;
    liveLines.push(...added);
    if (liveLines.length > KEEP_LINES) liveLines.splice(0, liveLines.length - KEEP_LINES);
    if (past) return;
    // Off screen, the box is left as it is and filled when it comes into view: an idle cluster at
    // 1x writes some 200 lines a second, and making their rows was most of an idle page's work.
    if (!linesInView) { linesBehind = true; return; }
    const box = $("lines");
    box.append(...added.map(lineRow));
    while (box.childElementCount > KEEP_LINES) box.firstElementChild.remove();
    // Scrolled when the browser lays the page out anyway, rather than forcing a layout of its own now.
    if (atBottom) requestAnimationFrame(() => { box.scrollTop = box.scrollHeight; });
  }

  let linesInView = true, linesBehind = false;
  new IntersectionObserver(entries => {
    linesInView = entries[entries.length - 1].isIntersecting;
    if (linesInView && linesBehind && !past) showLines(liveLines);
  }).observe($("lines"));

  // The box's lines all replaced: the live run's on coming back to it, or those up to a moment of the past.
  function showLines(lines) {
    linesBehind = false;
    const box = $("lines");
    box.replaceChildren(...lines.map(lineRow));
    requestAnimationFrame(() => { box.scrollTop = box.scrollHeight; });
  }

  $("filter").addEventListener("input", () => {
    filterText = $("filter").value.trim().toLowerCase();
    for (const row of $("lines").children) row.hidden = filterText !== "" && !row.dataset.text.includes(filterText);
  });

  // --- the KV console ---

  const op = $("kv-op");
  function showFields() {
    set($("kv-value"), "hidden", op.value === "get");
    set($("kv-compare"), "hidden", op.value !== "cas");
  }
  op.addEventListener("change", showFields);
  showFields();

  $("kv-form").addEventListener("submit", async e => {
    e.preventDefault();
    const body = { key: $("kv-key").value, value: $("kv-value").value, compare: $("kv-compare").value };
    const first = $("kv-server").value;
    if (first !== "") body.server = Number(first);
    const what = (op.value === "get" ? `Get(${body.key})`
      : op.value === "cas" ? `CAS(${body.key}, ${body.compare}, ${body.value})`
      : `${op.options[op.selectedIndex].text}(${body.key}, ${body.value})`) + (first !== "" ? ` to S${first} first` : "");
    const item = el("li", { textContent: what + " … " });
    $("kv-results").prepend(item);
    try {
      const a = await post("/api/kv/" + op.value, body);
      item.dataset.ok = a.ok;
      if (a.ok) {
        const found = a.keyFound ? JSON.stringify(a.value) : "(no such key)";
        // A CAS swaps only if the key held the compare value; otherwise what it held is the news.
        item.append(op.value === "get" ? "value " + found : op.value === "cas" ? (a.swapped ? "swapped" : `not swapped (${a.keyFound ? "was " + found : "no such key"})`) : "was " + found);
      } else {
        item.append(el("span", { className: "fail", textContent: "failed: " + a.error }));
      }
      const who = a.server === null ? "" : "server " + a.server + " · ";
      item.append(el("span", { className: "who", textContent: " · " + who + a.elapsedMs + " ms of cluster time" }));
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
    put($("pause"), c.paused ? "Resume" : "Pause");
    $("pause").classList.toggle("paused", c.paused);
    for (const id of ["step-timer", "step-message", "step-10"]) set($(id), "disabled", !c.paused);
    put($("clock-state"), c.paused ? "paused" : c.speed < 1 ? `at 1/${Math.round(1 / c.speed)}×` : "");
    if (document.activeElement !== $("speed")) {
      const opt = [...$("speed").options].find(o => Math.abs(Number(o.value) - c.speed) < 1e-9);
      if (opt) $("speed").value = opt.value;
    }
    // The time of the update, exactly (in the past too: the clock's time is the live run's).
    showClusterTime(c.timeMs);
    askFrame();
    showTravel();
  }

  // How many messages the cluster sent since the previous update: at full speed most begin and end between two.
  let sentBefore = null;
  function showMessageSummary(m) {
    const sent = m.sent;
    if (sentBefore) {
      const d = k => sent[k] - sentBefore[k];
      put($("msg-summary"), `sent since the last update: ${d("heartbeats")} heartbeats, ${d("appendEntries")} AppendEntries with entries, ${d("requestVote")} RequestVote`
        + ` · drawn: ${m.shown.length}` + (m.notShown ? ` (${m.notShown} more not drawn)` : "") + (clock && clock.speed === 1 && !clock.paused ? " · at 1× most are over before the page sees them: slow down to watch them" : ""));
    }
    sentBefore = sent;
  }

  // --- drawing a whole state: the latest update, or a moment of the past ---

  function drawState(s, m) {
    last = s;
    model = m;
    redrawLive();
    showRing(s);
    showDetails(s);
    showGroups(s);
    showLogs(s);
    showScenario(s.scenario);
    for (const view of s.cards) showCard(view);
    showTimeline(s.timeline);
  }

  // --- time travel: the cluster as it was at a moment of this run, and a new run from there ---

  const slider = $("tt-slider");
  // Seconds, to the ms (to the tenth of one for a moment typed so).
  const secs = (ms, digits) => (ms / 1000).toFixed(digits === 3 && !Number.isInteger(ms) ? 4 : digits) + " s";
  let waitingForRun = null;         // after "Continue from here": the old run, whose updates are no longer drawn

  // The bar: the seed, the slider over the run so far (its end the live time while live), the buttons.
  function showTravel() {
    if (!clock) return;
    put($("tt-seed"), "seed " + clock.seed);
    set($("tt-seed"), "title", `run ${clock.run} of this playground: the same seed and the same inputs make the same run`);
    set(slider, "max", String(clock.endMs));
    set(slider, "disabled", clock.endMs <= 0);
    // While live the thumb stays at the end, which is now; the moment's field is empty ("now").
    if (!past) {
      slider.value = clock.endMs;
      if (document.activeElement !== $("tt-at")) $("tt-at").value = "";
    }
    put($("tt-end"), secs(clock.endMs, 1));
    set($("tt-continue"), "disabled", past === null || last === liveLast || !liveLast || !liveLast.canControl);
    set($("tt-now"), "disabled", past === null);
    if (past) {
      const at = last && last !== liveLast ? last.clock.timeMs : null;
      put($("past-banner"), at === null ? `Fetching the cluster as it was at ${secs(past.atMs, 3)}…`
        : `The past: the cluster as it was at ${secs(at, 3)} — the live run is at ${secs(clock.timeMs, 1)}.`
          + (past.atMs !== at ? " Fetching " + secs(past.atMs, 3) + "…" : "")
          + " The controls act on the live run: Back to now, or Continue from here (the later past is dropped).");
    }
  }

  // Into the past, or to another moment of it: asked for at once unless a request is on its way,
  // whose answer is drawn and then the latest moment asked for is (so at most one is in flight).
  let fetching = false, askTimer = 0;
  function travelTo(ms) {
    if (!clock) return;
    const at = Math.min(Math.max(ms, 0), clock.endMs);
    if (!past) {
      past = { atMs: at };
      document.body.classList.add("past");
      for (const id of ["partition-run", "heal", "kv-run"]) $(id).disabled = true;
      set($("past-banner"), "hidden", false);
    }
    past.atMs = at;
    slider.value = at;
    if (document.activeElement !== $("tt-at")) $("tt-at").value = at.toFixed(1);
    showTravel();
    clearTimeout(askTimer);
    askTimer = setTimeout(fetchPast, 40);
  }

  async function fetchPast() {
    if (fetching) return;
    fetching = true;
    try {
      let asked = null;
      while (past && past.atMs !== asked) {
        asked = past.atMs;
        try {
          const resp = await fetch("/api/state?atMs=" + asked);
          const s = await resp.json().catch(() => ({ error: resp.status + " " + resp.statusText }));
          if (!resp.ok) throw new Error(s.error || resp.statusText);
          if (past && s.clock.run === lastRun) drawPast(s);
        } catch (e) {
          notice(`could not get the cluster at ${secs(asked, 3)}: ${e.message}`, true);
        }
      }
    } finally {
      fetching = false;
    }
  }

  // A state of the past is whole: every log from 0, every store on its card.
  function drawPast(s) {
    s.timeMs = s.clock.timeMs;
    const m = { logs: [], logVersion: ["past", s.timeMs, s.clock.run], stores: s.cards.map(c => c.data || {}) };
    for (const change of s.logs) applyLog(m, change);
    if (selectedMsg && !s.messages.shown.some(x => x.id === selectedMsg.id)) selectedMsg = null;
    const onWay = s.messages.shown.filter(x => x.endMs === undefined || x.endMs === null).length;
    $("msg-summary").textContent = `at ${fmtMs(s.timeMs)}: ${onWay} messages on their way`;
    drawState(s, m);
    showLines([{ note: `the last lines up to ${fmtMs(s.timeMs)}, where the page stands in the past` }, ...s.lines]);
    showTravel();
  }

  // Back to the live run: its latest update drawn (unless a new run is awaited), its lines shown again.
  function backToNow(draw) {
    if (!past) return;
    past = null;
    clearTimeout(askTimer);
    document.body.classList.remove("past");
    for (const id of ["partition-run", "heal", "kv-run"]) $(id).disabled = false;
    set($("past-banner"), "hidden", true);
    showLines(liveLines);
    if (draw && liveLast) {
      showMessageSummary(liveLast.messages);
      drawState(liveLast, live);
    }
    showTravel();
  }

  // The slider's right end is now: dragged back there, the page is live again.
  slider.addEventListener("input", () => {
    const ms = Number(slider.value);
    if (ms >= clock.endMs - 1) backToNow(true);
    else travelTo(ms);
  });
  $("tt-at").addEventListener("change", () => {
    const ms = Number($("tt-at").value);
    if (Number.isFinite(ms)) travelTo(ms);
  });
  $("tt-now").addEventListener("click", () => backToNow(true));
  $("tt-continue").addEventListener("click", async () => {
    if (!past || !last || last === liveLast) return;
    const at = last.clock.timeMs, runBefore = lastRun;
    try {
      notice((await post("/api/clock/fork", { atMs: at })).message + ": resume, or step, from here", false);
    } catch (e) {
      notice(e.message, true);
      return;
    }
    // The moment drawn stays on the page until the new run's first update replaces it.
    if (lastRun === runBefore) waitingForRun = runBefore;
    backToNow(false);
  });
  $("new-cluster").addEventListener("submit", e => {
    e.preventDefault();
    const seed = $("new-seed").value.trim();
    run("/api/cluster/new", seed === "" ? {} : { seed: Number(seed) });
  });

  // --- the network switch ---

  $("unreliable").addEventListener("change", e => run("/api/network/" + (e.target.checked ? "unreliable" : "reliable")));

  // --- live updates; EventSource reconnects by itself if the stream drops ---

  // What the updates built up, dropped before an update that carries everything whole again.
  function startOver() {
    live.logs.length = 0;
    live.logVersion.length = 0;
    live.stores.length = 0;
    liveLines.length = 0;
    sentBefore = null;
    selectedMsg = null;
    if (!past) $("lines").replaceChildren();
  }

  let lastRun = null;               // the run the latest update was of: a fork or a new cluster makes a new one
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    $("live").textContent = "live";
    set($("live"), "className", "");
    // A new stream starts from scratch: its first update carries every log and store whole.
    startOver();
  });
  events.addEventListener("error", () => { $("live").textContent = "disconnected: is the playground running?"; $("live").className = "off"; });
  // What drawing costs and what the stream brings, for anyone who asks (the browser test does).
  const stats = window.playgroundStats = { updates: 0, bytes: 0, drawMs: 0, maxDrawMs: 0 };
  events.addEventListener("state", e => {
    const started = performance.now();
    const atBottom = linesAtBottom();
    const s = JSON.parse(e.data);
    // A new run (a fork, a new cluster): its first update carries every log, store and line of it whole.
    const newRun = lastRun !== null && s.clock.run !== lastRun;
    if (newRun) startOver();
    lastRun = s.clock.run;
    s.timeMs = s.clock.timeMs;        // the cluster time the update describes: its timers run on from there
    liveLast = s;
    put($("size"), s.servers + " servers");
    // A client who may only watch (--watch-only, from another machine) is not shown controls that would be refused.
    document.body.classList.toggle("watch-only", !s.canControl);
    if (document.activeElement !== $("unreliable")) $("unreliable").checked = s.network === "unreliable";
    for (const change of s.logs) applyLog(live, change);
    // The data stores come as changes: a reset replaces a store, otherwise the keys given are set.
    for (const change of s.data) {
      const store = change.reset ? {} : (live.stores[change.id] || {});
      live.stores[change.id] = Object.assign(store, change.set);
    }
    showClock(s.clock);
    addLines(s.lines, s.linesSkipped || 0, atBottom);
    // The past a new run came from is gone with the old run: the page goes back to now.
    if (newRun && past) backToNow(false);
    if (waitingForRun !== null && s.clock.run === waitingForRun) return;
    waitingForRun = null;
    if (!past) {
      showMessageSummary(s.messages);
      drawState(s, live);
    }
    const took = performance.now() - started;
    stats.updates++;
    stats.bytes += e.data.length;
    stats.drawMs += took;
    stats.maxDrawMs = Math.max(stats.maxDrawMs, took);
  });
})();
