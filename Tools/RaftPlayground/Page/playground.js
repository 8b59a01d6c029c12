// The playground's page: draws the state the server sends over Server-Sent Events, and turns
// clicks into calls of the JSON API. No framework, no build step, nothing from the network.
"use strict";
(() => {
  const $ = id => document.getElementById(id);
  const KEEP_LINES = 500;           // log lines kept on the page; older ones are dropped
  const cards = [];                 // per server: the elements updated in place on every state
  const stores = [];                // per server: its data store's pairs as the updates built them
  let filterText = "";

  // --- the JSON API ---

  async function post(path, body) {
    const resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
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

  // --- server cards: built once, then updated in place so a button is never replaced under a click ---

  function el(tag, props, ...children) {
    const e = Object.assign(document.createElement(tag), props);
    e.append(...children);
    return e;
  }

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
      buttons[action].addEventListener("click", () => act(id, action));
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
    c.fields.term.textContent = view.term;
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
      for (const [k, v] of Object.entries(data)) {
        const row = el("tr", {}, el("td", { textContent: k }), el("td", { textContent: v }));
        row.dataset.key = k;
        c.kv.append(row);
      }
    }
  }

  async function act(id, action) {
    try {
      notice((await post("/api/servers/" + id + "/" + action)).message, false);
    } catch (e) {
      notice(e.message, true);
    }
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

  // --- the log ---

  function addLines(lines) {
    const box = $("lines");
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    for (const line of lines) {
      const row = el("div", {}, el("span", { className: "t", textContent: line.time + " " }),
        el("span", { className: "id " + line.id, textContent: line.id }), " " + line.message);
      row.dataset.text = (line.id + " " + line.message).toLowerCase();
      row.hidden = filterText !== "" && !row.dataset.text.includes(filterText);
      box.append(row);
    }
    while (box.childElementCount > KEEP_LINES) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
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

  // --- the network switch ---

  $("unreliable").addEventListener("change", async e => {
    try {
      notice((await post("/api/network/" + (e.target.checked ? "unreliable" : "reliable"))).message, false);
    } catch (err) {
      notice(err.message, true);
    }
  });

  // --- live updates; EventSource reconnects by itself if the stream drops ---

  const events = new EventSource("/api/events");
  events.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = ""; });
  events.addEventListener("error", () => { $("live").textContent = "disconnected: is the playground running?"; $("live").className = "off"; });
  events.addEventListener("state", e => {
    const s = JSON.parse(e.data);
    $("size").textContent = s.servers + " servers";
    // A client who may only watch (--watch-only, from another machine) is not shown controls that would be refused.
    document.body.classList.toggle("watch-only", !s.canControl);
    if (document.activeElement !== $("unreliable")) $("unreliable").checked = s.network === "unreliable";
    // The data stores come as changes: a reset replaces a store, otherwise the keys given are set.
    for (const change of s.data) {
      const store = change.reset ? {} : (stores[change.id] || {});
      stores[change.id] = Object.assign(store, change.set);
    }
    for (const view of s.cards) showCard(view);
    showTimeline(s.timeline);
    addLines(s.lines);
  });
})();
