// agui-dev dev console: the Traces panel. Loaded after app.js, whose helpers it uses ($, h, api,
// pretty, prettyRaw, shortMs, short, serviceColourClass). One row per kept trace (AG-UI runs first),
// refreshed while the page is visible; a row opens a waterfall of its spans (a tree on a time
// axis), the chosen span's detail (model calls: time to first token, tokens, cost, finish reason,
// the messages and tool schemas sent; tool calls: arguments, result, latency) and the log lines
// that carry the trace's ids. The chat's event timeline links each event to its span (`linkRun`).
// Span text is untrusted like every other: text nodes only.
"use strict";

const TRACE_POLL_MS = 2000;
const MAX_TRACE_ROWS = 200; // rows drawn; `[traces] max_traces` (1000 by default) may keep more

// Attribute names the templates and LiteLLM write (GenAI and MCP semantic conventions).
const A = {
  run: "agui.run_id", op: "gen_ai.operation.name", model: "gen_ai.request.model",
  responseModel: "gen_ai.response.model", input: "gen_ai.usage.input_tokens", output: "gen_ai.usage.output_tokens",
  inputOld: "gen_ai.usage.prompt_tokens", outputOld: "gen_ai.usage.completion_tokens",
  ttft: "gen_ai.response.time_to_first_chunk", finish: "gen_ai.response.finish_reasons",
  messages: "gen_ai.input.messages", outputMessages: "gen_ai.output.messages", tools: "gen_ai.tool.definitions",
  tool: "gen_ai.tool.name", callId: "gen_ai.tool.call.id", args: "gen_ai.tool.call.arguments",
  result: "gen_ai.tool.call.result", mcpMethod: "mcp.method.name",
};
// The same names, in the same order, as `traces::model::COST` (a test checks they agree).
const COST_KEYS = ["gen_ai.usage.cost", "gen_ai.cost.total_cost", "litellm.cost.total", "llm.cost"];

const attr = (span, key) => (span.attributes || {})[key];
const num = (span, ...keys) => {
  for (const k of keys) { const v = Number(attr(span, k)); if (attr(span, k) != null && Number.isFinite(v)) return v; }
  return null;
};
const isModelCall = (s) => attr(s, A.op) === "chat" || attr(s, A.model) != null || num(s, A.input, A.inputOld) != null;
const isToolCall = (s) => attr(s, A.tool) != null || attr(s, A.op) === "execute_tool" || attr(s, A.mcpMethod) === "tools/call";
const cost = (s) => num(s, ...COST_KEYS);
const money = (v) => (v == null ? "" : `$${v < 0.01 && v > 0 ? v.toPrecision(2) : v.toFixed(v === 0 ? 0 : 4)}`);
const clock = (ns) => (ns ? new Date(ns / 1e6).toLocaleTimeString([], { hour12: false }) : "");
const finishReasons = (s) => { const f = attr(s, A.finish); return Array.isArray(f) ? f.join(", ") : f == null ? "" : String(f); };

// Spans as a tree, depth-first, children by start: [{span, depth}]. A span whose parent has not
// arrived (or is the console's own, never sent) is a root.
function spanTree(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  const roots = [];
  for (const s of [...spans].sort((a, b) => a.start_ns - b.start_ns)) {
    if (s.parent_id && ids.has(s.parent_id) && s.parent_id !== s.span_id) {
      if (!children.has(s.parent_id)) children.set(s.parent_id, []);
      children.get(s.parent_id).push(s);
    } else roots.push(s);
  }
  const out = [];
  const seen = new Set();
  // A stack, not recursion: a chain thousands of spans deep must not overflow the call stack.
  const walk = (root) => {
    const stack = [{ span: root, depth: 0 }];
    while (stack.length > 0) {
      const { span, depth } = stack.pop();
      if (seen.has(span.span_id)) continue; // a cycle from a confused sender
      seen.add(span.span_id);
      out.push({ span, depth });
      const below = children.get(span.span_id) || [];
      for (let i = below.length - 1; i >= 0; i--) stack.push({ span: below[i], depth: depth + 1 });
    }
  };
  for (const r of roots) walk(r);
  for (const s of spans) if (!seen.has(s.span_id)) out.push({ span: s, depth: 0 });
  return out;
}

// The span an AG-UI event came from, by its arrival time `atMs` (Unix ms): a tool-call event goes to
// the span of its call id, a run event to the run, text to the model call that was streaming it;
// else the innermost span whose time range holds it. A small slack covers the event's trip.
function spanForEvent(ev, atMs, rows) {
  if (!rows.length || typeof atMs !== "number") return null;
  const t = atMs * 1e6;
  const type = String(ev.type || "");
  if (ev.toolCallId) {
    const calls = rows.filter((r) => attr(r.span, A.callId) === ev.toolCallId);
    if (calls.length) return calls.reduce((a, b) => (b.depth > a.depth ? b : a)).span;
  }
  if (type.startsWith("RUN_")) {
    const run = rows.find((r) => attr(r.span, A.run) != null);
    if (run) return run.span;
  }
  const prefer = type.startsWith("TEXT_MESSAGE") || type.startsWith("REASONING") || type.startsWith("THINKING")
    ? (r) => isModelCall(r.span) : type.startsWith("TOOL_CALL") ? (r) => isToolCall(r.span) : () => true;
  for (const slack of [0, 250e6]) {
    const holding = rows.filter((r) => r.span.start_ns - slack <= t && t <= r.span.end_ns + slack);
    const pool = holding.some(prefer) ? holding.filter(prefer) : holding;
    if (pool.length) {
      return pool.reduce((a, b) => (b.depth > a.depth || (b.depth === a.depth &&
        b.span.end_ns - b.span.start_ns < a.span.end_ns - a.span.start_ns) ? b : a)).span;
    }
  }
  return rows[0].span;
}

const traces = {
  list: [],
  open: null,        // the trace id shown in the waterfall
  detail: null,      // its {summary, spans}
  rows: [],          // its spans as a tree
  selected: null,    // span id shown in the detail pane
  timer: 0,
  inFlight: false,

  init() {
    $("#traces-table tbody").addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-trace-id]");
      if (tr) this.show(tr.dataset.traceId);
    });
    $("#waterfall").addEventListener("click", (e) => {
      const row = e.target.closest("[data-span-id]");
      if (row) this.select(row.dataset.spanId);
    });
    $("#trace-close").addEventListener("click", () => this.close());
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.poll(); });
    this.poll();
  },

  // The list every 2 s while the page is visible; the open trace again while its spans change.
  async poll() {
    if (this.inFlight) return;
    this.inFlight = true;
    clearTimeout(this.timer);
    try {
      const ans = await api("/api/traces", { timeoutMs: 5000 });
      this.drawList(ans);
      const row = this.open && this.list.find((s) => s.trace_id === this.open);
      if (row && this.detail && row.spans !== this.detail.spans.length) await this.load(this.open);
    } catch (e) {
      $("#traces-status").textContent = `traces: ${e.message}`;
    } finally {
      this.inFlight = false;
    }
    if (!document.hidden) this.timer = setTimeout(() => this.poll(), TRACE_POLL_MS);
  },

  drawList(ans) {
    const status = $("#traces-status");
    if (ans.traced === false) {
      status.textContent = "this run receives no traces (`up --no-traces` or `[traces] enabled = false`)";
      document.body.dataset.traced = "0";
      return;
    }
    document.body.dataset.traced = "1";
    if (ans.ok === false) { status.textContent = ans.error || "traces unavailable"; return; }
    // AG-UI runs first, each group newest first (the server's order).
    const list = Array.isArray(ans.traces) ? ans.traces : [];
    this.list = [...list.filter((s) => s.run_id), ...list.filter((s) => !s.run_id)];
    const t = ans.totals || {};
    status.textContent = `${list.length} kept · since up: ${t.runs ?? 0} runs, ${t.input_tokens ?? 0} in / ` +
      `${t.output_tokens ?? 0} out tokens, ${money(t.cost ?? 0)}` +
      (t.evicted_traces ? ` · ${t.evicted_traces} let go` : "") + (t.dropped_spans ? ` · ${t.dropped_spans} spans dropped` : "");
    const key = JSON.stringify(this.list.map((s) => [s.trace_id, s.spans, s.duration_ms, s.error]));
    if (key === this.listKey) return; // unchanged: keep the rows (and a selection in them)
    this.listKey = key;
    $("#traces-table tbody").replaceChildren(...this.list.slice(0, MAX_TRACE_ROWS).map((s) => this.listRow(s)));
    if (this.list.length > MAX_TRACE_ROWS) {
      $("#traces-table tbody").append(h("tr", {}, h("td", { colspan: "9", class: "muted",
        text: `… ${this.list.length - MAX_TRACE_ROWS} older traces (agui-dev trace ID shows any of them)` })));
    }
    if (!this.list.length) {
      $("#traces-table tbody").append(h("tr", {}, h("td", { colspan: "9", class: "muted",
        text: "No traces yet: chat with the agent, or point any OpenTelemetry SDK at the stack's receiver." })));
    }
  },

  listRow(s) {
    const td = (text, cls) => h("td", { class: cls, text });
    const tr = h("tr", { "data-trace-id": s.trace_id, "data-run-id": s.run_id || "", class: s.error ? "error" : null },
      h("td", { class: "mono", title: s.trace_id }, s.run_id || s.name || "",
        h("div", { class: "muted small-text", text: s.run_id ? `${s.name} · ${short(s.trace_id)}` : short(s.trace_id) })),
      td(clock(s.start_ns), "num"), td(shortMs(s.duration_ms), "num"), td(s.model || "", "mono"),
      td(String(s.input_tokens ?? 0), "num"), td(String(s.output_tokens ?? 0), "num"), td(money(s.cost ?? 0), "num"),
      td(s.error ? "error" : "", "error-text"), td((s.services || []).join(", ")));
    if (s.trace_id === this.open) tr.classList.add("selected");
    return tr;
  },

  async show(id, spanId) {
    this.open = id;
    for (const tr of $("#traces-table").querySelectorAll("tr.selected")) tr.classList.remove("selected");
    $(`#traces-table tr[data-trace-id="${CSS.escape(id)}"]`)?.classList.add("selected");
    $("#trace-view").hidden = false;
    await this.load(id);
    if (spanId) this.select(spanId);
    $("#trace-view").dataset.opened = id; // for the browser tests: the trace shown, span chosen
    $("#traces").scrollIntoView({ block: "start" });
  },

  close() {
    this.open = this.detail = this.selected = null;
    delete $("#trace-view").dataset.opened;
    $("#trace-view").hidden = true;
    for (const tr of $("#traces-table").querySelectorAll("tr.selected")) tr.classList.remove("selected");
  },

  async load(id) {
    let ans;
    try { ans = await api(`/api/traces/${encodeURIComponent(id)}`); } catch (e) { ans = { ok: false, error: e.message }; }
    if (this.open !== id) return;
    if (!ans.ok || !ans.trace) {
      $("#trace-head").textContent = ans.error || "no such trace";
      return;
    }
    this.detail = ans.trace;
    this.rows = spanTree(this.detail.spans || []);
    this.drawWaterfall();
    if (this.selected && this.rows.some((r) => r.span.span_id === this.selected)) this.select(this.selected);
    else this.select(this.rows[0]?.span.span_id);
    this.loadLogs(this.detail.summary);
  },

  drawWaterfall() {
    const s = this.detail.summary;
    $("#trace-head").replaceChildren(
      h("strong", { text: s.run_id ? `run ${s.run_id}` : s.name }), " ",
      h("span", { class: "muted", text: `trace ${s.trace_id} · ${shortMs(s.duration_ms)} · ${s.spans} spans · ` +
        `${s.model_calls} model calls · ${s.input_tokens} in / ${s.output_tokens} out tokens · ${money(s.cost)}` }),
      " ", s.error ? h("span", { class: "badge", "data-state": "failed", text: "error" }) : "");
    // A loop, not `Math.min(...rows)`: spreading 100,000 arguments throws.
    let start = Infinity;
    let end = -Infinity;
    for (const r of this.rows) {
      start = Math.min(start, r.span.start_ns);
      end = Math.max(end, r.span.end_ns);
    }
    const total = Math.max(end - start, 1);
    const axis = h("div", { class: "wf-axis" }, h("span", { text: "span" }), h("div", { class: "wf-ticks" },
      h("span", { text: "0" }), h("span", { text: shortMs(total / 2e6) }), h("span", { text: shortMs(total / 1e6) })));
    const lines = this.rows.map(({ span, depth }) => {
      const name = h("div", { class: "wf-name" }, h("span", { class: serviceColourClass(span.service), text: span.service }),
        " ", span.name);
      name.style.paddingLeft = `${depth * 14 + 4}px`;
      const bar = h("div", { class: "wf-bar" + (isModelCall(span) ? " model" : isToolCall(span) ? " tool" : "") });
      const left = ((span.start_ns - start) / total) * 100;
      bar.style.left = `${left}%`;
      bar.style.width = `${Math.max(((span.end_ns - span.start_ns) / total) * 100, 0.3)}%`;
      // The label starts under its bar, but never so far right that it is cut to nothing.
      const label = h("span", { class: "wf-label", text: this.label(span) });
      label.style.left = `${Math.min(left, 55)}%`;
      const track = h("div", { class: "wf-track" }, bar, label);
      const row = h("div", { class: "wf-row" + (span.error != null ? " error" : ""), "data-span-id": span.span_id,
        "data-span-name": span.name, "data-testid": "span" }, name, track);
      if (span.error != null) row.title = `error: ${span.error || "(no message)"}`;
      return row;
    });
    $("#waterfall").replaceChildren(axis, ...lines);
  },

  // What a bar says beside its duration: a model call's tokens and first token, a tool's result.
  label(span) {
    const parts = [shortMs((span.end_ns - span.start_ns) / 1e6)];
    if (isModelCall(span)) {
      const ttft = num(span, A.ttft);
      if (ttft != null) parts.push(`first token ${shortMs(ttft * 1000)}`);
      const i = num(span, A.input, A.inputOld), o = num(span, A.output, A.outputOld);
      if (i != null || o != null) parts.push(`${i ?? 0}→${o ?? 0} tok`);
      if (finishReasons(span)) parts.push(finishReasons(span));
    } else if (isToolCall(span) && attr(span, A.result) != null) {
      parts.push(`→ ${String(attr(span, A.result)).slice(0, 60)}`);
    }
    if (span.error != null) parts.push(`error${span.error ? ": " + span.error : ""}`);
    return parts.join(" · ");
  },

  select(spanId) {
    const row = this.rows.find((r) => r.span.span_id === spanId);
    if (!row) return;
    this.selected = spanId;
    for (const el of $("#waterfall").querySelectorAll(".wf-row.selected")) el.classList.remove("selected");
    const el = $(`#waterfall [data-span-id="${CSS.escape(spanId)}"]`);
    el?.classList.add("selected");
    el?.scrollIntoView({ block: "nearest" });
    this.drawSpan(row.span);
  },

  drawSpan(span) {
    const fields = [["span", span.name], ["service", span.service], ["kind", span.kind],
      ["duration", shortMs((span.end_ns - span.start_ns) / 1e6)], ["span id", span.span_id]];
    const pres = [];
    const block = (title, value, open) => h("details", { open: open ? "" : null, "data-block": title },
      h("summary", { text: title }), h("pre", { class: "detail", text: prettyRaw(value) }));
    if (isModelCall(span)) {
      fields.push(["model", attr(span, A.model) ?? ""], ["response model", attr(span, A.responseModel) ?? ""]);
      const ttft = num(span, A.ttft);
      fields.push(["first token", ttft == null ? "" : shortMs(ttft * 1000)]);
      fields.push(["tokens in / out", `${num(span, A.input, A.inputOld) ?? "?"} / ${num(span, A.output, A.outputOld) ?? "?"}`]);
      fields.push(["cost", money(cost(span))], ["finish reason", finishReasons(span)]);
      if (attr(span, A.messages) != null) pres.push(block("messages sent", attr(span, A.messages), true));
      if (attr(span, A.tools) != null) pres.push(block("tool schemas sent", attr(span, A.tools), false));
      if (attr(span, A.outputMessages) != null) pres.push(block("answer", attr(span, A.outputMessages), false));
    }
    if (isToolCall(span)) {
      fields.push(["tool", attr(span, A.tool) ?? ""], ["call id", attr(span, A.callId) ?? ""]);
      fields.push(["latency", shortMs((span.end_ns - span.start_ns) / 1e6)]);
      if (attr(span, A.args) != null) pres.push(block("arguments", attr(span, A.args), true));
      if (attr(span, A.result) != null) pres.push(block("result", attr(span, A.result), true));
    }
    if (span.error != null) fields.push(["error", span.error || "(no message)"]);
    const dl = h("dl", { class: "span-fields" });
    for (const [k, v] of fields) if (v !== "" && v != null) dl.append(h("dt", { text: k }), h("dd", { text: String(v) }));
    if (span.events?.length) pres.push(block("events", span.events, false));
    pres.push(block("all attributes", span.attributes || {}, false));
    const box = $("#span-detail");
    box.replaceChildren(dl, ...pres);
    box.classList.toggle("error", span.error != null);
    box.dataset.spanId = span.span_id;
  },

  async loadLogs(summary) {
    const ids = [summary.trace_id, summary.run_id].filter(Boolean);
    const box = $("#trace-logs");
    try {
      const ans = await api(`/api/logs?n=300&any=${ids.map(encodeURIComponent).join(",")}`);
      if (this.open !== summary.trace_id) return;
      const lines = ans.lines || [];
      box.replaceChildren(...lines.map((l) => logs.lineElement(l)));
      if (!lines.length) box.append(h("div", { class: "muted", text: `no log line carries ${ids.join(" or ")}` }));
    } catch (e) {
      box.replaceChildren(h("div", { class: "error-text", text: `logs: ${e.message}` }));
    }
  },

  // The chat's run `runId` in trace `traceId`: once its spans are in, each timeline row gets a link
  // to the span that produced its event. Spans come in batches (200 ms apart), so this asks until
  // the run's span is in and the count holds still (at most ~20 s).
  async linkRun(traceId, runId, events) {
    let last = -1;
    for (let i = 0; i < 20; i++) {
      if (agent.traceId !== traceId) return;
      let ans = null;
      try { ans = await api(`/api/traces/${encodeURIComponent(traceId)}`); } catch { /* asked again below */ }
      const spans = ans?.ok && ans.trace ? ans.trace.spans : [];
      const hasRun = spans.some((s) => attr(s, A.run) === runId);
      if (hasRun && spans.length === last) { this.link(traceId, spanTree(spans), events); return; }
      if (hasRun) this.link(traceId, spanTree(spans), events); // drawn now, refined when more arrive
      last = hasRun ? spans.length : -1;
      await new Promise((r) => setTimeout(r, i < 5 ? 300 : 1000));
    }
  },

  link(traceId, rows, events) {
    for (const [index, { ev, atMs }] of events) {
      const tr = agent.rows.get(index);
      const span = spanForEvent(ev, atMs, rows);
      if (!tr || !span) continue;
      const a = h("a", { href: "#traces", class: "span-link", "data-span-id": span.span_id, text: span.name });
      a.addEventListener("click", (e) => { e.preventDefault(); this.show(traceId, span.span_id); });
      tr.cells[4].replaceChildren(a);
    }
    document.body.dataset.timelineLinked = traceId;
  },
};

traces.init();
