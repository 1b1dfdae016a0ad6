// Drives the agui-dev dev console in Debian's Chromium (playwright-core, no browser download).
//
//   node tests/browser/console.mjs <console-url-with-token> <screenshot-dir> [--scenario e2e|bench-open|bench-events|traces|traces-chat]
//        [--repeat N] [--message TEXT] [--services litellm,mcp,agui] [--timeout-s S] [--run-id ID] [--tool NAME] [--result TEXT] [--otlp URL]
//
// Every step prints one JSON line on stdout: {"step":"...","ok":true,...}. The first failing step prints
// {"step":"...","ok":false,"error":"..."}, saves a screenshot and the script exits 1.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const STEP_TIMEOUT = 60_000;

function parseArgs(argv) {
  const opts = { scenario: "e2e", repeat: 20, message: "hello", services: "litellm,mcp,agui", timeoutS: 600, positional: [],
    runId: "", tool: "calculate", result: "42", otlp: "" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--scenario") opts.scenario = value();
    else if (a === "--repeat") opts.repeat = Number(value());
    else if (a === "--message") opts.message = value();
    else if (a === "--services") opts.services = value();
    else if (a === "--timeout-s") opts.timeoutS = Number(value());
    else if (a === "--run-id") opts.runId = value();
    else if (a === "--tool") opts.tool = value();
    else if (a === "--result") opts.result = value();
    else if (a === "--otlp") opts.otlp = value();
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else opts.positional.push(a);
  }
  if (opts.positional.length !== 2) usage("expected <console-url-with-token> <screenshot-dir>");
  if (!["e2e", "bench-open", "bench-events", "traces", "traces-chat"].includes(opts.scenario)) usage(`unknown scenario ${opts.scenario}`);
  if (!(opts.repeat >= 1)) usage("--repeat must be >= 1");
  [opts.url, opts.shots] = opts.positional;
  return opts;
}

function usage(error) {
  if (error) console.error(`console.mjs: ${error}`);
  console.error("usage: node console.mjs <console-url-with-token> <screenshot-dir> [--scenario e2e|bench-open|bench-events|traces|traces-chat] [--repeat N] [--message TEXT] [--services a,b] [--timeout-s S] [--run-id ID] [--tool NAME] [--result TEXT] [--otlp URL]");
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
fs.mkdirSync(opts.shots, { recursive: true });

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

class StepError extends Error {}

let currentPage = null; // the page to screenshot when a step fails

// Runs one step with a time limit; prints its JSON line; on failure screenshots and throws StepError.
async function step(name, fn, timeoutMs = STEP_TIMEOUT) {
  let timer;
  try {
    const data = await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`step timed out after ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
    print({ step: name, ok: true, ...(data || {}) });
    return data;
  } catch (e) {
    print({ step: name, ok: false, error: String(e && e.message ? e.message : e).split("\n")[0] });
    if (currentPage && !currentPage.isClosed()) {
      await currentPage.screenshot({ path: path.join(opts.shots, `failed-${name}.png`), fullPage: true, timeout: 10_000 }).catch(() => {});
    }
    throw new StepError(name);
  } finally {
    clearTimeout(timer);
  }
}

async function shot(page, selector, file) {
  await page.locator(selector).screenshot({ path: path.join(opts.shots, file), timeout: 15_000 });
}

// Watches a page for script errors and CSP violations (which Chromium reports on the console).
function watch(page) {
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  return problems;
}

function withoutToken(url) {
  const u = new URL(url);
  u.searchParams.delete("token");
  return u.toString();
}

async function openConsole(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  currentPage = page;
  return page;
}

async function gotoDrawn(page) {
  const res = await page.goto(opts.url, { waitUntil: "domcontentloaded" });
  if (!res || res.status() !== 200) throw new Error(`GET console: HTTP ${res ? res.status() : "no response"}`);
  await page.waitForSelector('body[data-stack-drawn="1"]');
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async function e2e(context) {
  const expected = opts.services.split(",").filter(Boolean);
  const page = await openConsole(context);
  const problems = watch(page);

  await step("refused", async () => {
    const res = await page.goto(withoutToken(opts.url), { waitUntil: "domcontentloaded" });
    const status = res ? res.status() : 0;
    if (status !== 401) throw new Error(`expected HTTP 401 without the token, got ${status}`);
    if (await page.$("#stack")) throw new Error("the console was served without the token");
    return { status };
  });

  await step("loads", async () => {
    await gotoDrawn(page);
    // Every service row ready (the stack was started with `up -d`, so this should be immediate).
    await page.waitForFunction((names) => names.every((n) =>
      document.querySelector(`#stack tr[data-service="${n}"] .badge[data-state="ready"]`)), expected);
    const rows = await page.$$eval("#stack tbody tr", (trs) => trs.map((tr) => ({
      service: tr.dataset.service, state: tr.dataset.state, pid: Number(tr.querySelector("td.pid").textContent) || null,
    })));
    const notReady = rows.filter((r) => r.state !== "ready");
    if (notReady.length) throw new Error(`not ready: ${notReady.map((r) => `${r.service}=${r.state}`).join(", ")}`);
    await shot(page, "#stack", "stack.png");
    await page.waitForSelector("#models-list li");
    await shot(page, "#models", "models.png");
    return { services: rows.map((r) => r.service), pids: Object.fromEntries(rows.map((r) => [r.service, r.pid])),
      model: await page.textContent("#model-line") };
  });

  await step("restart", async () => {
    const row = page.locator('#stack tr[data-service="mcp"]');
    const oldPid = Number(await row.locator("td.pid").textContent());
    await row.locator('button[data-action="restart"]').click();
    await page.waitForFunction((old) => {
      const tr = document.querySelector('#stack tr[data-service="mcp"]');
      const pid = Number(tr.querySelector("td.pid").textContent);
      return pid && pid !== old && tr.dataset.state === "ready";
    }, oldPid, { timeout: 90_000 });
    // The answer to the control request lands in the status line.
    await page.waitForFunction(() => /restart mcp: /.test(document.querySelector("#stack-message").textContent), null, { timeout: 90_000 });
    const newPid = Number(await row.locator("td.pid").textContent());
    await shot(page, "#stack", "stack-restarted.png");
    return { old_pid: oldPid, new_pid: newPid, message: await page.textContent("#stack-message") };
  }, 120_000);

  await step("chat", async () => {
    await page.fill("#agent-input", "hello");
    await page.press("#agent-input", "Enter"); // Enter sends
    await page.waitForFunction(() => {
      const a = [...document.querySelectorAll('#agent [data-testid="assistant"]')];
      return a.some((el) => el.textContent.trim()) &&
        document.querySelector('#timeline tr[data-type="RUN_STARTED"]') &&
        document.querySelector('#timeline tr[data-type="RUN_FINISHED"]') &&
        !document.querySelector("#agent-send").disabled;
    });
    const violations = await page.$$eval("#timeline tr.violation", (trs) => trs.length);
    const violation = await page.$eval("#agent-violation", (el) => (el.hidden ? "" : el.textContent));
    if (violations || violation) throw new Error(`AG-UI violation: ${violation}`);
    const text = (await page.$$eval('#agent [data-testid="assistant"]', (els) => els.map((e) => e.textContent).join("\n"))).trim();
    const types = await page.$$eval("#timeline tbody tr", (trs) => trs.map((tr) => tr.dataset.type));
    const toolCalls = await page.$$eval("#agent .tool-call strong", (els) => els.map((e) => e.textContent));
    // Show one event's JSON in the detail box (for the screenshot).
    await page.click('#timeline tr[data-type="RUN_STARTED"]');
    await page.waitForFunction(() => document.querySelector("#timeline-detail").textContent.includes("RUN_STARTED"));
    await shot(page, "#agent", "agent.png");
    return { text, events: types.length, types, tool_calls: toolCalls };
  }, 120_000);

  await step("mcp", async () => {
    await page.waitForSelector('#mcp-tool option[value="calculate"]', { state: "attached" });
    await page.selectOption("#mcp-tool", "calculate");
    const skeleton = await page.inputValue("#mcp-args");
    // Invalid JSON is reported without sending.
    await page.fill("#mcp-args", "{not json");
    await page.click("#mcp-call");
    await page.waitForFunction(() => /invalid JSON/.test(document.querySelector("#mcp-args-error").textContent));
    await page.fill("#mcp-args", '{"expression":"6*7"}');
    await page.click("#mcp-call");
    await page.waitForFunction(() => document.querySelector("#mcp-result").textContent.includes("42") &&
      !document.querySelector("#mcp-call").disabled, null, { timeout: 60_000 });
    const text = await page.$$eval("#mcp-result pre.text", (els) => els.map((e) => e.textContent).join("\n"));
    if (!text.includes("42")) throw new Error(`result text without 42: ${text}`);
    await shot(page, "#mcp", "mcp.png");
    return { skeleton: JSON.parse(skeleton), result: text };
  });

  await step("logs", async () => {
    const mcpLine = '#logs-lines .log-line:has(> .svc:text-is("mcp"))';
    await page.waitForSelector(mcpLine);
    const total = await page.locator("#logs-lines .log-line").count();
    // Copy gives "service text" per line: check the first mcp line's visible text.
    const mcpTexts = await page.locator(mcpLine).allInnerTexts();
    const bad0 = mcpTexts.find((t) => !t.startsWith("mcp"));
    if (bad0 !== undefined) throw new Error(`a line reads ${JSON.stringify(bad0)}, not "mcp …"`);
    const first = mcpTexts.find((t) => t.slice(4).trim()) ?? mcpTexts[0];
    // Narrow by service, then by a piece of that line's text.
    await page.selectOption("#logs-service", "mcp");
    const others = await page.locator('#logs-lines .log-line:not(.missed) > .svc:not(:text-is("mcp"))').count();
    if (others) throw new Error(`${others} lines of other services shown with service=mcp`);
    const needle = first.slice(4).trim().split(/\s+/).sort((a, b) => b.length - a.length)[0] || "mcp";
    await page.fill("#logs-filter", needle);
    const shown = await page.$$eval("#logs-lines .log-line:not(.missed)", (els) => els.map((e) => e.innerText));
    if (!shown.length) throw new Error(`filter ${JSON.stringify(needle)} shows nothing`);
    const bad = shown.filter((t) => !t.toLowerCase().includes(needle.toLowerCase()));
    if (bad.length) throw new Error(`filter ${JSON.stringify(needle)} shows ${JSON.stringify(bad[0])}`);
    // An invalid regex is reported and filters nothing.
    await page.fill("#logs-filter", "/([/");
    await page.waitForFunction(() => document.querySelector("#logs-filter-error").textContent.includes("invalid"));
    await page.fill("#logs-filter", "");
    await page.selectOption("#logs-service", "");
    await shot(page, "#logs", "logs.png");
    return { lines: total, first_mcp_line: first, filter: needle, shown: shown.length };
  });

  await step("token-dropped", async () => {
    const href = await page.evaluate(() => location.href);
    const token = new URL(opts.url).searchParams.get("token");
    if (!token) throw new Error("the console URL given has no token");
    if (href.includes(token) || href.includes("token=")) throw new Error(`the address bar still has the token: ${href}`);
    return { href };
  });

  await step("page-clean", async () => {
    await page.screenshot({ path: path.join(opts.shots, "page.png"), fullPage: true });
    if (problems.length) throw new Error(problems.join("; "));
    return { problems: 0 };
  });
}

async function benchOpen(context) {
  const all = [];
  for (let i = 0; i < opts.repeat; i++) {
    await step("open", async () => {
      const page = await openConsole(context);
      try {
        await gotoDrawn(page);
        const ms = await page.evaluate(() => window.__agui.stackDrawnAt);
        if (typeof ms !== "number") throw new Error("window.__agui.stackDrawnAt not set");
        all.push(ms);
        return { i, ms: Math.round(ms * 10) / 10 };
      } finally {
        currentPage = null;
        await page.close();
      }
    });
  }
  all.sort((a, b) => a - b);
  const r = (x) => Math.round(x * 10) / 10;
  print({ step: "open-summary", ok: true, n: all.length, median_ms: r(all[Math.floor(all.length / 2)]), max_ms: r(all[all.length - 1]) });
}

async function benchEvents(context) {
  const page = await openConsole(context);
  const problems = watch(page);
  await step("load", async () => { await gotoDrawn(page); return {}; });
  await step("events", async () => {
    await page.fill("#agent-input", opts.message);
    // Timestamp taken in the page, right before the click, on the same clock as lastRunDoneAt.
    const t0 = await page.evaluate(() => {
      window.__agui.sendClickedAt = performance.now();
      document.querySelector("#agent-send").click();
      return window.__agui.sendClickedAt;
    });
    await page.waitForFunction((t) => window.__agui.lastRunDoneAt > t, t0, { timeout: opts.timeoutS * 1000, polling: 50 });
    const r = await page.evaluate(() => ({
      done: window.__agui.lastRunDoneAt, events: window.__agui.eventsRendered,
      rows: document.querySelectorAll("#timeline tbody tr").length,
      status: document.querySelector("#agent-status").textContent,
      violation: document.querySelector("#agent-violation").hidden ? "" : document.querySelector("#agent-violation").textContent,
    }));
    // The timeline keeps at most 20000 rows.
    if (r.rows !== Math.min(r.events, 20000)) throw new Error(`timeline has ${r.rows} rows for ${r.events} events`);
    await shot(page, "#agent", "agent-bench.png");
    if (problems.length) throw new Error(problems.join("; "));
    return { events: r.events, ms: Math.round((r.done - t0) * 10) / 10, rows: r.rows, status: r.status, violation: r.violation || null };
  }, opts.timeoutS * 1000);
}

// The Traces panel: the waterfall of the open trace, the tool span `opts.tool` chosen, its detail.
async function openToolSpan(page) {
  const tool = `#waterfall .wf-row[data-span-name$=" ${opts.tool}"]`;
  await page.waitForSelector(tool);
  const spans = await page.$$eval("#waterfall .wf-row", (rows) => rows.map((r) => r.dataset.spanName));
  // The agent's tool span (it carries the call's result); the MCP server's, below it, has one too.
  const id = await page.$eval(tool, (r) => r.dataset.spanId);
  await page.click(`#waterfall .wf-row[data-span-id="${id}"]`);
  await page.waitForFunction((want) => {
    const pre = document.querySelector('#span-detail details[data-block="result"] pre');
    return pre && pre.textContent.includes(want);
  }, opts.result);
  const detail = await page.$$eval('#span-detail details[data-block] pre', (pres) =>
    Object.fromEntries(pres.map((p) => [p.parentElement.dataset.block, p.textContent])));
  const fields = await page.$$eval("#span-detail dt", (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  return { spans, span_id: id, result: detail.result, arguments: detail.arguments ?? null, fields };
}

// Spans the test POSTed to the receiver (tests/console_traces.rs): the run's row, its waterfall,
// a model call's detail, the tool span and its result, the error span, the trace's log lines.
async function tracesPosted(context) {
  const page = await openConsole(context);
  const problems = watch(page);
  await step("load", async () => { await gotoDrawn(page); return {}; });
  await step("traces-row", async () => {
    const row = `#traces-table tr[data-run-id="${opts.runId}"]`;
    await page.waitForSelector(row);
    const first = await page.$eval("#traces-table tbody tr", (tr) => tr.dataset.runId);
    const cells = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
    const ids = await page.$$eval("#traces-table tbody tr", (trs) => trs.map((tr) => tr.dataset.runId || tr.dataset.traceId));
    return { first_is_run: !!first, cells, rows: ids, status: await page.textContent("#traces-status") };
  });
  await step("waterfall", async () => {
    await page.click(`#traces-table tr[data-run-id="${opts.runId}"]`);
    const tool = await openToolSpan(page);
    // The tree: each row's indent says its depth.
    const depths = await page.$$eval("#waterfall .wf-row .wf-name", (els) => els.map((e) => parseInt(e.style.paddingLeft, 10)));
    const bars = await page.$$eval("#waterfall .wf-bar", (els) => els.map((e) => ({ left: e.style.left, width: e.style.width })));
    return { ...tool, depths, bars, head: await page.textContent("#trace-head") };
  });
  await step("model-call", async () => {
    await page.click('#waterfall .wf-row[data-span-name^="chat "]');
    await page.waitForSelector('#span-detail details[data-block="messages sent"] pre');
    const detail = await page.$$eval('#span-detail details[data-block] pre', (pres) =>
      Object.fromEntries(pres.map((p) => [p.parentElement.dataset.block, p.textContent])));
    const fields = await page.$$eval("#span-detail dt", (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
    const label = await page.$eval('#waterfall .wf-row[data-span-name^="chat "] .wf-label', (e) => e.textContent);
    return { messages: detail["messages sent"], tools: detail["tool schemas sent"] ?? null, fields, label };
  });
  await step("error-span", async () => {
    const errors = await page.$$eval("#waterfall .wf-row.error", (rows) => rows.map((r) => ({ name: r.dataset.spanName, title: r.title })));
    if (!errors.length) throw new Error("no span is marked as an error");
    await page.click("#waterfall .wf-row.error");
    const error = await page.$eval("#span-detail", (el) => el.classList.contains("error") && [...el.querySelectorAll("dt")].find((dt) => dt.textContent === "error")?.nextElementSibling.textContent);
    return { errors, error };
  });
  await step("trace-logs", async () => {
    await page.waitForSelector("#trace-logs .log-line");
    const lines = await page.$$eval("#trace-logs .log-line", (els) => els.map((e) => e.textContent));
    return { lines };
  });
  await step("traces-shot", async () => {
    // The model call chosen, so the screenshot shows the messages sent.
    await page.click('#waterfall .wf-row[data-span-name^="chat "]');
    await shot(page, "#traces", "traces.png");
    if (problems.length) throw new Error(problems.join("; "));
    return {};
  });
  if (opts.otlp) await step("timeline-link", () => linkPostedRun(page), 90_000);
}

// A chat run with the stack's AG-UI server (a fixture that sends no spans), then the spans its
// trace would have, sent here to the receiver: the run, a model call holding every event, and the
// tool call after them all, so only its call id links the tool-call events to it.
async function linkPostedRun(page) {
  await page.fill("#agent-input", "hello");
  await page.press("#agent-input", "Enter");
  await page.waitForFunction(() => document.querySelector('#timeline tr[data-type="RUN_FINISHED"]') &&
    !document.querySelector("#agent-send").disabled);
  // `agent` is app.js's: the run's trace id, run id and each event's arrival time.
  const run = await page.evaluate(() => ({ traceId: agent.traceId, runId: agent.runId,
    times: [...agent.times.values()].map((t) => t.atMs) }));
  const ms = (t) => String(Math.round(t * 1e6));
  const [first, last] = [Math.min(...run.times), Math.max(...run.times)];
  const str = (key, v) => ({ key, value: { stringValue: v } });
  const span = (id, parent, name, from, to, attributes) => ({ traceId: run.traceId, spanId: id, parentSpanId: parent,
    name, kind: 3, startTimeUnixNano: ms(from), endTimeUnixNano: ms(to), attributes });
  const spans = [
    span("00000000000001a1", "00000000000001ff", "invoke_agent agui-dev-agent", first - 100, last + 100, [str("agui.run_id", run.runId)]),
    span("00000000000001b1", "00000000000001a1", "chat fixture", first - 50, last + 50, [str("gen_ai.operation.name", "chat")]),
    span("00000000000001c1", "00000000000001a1", "execute_tool lookup", last + 60, last + 90,
      [str("gen_ai.tool.name", "lookup"), str("gen_ai.tool.call.id", "call-1")]),
  ];
  const body = { resourceSpans: [{ resource: { attributes: [str("service.name", "agui")] }, scopeSpans: [{ scope: { name: "test" }, spans }] }] };
  const res = await fetch(`${opts.otlp}/v1/traces`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`the receiver answered ${res.status}: ${await res.text()}`);
  await page.waitForSelector(`body[data-timeline-linked="${run.traceId}"]`, { timeout: 60_000 });
  const links = Object.fromEntries(await page.$$eval("#timeline tbody tr", (trs) => trs.map((tr) => [tr.dataset.type, tr.cells[4].textContent])));
  await page.click("#trace-close");
  await page.click('#timeline tr[data-type="TOOL_CALL_START"] td.span a');
  await page.waitForSelector(`#trace-view[data-opened="${run.traceId}"]`);
  const selected = await page.$eval("#waterfall .wf-row.selected", (r) => r.dataset.spanName);
  if (selected !== links.TOOL_CALL_START) throw new Error(`the link to ${links.TOOL_CALL_START} opened ${selected}`);
  return { trace_id: run.traceId, links, selected };
}

// A chat turn with the tool-calling model, then its trace: the row, the waterfall with the tool
// span and its result, and the timeline's link from the tool call's event to that span.
async function tracesChat(context) {
  const page = await openConsole(context);
  const problems = watch(page);
  await step("load", async () => { await gotoDrawn(page); return {}; });
  const run = await step("chat", async () => {
    await page.fill("#agent-input", opts.message);
    await page.press("#agent-input", "Enter");
    await page.waitForFunction(() => document.querySelector('#timeline tr[data-type="RUN_FINISHED"]') &&
      !document.querySelector("#agent-send").disabled, null, { timeout: 120_000 });
    const traceId = await page.$eval("#agent-thread", (el) => el.dataset.traceId);
    if (!/^[0-9a-f]{32}$/.test(traceId || "")) throw new Error(`the run has no trace id: ${traceId}`);
    const types = await page.$$eval("#timeline tbody tr", (trs) => trs.map((tr) => tr.dataset.type));
    return { trace_id: traceId, types };
  }, 150_000);
  await step("traces-row", async () => {
    const row = `#traces-table tr[data-trace-id="${run.trace_id}"]`;
    await page.waitForSelector(row);
    const runId = await page.$eval(row, (tr) => tr.dataset.runId);
    if (!runId) throw new Error("the trace's row names no AG-UI run");
    return { run_id: runId, cells: await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent)) };
  });
  await step("waterfall", async () => {
    await page.click(`#traces-table tr[data-trace-id="${run.trace_id}"]`);
    const tool = await openToolSpan(page);
    await shot(page, "#traces", "traces-chat.png");
    return tool;
  });
  await step("timeline-link", async () => {
    await page.waitForSelector(`body[data-timeline-linked="${run.trace_id}"]`);
    const link = '#timeline tr[data-type="TOOL_CALL_START"] td.span a';
    const name = await page.textContent(link);
    await page.click('#trace-close');
    await page.click(link);
    await page.waitForSelector(`#trace-view[data-opened="${run.trace_id}"]`);
    const selected = await page.$eval("#waterfall .wf-row.selected", (r) => r.dataset.spanName);
    if (selected !== name) throw new Error(`the link to ${name} opened ${selected}`);
    const links = await page.$$eval("#timeline tbody tr", (trs) => trs.map((tr) => [tr.dataset.type, tr.cells[4].textContent]));
    if (problems.length) throw new Error(problems.join("; "));
    return { link: name, selected, links };
  });
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "agui-dev-chromium-"));
  let context = null;
  // A last resort: whatever hangs, the script ends (Playwright kills the browser it launched on exit).
  const watchdog = setTimeout(() => {
    print({ step: "watchdog", ok: false, error: `the whole run took more than ${opts.timeoutS + 300} s` });
    process.exit(1);
  }, (opts.timeoutS + 300) * 1000);
  watchdog.unref();
  try {
    await step("launch", async () => {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
        viewport: { width: 1440, height: 1000 },
        timeout: STEP_TIMEOUT,
      });
      return { scenario: opts.scenario, chromium: context.browser()?.version() ?? null };
    });
    // launchPersistentContext opens one blank page; the scenarios open their own.
    for (const p of context.pages()) await p.close();
    if (opts.scenario === "e2e") await e2e(context);
    else if (opts.scenario === "bench-open") await benchOpen(context);
    else if (opts.scenario === "traces") await tracesPosted(context);
    else if (opts.scenario === "traces-chat") await tracesChat(context);
    else await benchEvents(context);
    return 0;
  } catch (e) {
    if (!(e instanceof StepError)) print({ step: "internal", ok: false, error: String(e && e.stack ? e.stack : e) });
    return 1;
  } finally {
    if (context) await Promise.race([context.close().catch(() => {}), new Promise((r) => setTimeout(r, 15_000))]);
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

process.exitCode = await main();
