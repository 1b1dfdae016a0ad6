// agui-dev dev console. Plain JavaScript, no framework, no build step: this file is embedded in the
// agui-dev binary as it is. The page runs under a strict CSP (no inline code or styles), so every
// handler is attached here. Server text (logs, agent output, tool results) is untrusted: it is only
// ever put in the page with textContent / text nodes, never parsed as HTML.
"use strict";

// ---- Token and fetch helpers -------------------------------------------------------------------

const TOKEN = document.querySelector('meta[name="agui-dev-token"]')?.content ?? "";
// Drop ?token=… from the address bar (and so from history, bookmarks, screen shares).
history.replaceState(null, "", "/");

// Read by the benchmarks (stackDrawnAt, lastRunDoneAt, eventsRendered).
window.__agui = window.__agui || {};

const $ = (sel) => document.querySelector(sel);

// Builds an element. Children that are strings become text nodes (never HTML).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c != null) el.append(c);
  return el;
}

const headers = (extra) => Object.assign({ "X-Agui-Dev-Token": TOKEN }, extra || {});

// JSON request with a timeout. Throws an Error with a readable message on HTTP or network errors.
async function api(path, { method = "GET", body, timeoutMs = 15000 } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(path, {
      method,
      headers: headers(body !== undefined ? { "Content-Type": "application/json" } : null),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: ctl.signal,
      cache: "no-store",
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}${text ? ": " + text.slice(0, 200) : ""}`);
    return JSON.parse(text);
  } catch (e) {
    if (e.name === "AbortError") throw new Error(`${method} ${path}: timed out`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

// Reads a text/event-stream response and calls onData(string) for each event's data.
// (EventSource cannot send the token header, hence this small parser.)
async function readSse(res, onData) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    if (buf.includes("\r")) buf = buf.replace(/\r\n?/g, "\n");
    // Walk the buffer with an index and cut it once per chunk (slicing per event is quadratic
    // when a chunk holds hundreds of events).
    let start = 0, end;
    while ((end = buf.indexOf("\n\n", start)) >= 0) {
      const block = buf.slice(start, end);
      start = end + 2;
      if (block.startsWith("data:") && !block.includes("\n")) { onData(block.slice(block[5] === " " ? 6 : 5)); continue; }
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
      }
      if (data.length) onData(data.join("\n"));
    }
    buf = buf.slice(start);
  }
}

const parseJson = (s) => { try { return JSON.parse(s); } catch { return undefined; } };
const pretty = (v) => JSON.stringify(v, null, 2);

// A raw string that is usually JSON (tool arguments and results): pretty-printed when it parses.
function prettyRaw(s) {
  if (typeof s !== "string") return pretty(s);
  const v = parseJson(s);
  return v === undefined ? s : pretty(v);
}

// 12s, 3m 04s, 2h 05m
function human(ms) {
  if (ms == null) return "";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

function shortMs(ms) {
  if (ms == null) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// Keeps a scrolling box pinned to the bottom unless the user scrolled up.
function stickyScroll(el) {
  let stick = true;
  el.addEventListener("scroll", () => {
    stick = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
  });
  return {
    follow() { if (stick) el.scrollTop = el.scrollHeight; },
    reset() { stick = true; el.scrollTop = el.scrollHeight; },
  };
}

// Stable colour per service name (a small palette; classes in app.css).
const SERVICE_COLOURS = 8;
function serviceColourClass(name) {
  let hash = 0x811c9dc5; // FNV-1a
  for (const ch of name) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return `svc svc-c${hash % SERVICE_COLOURS}`;
}

// Only http(s) URLs become links (a URL from the server must not be javascript:).
function safeHref(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

// ---- Stack panel: /api/status every second, control buttons ------------------------------------

const stack = {
  rows: new Map(),      // name -> {tr, cells, buttons}
  busy: new Set(),      // services with an action running
  pids: new Map(),      // name -> last pid seen (to notice restarts)
  names: [],
  drawn: false,
  timer: 0,
  inFlight: false,
};
const stackPidListeners = []; // fn(name, service) when a service's pid changes and it is ready

function setConnection(ok, text) {
  const conn = $("#conn");
  conn.textContent = conn.dataset.state = ok ? "connected" : "disconnected";
  conn.title = text || "";
  $("#stack").classList.toggle("stale", !ok);
}

// One poll at a time: a call while one is in flight is dropped (that one schedules the next).
async function pollStatus() {
  if (stack.inFlight) return;
  stack.inFlight = true;
  clearTimeout(stack.timer);
  try {
    drawStatus(await api("/api/status", { timeoutMs: 5000 }));
    setConnection(true);
  } catch (e) {
    setConnection(false, e.message);
  } finally {
    stack.inFlight = false;
  }
  stack.timer = setTimeout(pollStatus, 1000);
}

function drawStatus(st) {
  const name = st.stack || st.name;
  $("#stack-name").textContent = [name, st.pid != null ? `pid ${st.pid}` : null].filter(Boolean).join(" · ");
  const kind = st.offline == null ? "unknown" : st.offline ? "offline" : "real";
  $("#model-line").textContent = `model: ${st.model ?? "none"} (${kind})`;
  if (st.ok === false && st.error) $("#stack-message").textContent = st.error;

  const services = Array.isArray(st.services) ? st.services : [];
  const tbody = $("#stack-table tbody");
  const seen = new Set();
  for (const svc of services) {
    seen.add(svc.name);
    let row = stack.rows.get(svc.name);
    if (!row) stack.rows.set(svc.name, (row = makeStackRow(svc.name)));
    tbody.append(row.tr); // keeps the server's order
    updateStackRow(row, svc);
    const before = stack.pids.get(svc.name);
    if (svc.pid != null && svc.state === "ready" && before !== svc.pid) {
      stack.pids.set(svc.name, svc.pid);
      if (before !== undefined) for (const fn of stackPidListeners) fn(svc.name, svc);
    }
  }
  for (const [n, row] of stack.rows) if (!seen.has(n)) { row.tr.remove(); stack.rows.delete(n); }
  const names = services.map((s) => s.name);
  if (names.join("\0") !== stack.names.join("\0")) {
    stack.names = names;
    logs.setServices(names);
  }
  if (!stack.drawn && services.length) {
    stack.drawn = true;
    document.body.dataset.stackDrawn = "1";
    window.__agui.stackDrawnAt = performance.now();
  }
}

function makeStackRow(name) {
  const cells = {};
  const td = (key, cls) => (cells[key] = h("td", { class: cls || key }));
  const tr = h("tr", { "data-service": name },
    td("name"), td("state"), td("pid", "pid num"), td("url"), td("restarts", "restarts num"),
    td("uptime", "uptime num"), td("ready", "ready num"), td("exit"), td("actions"));
  cells.name.textContent = name;
  const buttons = {};
  for (const action of ["restart", "stop", "start"]) {
    buttons[action] = h("button", { type: "button", class: "small", "data-action": action, text: action });
    buttons[action].addEventListener("click", () => control(action, name));
    cells.actions.append(buttons[action]);
  }
  return { tr, cells, buttons, state: null };
}

function updateStackRow(row, svc) {
  const { cells, buttons } = row;
  if (row.state !== svc.state) {
    row.state = svc.state;
    cells.state.replaceChildren(h("span", { class: "badge", "data-state": svc.state, text: svc.state }));
    row.tr.dataset.state = svc.state;
  }
  setText(cells.pid, svc.pid == null ? "–" : String(svc.pid));
  const href = safeHref(svc.url);
  const urlText = svc.url || (svc.port != null ? `:${svc.port}` : "");
  const urlKey = `${href}|${urlText}|${svc.port_auto}`;
  if (cells.url.dataset.key !== urlKey) {
    cells.url.dataset.key = urlKey;
    cells.url.replaceChildren(href ? h("a", { href, target: "_blank", rel: "noreferrer", text: urlText }) : urlText);
    if (svc.port_auto) cells.url.append(h("span", { class: "muted", text: " (auto)" }));
  }
  setText(cells.restarts, String(svc.restarts ?? 0));
  setText(cells.uptime, human(svc.uptime_ms));
  setText(cells.ready, shortMs(svc.ready_ms));
  const exit = [svc.error, svc.last_exit].filter(Boolean).join(" — ");
  setText(cells.exit, exit);
  cells.exit.title = exit;
  cells.exit.classList.toggle("error-text", !!svc.error);
  const busy = stack.busy.has(svc.name);
  const running = ["ready", "starting", "pending", "backing_off"].includes(svc.state);
  buttons.restart.disabled = busy;
  buttons.stop.disabled = busy || svc.state === "stopped";
  buttons.start.disabled = busy || running;
}

// Writes only on change (the status poll runs every second; unchanged cells keep a selection alive).
const setText = (el, text) => { if (el.textContent !== text) el.textContent = text; };

async function control(op, name) {
  const row = stack.rows.get(name);
  stack.busy.add(name);
  if (row) for (const [a, b] of Object.entries(row.buttons)) { b.disabled = true; b.classList.toggle("busy", a === op); }
  const msg = $("#stack-message");
  msg.className = "status-line";
  msg.textContent = `${op} ${name}…`;
  try {
    // Restart and start answer once the services are ready, which can take a while.
    const ans = await api("/api/control", { method: "POST", body: { version: 1, op, services: [name] }, timeoutMs: 180000 });
    if (ans.ok === false) throw new Error(ans.error || "refused");
    msg.classList.add("ok");
    msg.textContent = `${op} ${name}: ${describeDone(ans.done)}`;
  } catch (e) {
    msg.classList.add("error-text");
    msg.textContent = `${op} ${name} failed: ${e.message}`;
  } finally {
    stack.busy.delete(name);
    if (row) row.buttons[op].classList.remove("busy");
    pollStatus();
  }
}

function describeDone(done) {
  if (!done) return "done";
  const parts = ["stopped", "restarted", "started"].filter((k) => done[k]?.length).map((k) => `${k} ${done[k].join(", ")}`);
  for (const v of done.variables || []) if (v.names?.length) parts.push(`${v.service}: changed ${v.names.join(", ")}`);
  return parts.join("; ") || "nothing to do";
}

// ---- Logs panel: history + live stream, filter, pause, ANSI colours ----------------------------

const MAX_LOG_DOM = 5000;     // lines kept in the DOM
const MAX_LOG_MEMORY = 20000; // lines kept to re-filter

const logs = {
  all: [],          // every line kept: {service, at_ms, text} or {missed: N}
  pending: [],      // lines received since the last frame
  paused: [],       // lines received while paused
  rendered: 0,      // lines in the DOM
  filter: null,     // function(line) -> bool, or null for all
  service: "",      // "" for all
  frame: 0,
  lastAt: 0,        // newest at_ms seen

  init() {
    this.view = $("#logs-lines");
    this.scroll = stickyScroll(this.view);
    $("#logs-service").addEventListener("change", (e) => { this.service = e.target.value; this.rerender(); });
    $("#logs-filter").addEventListener("input", (e) => this.setFilter(e.target.value));
    $("#logs-pause").addEventListener("change", (e) => this.setPaused(e.target.checked));
    $("#logs-clear").addEventListener("click", () => { this.all = []; this.paused = []; this.rerender(); this.updateCounts(); });
    this.connect();
  },

  setServices(names) {
    const sel = $("#logs-service");
    const keep = sel.value;
    sel.replaceChildren(h("option", { value: "", text: "All" }), ...names.map((n) => h("option", { value: n, text: n })));
    sel.value = names.includes(keep) ? keep : "";
  },

  // Plain substring, or /pattern/flags as a RegExp. An invalid pattern filters nothing and says so.
  setFilter(text) {
    const err = $("#logs-filter-error");
    err.textContent = "";
    const m = /^\/(.+)\/([a-z]*)$/.exec(text);
    if (!text) this.filter = null;
    else if (m) {
      try {
        const re = new RegExp(m[1], m[2].replace(/[gy]/g, ""));
        this.filter = (l) => re.test(l.text) || re.test(l.service);
      } catch (e) {
        err.textContent = "invalid regex";
        err.title = e.message;
        this.filter = null;
      }
    } else {
      const needle = text.toLowerCase();
      this.filter = (l) => l.text.toLowerCase().includes(needle) || l.service.toLowerCase().includes(needle);
    }
    this.rerender();
  },

  setPaused(on) {
    this.isPaused = on;
    if (!on) for (const l of this.paused.splice(0)) this.add(l);
    this.updateCounts();
  },

  matches(l) {
    if (l.missed != null) return true;
    if (this.service && l.service !== this.service) return false;
    return !this.filter || this.filter(l);
  },

  // A line from history or the stream.
  add(line) {
    if (this.isPaused) { this.paused.push(line); this.updateCounts(); return; }
    this.all.push(line);
    if (this.all.length > MAX_LOG_MEMORY) this.all.splice(0, this.all.length - MAX_LOG_MEMORY);
    if (line.at_ms > this.lastAt) this.lastAt = line.at_ms;
    if (this.matches(line)) this.pending.push(line);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  },

  flush() {
    this.frame = 0;
    const lines = this.pending;
    this.pending = [];
    if (!lines.length) return;
    const start = Math.max(0, lines.length - MAX_LOG_DOM);
    const frag = document.createDocumentFragment();
    for (let i = start; i < lines.length; i++) frag.append(this.lineElement(lines[i]));
    this.view.append(frag);
    this.rendered += lines.length - start;
    while (this.rendered > MAX_LOG_DOM) { this.view.firstChild.remove(); this.rendered--; }
    this.scroll.follow();
    this.updateCounts();
  },

  rerender() {
    this.view.replaceChildren();
    this.rendered = 0;
    this.pending = this.all.filter((l) => this.matches(l));
    this.scroll.reset();
    this.flush();
    this.updateCounts();
  },

  // One line: "<service> <text>", so that copying a selection gives clean plain text.
  lineElement(l) {
    if (l.missed != null) return h("div", { class: "log-line missed", text: `… ${l.missed} lines missed …` });
    const div = h("div", { class: "log-line" }, h("span", { class: serviceColourClass(l.service), text: l.service }), " ");
    appendAnsi(div, l.text);
    if (l.at_ms) div.title = new Date(l.at_ms).toLocaleTimeString();
    return div;
  },

  updateCounts() {
    $("#logs-buffered").textContent = this.isPaused ? `${this.paused.length} buffered` : "";
    $("#logs-count").textContent = `${this.rendered} shown`;
  },

  // Connect the stream first, then load history, so nothing falls in between; stream lines that
  // arrived before history loaded and are also in it are dropped.
  async connect() {
    let early = [];
    let historyLoaded = false;
    const onData = (data) => {
      const l = parseJson(data);
      if (!l || typeof l !== "object") return;
      if (l.missed == null && typeof l.text !== "string") return;
      if (l.missed == null) l.service = String(l.service ?? "");
      if (historyLoaded) this.add(l); else early.push(l);
    };
    try {
      const res = await fetch("/api/logs/stream", { headers: headers(), cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.outage = false;
      const reading = readSse(res, onData);
      await this.loadHistory(early);
      historyLoaded = true;
      early = [];
      await reading;
    } catch (e) {
      if (!this.outage) this.add({ service: "console", at_ms: Date.now(), text: `log stream: ${e.message}` });
      this.outage = true; // said once, not every 2 s while the stack is down
    }
    // The stream ended (stack stopped, server restarted): try again in a moment.
    setTimeout(() => this.connect(), 2000);
  },

  async loadHistory(early) {
    const since = this.lastAt; // on a reconnect, keep only what is newer than what we have
    let hist = [];
    try {
      hist = (await api("/api/logs?n=500")).lines || [];
    } catch (e) {
      this.add({ service: "console", at_ms: Date.now(), text: `log history: ${e.message}` });
    }
    const key = (l) => `${l.service}\0${l.at_ms}\0${l.text}`;
    const seen = new Map(); // key -> count, so repeated identical lines are dropped once each
    let last = 0;
    for (const l of hist) {
      if (since && l.at_ms <= since) continue;
      this.add(l);
      seen.set(key(l), (seen.get(key(l)) || 0) + 1);
      if (l.at_ms > last) last = l.at_ms;
    }
    for (const l of early) {
      const k = l.missed == null ? key(l) : null;
      if (k && l.at_ms <= last && seen.get(k)) { seen.set(k, seen.get(k) - 1); continue; }
      this.add(l);
    }
  },
};

// ANSI SGR -> spans. Colours 30-37/90-97 (and backgrounds 40-47/100-107), 1 bold, 0/39/49/22 resets;
// any other escape sequence is stripped.
// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;

function appendAnsi(parent, text) {
  if (!text.includes("\x1b")) { parent.append(text); return; }
  let fg = null, bg = null, bold = false, last = 0, m;
  const push = (s) => {
    if (!s) return;
    if (fg == null && bg == null && !bold) { parent.append(s); return; }
    const cls = [fg != null && `ansi-fg-${fg}`, bg != null && `ansi-bg-${bg}`, bold && "ansi-bold"].filter(Boolean).join(" ");
    parent.append(h("span", { class: cls, text: s }));
  };
  ANSI_RE.lastIndex = 0;
  while ((m = ANSI_RE.exec(text))) {
    push(text.slice(last, m.index));
    last = ANSI_RE.lastIndex;
    if (m[1] === undefined) continue; // not SGR: stripped
    const codes = m[1] === "" ? [0] : m[1].split(";").map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) { fg = bg = null; bold = false; }
      else if (c === 1) bold = true;
      else if (c === 22) bold = false;
      else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) fg = c;
      else if (c === 39) fg = null;
      else if ((c >= 40 && c <= 47) || (c >= 100 && c <= 107)) bg = c;
      else if (c === 49) bg = null;
      else if (c === 38 || c === 48) i += codes[i + 1] === 5 ? 2 : 4; // 256/true colour: skipped
    }
  }
  push(text.slice(last));
}

// ---- Agent panel: one run = POST /api/agent/run read as a stream; DOM updated once per frame ----

const MAX_TIMELINE_ROWS = 20000;
const ROW_TEMPLATE = h("tr", {}, h("td", { class: "num" }), h("td"), h("td", { class: "ids" }), h("td", { class: "num" }),
  h("td", { class: "span" }));

const agent = {
  thread: null,
  running: null,       // AbortController of the run in progress
  queue: [],           // messages from the stream not drawn yet
  frame: 0,
  events: new Map(),   // index -> event payload (for the detail box)
  rows: new Map(),     // index -> <tr>
  rowCount: 0,         // rows in the timeline now (at most MAX_TIMELINE_ROWS)
  runEvents: 0,        // events drawn in this run (rows trimmed off the top included)
  assistant: null,     // the assistant bubble receiving text
  assistantId: null,   // the messageId of the text in that bubble
  toolCards: new Map(),// tool call id -> card element
  marks: new Map(),    // index -> "violation" | "warning" | "run-error" (rows drawn later get it too)
  times: new Map(),    // index -> {ev, atMs}: when each event arrived, to find its span (traces.js)
  traceId: null,       // the trace of the run (the console sends its traceparent)
  runId: null,
  sentAt: 0,

  init() {
    this.timelineScroll = stickyScroll($("#timeline-wrap"));
    this.messagesScroll = stickyScroll($("#agent-messages"));
    $("#agent-form").addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    $("#agent-stop").addEventListener("click", () => this.running && this.running.abort());
    $("#agent-new").addEventListener("click", () => this.newChat());
    $("#timeline").addEventListener("click", (e) => {
      const tr = e.target.closest("tbody tr");
      if (!tr) return;
      for (const r of $("#timeline").querySelectorAll("tr.selected")) r.classList.remove("selected");
      tr.classList.add("selected");
      const ev = this.events.get(Number(tr.dataset.index));
      $("#timeline-detail").textContent = ev === undefined ? "(event no longer kept)" : pretty(ev);
    });
  },

  async newChat() {
    if (this.running) this.running.abort();
    const thread = this.thread;
    this.thread = null;
    $("#agent-thread").textContent = "";
    $("#agent-messages").replaceChildren();
    $("#agent-state").textContent = "{}";
    this.clearRun();
    this.status("new chat");
    if (thread) {
      try { await api("/api/agent/reset", { method: "POST", body: { thread } }); }
      catch (e) { this.status(`reset failed: ${e.message}`, "error-text"); }
    }
  },

  clearRun() {
    $("#timeline tbody").replaceChildren();
    $("#timeline-detail").textContent = "Click an event to see its JSON.";
    $("#agent-violation").hidden = true;
    $("#agent-violation").replaceChildren();
    $("#agent-errors").replaceChildren();
    $("#timeline-count").textContent = "";
    for (const m of [this.events, this.rows, this.marks, this.toolCards, this.times]) m.clear();
    this.traceId = this.runId = null;
    this.rowCount = this.runEvents = 0;
    this.queue = [];
    this.assistant = null;
    this.assistantId = null;
  },

  async send() {
    const input = $("#agent-input");
    const message = input.value.trim();
    if (!message || this.running) return;
    input.value = "";
    this.clearRun();
    $("#agent-messages").append(h("div", { class: "msg user", "data-testid": "user", text: message }));
    this.messagesScroll.reset();
    this.timelineScroll.reset();
    this.setRunning(true);
    this.status("running…");
    this.sentAt = performance.now();
    const ctl = new AbortController();
    this.running = ctl;
    let sawDone = false;
    try {
      const body = { message };
      if (this.thread) body.thread = this.thread;
      const res = await fetch("/api/agent/run", {
        method: "POST", headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(body), signal: ctl.signal, cache: "no-store",
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
      await readSse(res, (data) => {
        const m = parseJson(data);
        if (!m || typeof m !== "object") return;
        if (m.kind === "done") sawDone = true;
        this.queue.push(m);
        if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
      });
      if (!sawDone) this.queue.push({ kind: "error", message: "the run's stream ended early" });
    } catch (e) {
      this.queue.push({ kind: "error", message: e.name === "AbortError" ? "stopped" : e.message });
    }
    if (!sawDone) this.queue.push({ kind: "done", clean: false, local: true });
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  },

  status(text, cls) {
    $("#agent-status").className = "status-line " + (cls || "");
    $("#agent-status").textContent = text;
  },

  setRunning(on) {
    $("#agent-send").disabled = on;
    $("#agent-stop").hidden = !on;
    if (!on) this.running = null;
  },

  // Everything received since the last frame, drawn at once.
  flush() {
    this.frame = 0;
    const queue = this.queue;
    this.queue = [];
    const rows = [];
    let text = ""; // assistant text gathered in this frame: appended once
    let done = null;
    const flushText = () => {
      if (!text) return;
      if (!this.assistant) {
        this.assistant = h("div", { class: "msg assistant", "data-testid": "assistant" });
        $("#agent-messages").append(this.assistant);
      }
      this.assistant.append(text); // adjacent text nodes are fine; normalize() is not needed
      text = "";
    };
    for (const m of queue) {
      switch (m.kind) {
        case "run":
          this.thread = m.thread || this.thread;
          [this.traceId, this.runId] = [m.trace_id || null, m.run_id || null];
          $("#agent-thread").dataset.traceId = m.trace_id || "";
          $("#agent-thread").textContent = `thread ${this.thread || "?"} · run ${m.run_id || "?"} · ${m.service || ""} ${m.url || ""}`;
          break;
        case "event":
          rows.push(this.timelineRow(m));
          break;
        case "text":
          if (m.message_id && m.message_id !== this.assistantId) {
            // A new assistant message of the same run: a bubble of its own.
            flushText();
            if (this.assistantId) this.assistant = null;
            this.assistantId = m.message_id;
          }
          text += m.text || "";
          break;
        case "tool_call":
          flushText();
          this.assistant = null; // text after a tool call goes in a new bubble
          this.toolCard(m);
          break;
        case "tool_result": {
          flushText();
          const c = this.toolCard(m);
          c.result.textContent = prettyRaw(m.result ?? "");
          c.card.classList.add("has-result");
          break;
        }
        case "state":
          $("#agent-state").textContent = pretty(m.state);
          break;
        case "violation":
          this.mark(m.index, "violation");
          $("#agent-violation").hidden = false;
          $("#agent-violation").replaceChildren(
            h("strong", { text: `broken AG-UI rule ${m.rule} at event ${m.index}: ` }), m.message || "");
          break;
        case "warning":
          this.mark(m.index, "warning");
          this.error(`warning ${m.rule} at event ${m.index}: ${m.message || ""}`, "warning");
          break;
        case "run_error":
          this.mark(m.index, "run-error");
          this.error(`RUN_ERROR at event ${m.index}${m.code ? ` (${m.code})` : ""}: ${m.message || ""}`);
          break;
        case "error":
          this.error(m.message || "error");
          break;
        case "done":
          done = m;
          break;
      }
    }
    flushText();
    if (rows.length) {
      this.appendRows(rows);
      $("#timeline-count").textContent = `(${this.rowCount})`;
      this.timelineScroll.follow();
    }
    this.messagesScroll.follow();
    if (done) {
      this.setRunning(false);
      const secs = ((performance.now() - this.sentAt) / 1000).toFixed(2);
      this.status(`${done.clean ? "done" : "ended with problems"} · ${this.runEvents} events · ${secs} s`, done.clean ? "ok" : "error-text");
      window.__agui.eventsRendered = this.runEvents;
      window.__agui.timelineRows = this.rowCount;
      window.__agui.lastRunDoneAt = performance.now();
      if (this.traceId && typeof traces !== "undefined") traces.linkRun(this.traceId, this.runId, new Map(this.times));
    }
  },

  appendRows(rows) {
    const tbody = $("#timeline tbody");
    tbody.append(...rows);
    // Trim the oldest rows beyond the limit.
    while (this.rowCount > MAX_TIMELINE_ROWS) {
      const first = tbody.firstElementChild;
      this.rows.delete(Number(first.dataset.index));
      this.events.delete(Number(first.dataset.index));
      this.times.delete(Number(first.dataset.index));
      first.remove();
      this.rowCount--;
    }
  },

  timelineRow(m) {
    const ev = m.event || {};
    const ids = [];
    if (ev.messageId) ids.push(`msg ${short(ev.messageId)}`);
    if (ev.toolCallId) ids.push(`tool ${short(ev.toolCallId)}`);
    if (ev.runId) ids.push(`run ${short(ev.runId)}`);
    // Cloning a prepared row is cheaper than building four cells (this runs thousands of times a second).
    const tr = ROW_TEMPLATE.cloneNode(true);
    tr.dataset.type = String(ev.type || "?");
    tr.dataset.index = String(m.index);
    const c = tr.cells;
    c[0].textContent = String(m.index);
    c[1].textContent = tr.dataset.type;
    c[2].textContent = ids.join(" ");
    c[3].textContent = typeof m.t_ms === "number" ? m.t_ms.toFixed(1) : "";
    const mark = this.marks.get(m.index);
    if (mark) tr.classList.add(mark);
    this.events.set(m.index, ev);
    this.times.set(m.index, { ev, atMs: m.at_ms });
    this.rows.set(m.index, tr);
    this.rowCount++;
    this.runEvents++;
    return tr;
  },

  mark(index, cls) {
    if (index == null) return;
    if (!this.marks.has(index) || cls === "violation") this.marks.set(index, cls);
    const tr = this.rows.get(index);
    if (tr) tr.classList.add(cls);
  },

  error(text, cls) {
    $("#agent-errors").append(h("li", { class: cls || "error-text", text }));
  },

  // The card for a tool call (created on its call, or on a result without a call seen).
  toolCard(m) {
    let c = this.toolCards.get(m.id);
    if (!c) {
      const args = h("pre", { class: "args", text: prettyRaw(m.arguments ?? "") });
      const result = h("pre", { class: "result", text: "…" });
      const card = h("div", { class: "tool-call", "data-testid": "tool-call", "data-tool-call-id": m.id || "" },
        h("div", { class: "tool-head" }, h("strong", { text: m.name || "?" }), h("span", { class: "muted", text: ` ${m.id || ""}` })),
        h("div", { class: "label", text: "arguments" }), args,
        h("div", { class: "label", text: "result" }), result);
      $("#agent-messages").append(card);
      c = { card, args, result };
      this.toolCards.set(m.id, c);
    }
    return c;
  },
};

function short(id) {
  id = String(id);
  return id.length > 12 ? id.slice(0, 5) + "…" + id.slice(-5) : id;
}

// ---- MCP panel: the stack MCP server's tools; call one -----------------------------------------

const mcp = {
  tools: [],
  service: null,
  retry: 0,

  init() {
    $("#mcp-reload").addEventListener("click", () => this.load());
    $("#mcp-tool").addEventListener("change", () => this.select($("#mcp-tool").value, true));
    $("#mcp-call").addEventListener("click", () => this.call());
    $("#mcp-args").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); this.call(); } });
    // A restarted MCP server may have other tools: reload them (keeping the selection).
    stackPidListeners.push((name) => { if (name === this.service) this.load(); });
    this.load();
  },

  async load() {
    clearTimeout(this.retry);
    const info = $("#mcp-info");
    try {
      const ans = await api("/api/mcp/tools", { timeoutMs: 20000 });
      if (!ans.ok) throw new Error(ans.error || "failed");
      this.service = ans.service || null;
      this.tools = Array.isArray(ans.tools) ? ans.tools : [];
      info.className = "muted";
      info.textContent = `${ans.service || "?"} · ${ans.url || ""} · era ${ans.era || "?"} · ${this.tools.length} tools`;
      const sel = $("#mcp-tool");
      const keep = sel.value;
      sel.replaceChildren(...this.tools.map((t) => h("option", { value: t.name, text: t.title ? `${t.name} — ${t.title}` : t.name })));
      const still = this.tools.some((t) => t.name === keep);
      sel.value = still ? keep : (this.tools[0]?.name ?? "");
      this.select(sel.value, !still);
    } catch (e) {
      info.className = "error-text";
      info.textContent = `tools: ${e.message} (retrying)`;
      this.retry = setTimeout(() => this.load(), 3000);
    }
  },

  select(name, fillArgs) {
    const tool = this.tools.find((t) => t.name === name);
    const detail = $("#mcp-tool-detail");
    if (!tool) { detail.replaceChildren(); return; }
    detail.replaceChildren(
      h("div", {}, h("strong", { text: tool.name }), tool.title ? h("span", { class: "muted", text: ` — ${tool.title}` }) : null),
      tool.description ? h("p", { class: "desc", text: tool.description }) : null,
      h("details", {}, h("summary", { text: "input schema" }), h("pre", { class: "detail", text: pretty(tool.inputSchema ?? {}) })));
    if (fillArgs) [$("#mcp-args").value, $("#mcp-args-error").textContent] = [pretty(skeleton(tool.inputSchema)), ""];
  },

  async call() {
    const name = $("#mcp-tool").value;
    const err = $("#mcp-args-error");
    const out = $("#mcp-result");
    err.textContent = "";
    if (!name) { err.textContent = "no tool selected"; return; }
    const raw = $("#mcp-args").value.trim();
    let args; // checked here: invalid JSON is reported without sending anything
    try { args = raw === "" ? {} : JSON.parse(raw); } catch (e) { err.textContent = `invalid JSON: ${e.message}`; return; }
    if (args === null || typeof args !== "object" || Array.isArray(args)) { err.textContent = "arguments must be a JSON object"; return; }
    const button = $("#mcp-call");
    button.disabled = true;
    out.replaceChildren(h("span", { class: "muted", text: `calling ${name}…` }));
    try {
      const ans = await api("/api/mcp/call", { method: "POST", body: { name, arguments: args }, timeoutMs: 120000 });
      if (!ans.ok) throw new Error(ans.error || "failed");
      const result = ans.result || {};
      const texts = (Array.isArray(result.content) ? result.content : []).map((c) =>
        c.type === "text" ? h("pre", { class: "text", text: String(c.text ?? "") })
          : h("div", { class: "muted", text: `[${c.type} content${c.mimeType ? " " + c.mimeType : ""}]` }));
      out.replaceChildren(
        h("div", { class: result.isError ? "error-text" : "ok", text: result.isError ? `${name}: tool error` : `${name}: ok` }),
        ...texts,
        h("details", {}, h("summary", { text: "raw result JSON" }), h("pre", { class: "detail raw", text: pretty(result) })));
    } catch (e) {
      out.replaceChildren(h("div", { class: "error-text", text: `${name} failed: ${e.message}` }));
    } finally {
      button.disabled = false;
    }
  },
};

// Arguments skeleton from a JSON schema's properties (defaults, first enum value, or a typed blank).
function skeleton(schema) {
  const out = {};
  const props = schema && typeof schema === "object" && schema.properties;
  if (!props || typeof props !== "object") return out;
  for (const [k, p] of Object.entries(props)) {
    if (!p || typeof p !== "object") { out[k] = null; continue; }
    if ("default" in p) out[k] = p.default;
    else if (Array.isArray(p.enum) && p.enum.length) out[k] = p.enum[0];
    else if (Array.isArray(p.examples) && p.examples.length) out[k] = p.examples[0];
    else {
      const t = Array.isArray(p.type) ? p.type[0] : p.type;
      out[k] = t === "string" ? "" : t === "number" || t === "integer" ? 0 : t === "boolean" ? false
        : t === "array" ? [] : t === "object" ? skeleton(p) : null;
    }
  }
  return out;
}

// ---- Models panel ------------------------------------------------------------------------------

const models = {
  retry: 0,
  init() { $("#models-reload").addEventListener("click", () => this.load()); this.load(); },

  async load() {
    clearTimeout(this.retry);
    const summary = $("#models-summary");
    try {
      const ans = await api("/api/models", { timeoutMs: 20000 });
      if (!ans.ok) throw new Error(ans.error || "failed");
      summary.replaceChildren(
        "agent uses ", h("strong", { class: "current-model", text: ans.model ?? "none" }), " ",
        h("span", { class: "badge", "data-state": ans.offline ? "offline" : "real", text: ans.offline ? "offline" : "real" }),
        h("div", { class: "muted", text: `via ${ans.proxy || "?"} ${ans.url || ""}` }));
      const list = Array.isArray(ans.models) ? ans.models : [];
      $("#models-list").replaceChildren(...list.map((m) => {
        const li = h("li", { "data-model": String(m.id), text: String(m.id) });
        if (m.id === ans.model) { li.classList.add("current"); li.append(h("span", { class: "muted", text: " ← the agent's" })); }
        return li;
      }));
      if (!list.length) $("#models-list").append(h("li", { class: "muted", text: "(the proxy lists no models)" }));
      $("#models-why").textContent = ans.why || "";
    } catch (e) {
      summary.replaceChildren(h("span", { class: "error-text", text: `models: ${e.message} (retrying)` }));
      this.retry = setTimeout(() => this.load(), 5000);
    }
  },
};

// ---- start -------------------------------------------------------------------------------------
logs.init();
agent.init();
mcp.init();
models.init();
pollStatus();
