// A web page in Debian's Chromium tries to use the stack's servers (AG-UI, MCP, the dev console,
// LiteLLM): from a foreign origin, from a sandboxed frame (`Origin: null`) and in the DNS-rebinding
// shape (a made-up name that resolves to 127.0.0.1, so the page and the server share an origin and
// only `Host` tells them apart). Every attempt must be refused or unreadable. Then the same page,
// served from `http://localhost:<port>` like a frontend dev server, runs the agent through CORS and
// reads the streamed answer.
//
//   node tests/browser/edges.mjs --agui URL --mcp URL --console URL --litellm URL
//        [--nonce N] [--shots DIR] [--keep-going]
//
// URLs are origins (http://127.0.0.1:PORT); `--mcp` may end in /mcp. A token in the console URL is
// dropped: the page does not know it. Every step prints one JSON line, {"step":"...","ok":true,...};
// the first failing step prints "ok":false with `error` and the script exits 1 (`--keep-going` runs
// every step first, to see all an attacker gets). Each agent run carries a run id that names the
// step (`attacker-...-NONCE`, `frontend-NONCE`), so the AG-UI server's log can be checked for it.
import { chromium } from "playwright-core";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const STEP_TIMEOUT = 60_000;
// The attacker's name. `--host-resolver-rules` maps it to 127.0.0.1, as a rebinding DNS server would.
const REBIND_HOST = "rebind.agui-dev.test";
// A key from LiteLLM's own examples: what a page might guess.
const GUESSED_KEY = "sk-1234";
const MCP_MODERN = "2026-07-28";

function parseArgs(argv) {
  const opts = { nonce: `${process.pid}-${Date.now()}`, shots: null, keepGoing: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--agui") opts.agui = value();
    else if (a === "--mcp") opts.mcp = value();
    else if (a === "--console") opts.console = value();
    else if (a === "--litellm") opts.litellm = value();
    else if (a === "--nonce") opts.nonce = value();
    else if (a === "--shots") opts.shots = value();
    else if (a === "--keep-going") opts.keepGoing = true;
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  for (const name of ["agui", "mcp", "console", "litellm"]) {
    if (!opts[name]) usage(`--${name} is required`);
    try {
      opts[name] = new URL(opts[name]);
    } catch {
      usage(`--${name}: not a URL: ${opts[name]}`);
    }
  }
  return opts;
}

function usage(error) {
  if (error) console.error(`edges.mjs: ${error}`);
  console.error("usage: node edges.mjs --agui URL --mcp URL --console URL --litellm URL [--nonce N] [--shots DIR] [--keep-going]");
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.shots) fs.mkdirSync(opts.shots, { recursive: true });
const origin = (url) => `${url.protocol}//${url.host}`;
const AGUI = origin(opts.agui);
const MCP_PATH = opts.mcp.pathname === "/" ? "/mcp" : opts.mcp.pathname;
const MCP = origin(opts.mcp) + MCP_PATH;
const CONSOLE = origin(opts.console);
const LITELLM = origin(opts.litellm);
// The same server under the attacker's name: the DNS-rebinding shape.
const rebound = (url) => `http://${REBIND_HOST}:${url.port}`;

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

class StepError extends Error {}
let failures = 0;
let currentPage = null;

// Runs one step with a time limit and prints its JSON line. A failure screenshots the page and,
// unless --keep-going, throws StepError.
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
    failures++;
    print({ step: name, ok: false, error: String(e && e.message ? e.message : e).split("\n")[0], ...((e && e.details) || {}) });
    if (opts.shots && currentPage && !currentPage.isClosed()) {
      await currentPage.screenshot({ path: path.join(opts.shots, `failed-${name}.png`), fullPage: true, timeout: 10_000 }).catch(() => {});
    }
    if (!opts.keepGoing) throw new StepError(name);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The page. Both servers serve it: the attacker's under the made-up name, the frontend's on
// localhost.
// ---------------------------------------------------------------------------------------------

// The page's own fetch, which says whether the answer could be read. It is the page's script (its
// source is in PAGE); for the rebound documents it is run as the attacker's script would be.
async function probe(spec) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), spec.timeoutMs || 50000);
  try {
    const res = await fetch(spec.url, { method: spec.method || "GET", headers: spec.headers || {}, body: spec.body,
      mode: "cors", credentials: "omit", signal: abort.signal });
    const body = await res.text();
    return { outcome: "readable", status: res.status, body, session: res.headers.get("mcp-session-id") };
  } catch (e) {
    return { outcome: "blocked", error: String(e) };
  } finally {
    clearTimeout(timer);
  }
}
const PROBE_SOURCE = probe.toString();

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>edges test page</title></head>
<body><h1>A web page the developer has open</h1>
<script>
${PROBE_SOURCE}
window.probe = probe;
// The same probe from a sandboxed frame, whose requests carry Origin: null.
window.probeFromSandbox = (spec) => new Promise((resolve) => {
  const frame = document.createElement("iframe");
  frame.sandbox = "allow-scripts";
  frame.srcdoc = "<script>" + ${JSON.stringify(PROBE_SOURCE)} +
    "addEventListener('message', async (e) => parent.postMessage(await probe(e.data), '*'));<\\/script>";
  addEventListener("message", function answer(e) {
    if (e.source !== frame.contentWindow) return;
    removeEventListener("message", answer);
    frame.remove();
    resolve(e.data);
  });
  frame.onload = () => frame.contentWindow.postMessage(spec, "*");
  document.body.append(frame);
});
</script></body></html>`;

function servePage() {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      if ((req.url ?? "/").split("?")[0] !== "/") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      res.end(PAGE);
    });
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

function runInput(runId, message) {
  return JSON.stringify({
    threadId: `thread-${runId}`,
    runId,
    state: {},
    messages: [{ id: `msg-${runId}`, role: "user", content: message }],
    tools: [],
    context: [],
    forwardedProps: {},
  });
}

const runId = (what) => `attacker-${what}-${opts.nonce}`;

const agentJson = (url, what) => ({
  url,
  method: "POST",
  headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
  body: runInput(runId(what), "Read me your tools and call them."),
});

// text/plain is a CORS "simple request": sent without a preflight, whatever the server answers.
const agentSimple = (url, what) => ({ url, method: "POST", headers: { "Content-Type": "text/plain" }, body: runInput(runId(what), "hello") });

const mcpInitialize = (url) => ({
  url,
  method: "POST",
  headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
  body: JSON.stringify({
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "edges-page", version: "0" } },
  }),
});

// One stateless 2026-07-28 request: a tool call needs no session.
const mcpToolCall = (url) => ({
  url,
  method: "POST",
  headers: {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    "MCP-Protocol-Version": MCP_MODERN,
    "Mcp-Method": "tools/call",
    "Mcp-Name": "calculate",
  },
  body: JSON.stringify({
    jsonrpc: "2.0", id: 2, method: "tools/call",
    params: {
      name: "calculate",
      arguments: { expression: "6*7" },
      _meta: {
        "io.modelcontextprotocol/protocolVersion": MCP_MODERN,
        "io.modelcontextprotocol/clientInfo": { name: "edges-page", version: "0" },
        "io.modelcontextprotocol/clientCapabilities": {},
      },
    },
  }),
});

const completion = (url, headers) => ({
  url,
  method: "POST",
  headers,
  body: JSON.stringify({ model: "offline", max_tokens: 16, messages: [{ role: "user", content: "Say hello." }] }),
});

const controlRestart = (url) => ({
  url,
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ version: 1, op: "restart", services: ["agui"] }),
});

// The AG-UI events of a streamed answer: how many, their types (a run of one type shown once) and
// the text of the message.
function sseEvents(body) {
  const events = [];
  for (const line of body.split("\n")) {
    if (!line.startsWith("data:")) continue;
    try {
      const event = JSON.parse(line.slice(5));
      if (typeof event.type === "string") events.push(event);
    } catch {
      // a keep-alive or a broken line: not an event
    }
  }
  const types = events.map((e) => e.type).filter((t, i, all) => t !== all[i - 1]);
  const text = events.filter((e) => e.type === "TEXT_MESSAGE_CONTENT").map((e) => e.delta).join("");
  return { count: events.length, types, text };
}

// What a result shows, for the step's line: the status and the start of what was read.
function shown(result) {
  if (result.outcome !== "readable") return { outcome: result.outcome, error: result.error };
  const out = { outcome: "readable", status: result.status, body: result.body.slice(0, 160) };
  if (result.session) out.mcp_session = result.session;
  const { count, types, text } = sseEvents(result.body);
  if (count) Object.assign(out, { events: count, types, text });
  return out;
}

// Refused: the browser would not let the page read the answer, or the server said no with one of
// `statuses`. Anything else is what the attacker got.
function expectRefused(result, statuses) {
  if (result.outcome === "blocked") return shown(result);
  if (statuses.includes(result.status)) return shown(result);
  const error = new Error(`the page read an answer: HTTP ${result.status}`);
  error.details = shown(result);
  throw error;
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

async function attackerSteps(page, attackerUrl) {
  currentPage = page;
  await step("attacker-page", async () => {
    const res = await page.goto(attackerUrl, { waitUntil: "load" });
    if (!res || res.status() !== 200) throw new Error(`GET ${attackerUrl}: HTTP ${res ? res.status() : "no response"}`);
    const pageOrigin = await page.evaluate(() => location.origin);
    if (!pageOrigin.startsWith(`http://${REBIND_HOST}:`)) throw new Error(`the page's origin is ${pageOrigin}`);
    return { origin: pageOrigin };
  });
  const inPage = (spec) => page.evaluate((s) => window.probe(s), spec);
  const cases = [
    ["foreign-agui-run", () => inPage(agentJson(`${AGUI}/agent`, "json")), [403], runId("json")],
    ["foreign-agui-simple-run", () => inPage(agentSimple(`${AGUI}/agent`, "simple")), [403, 415], runId("simple")],
    ["foreign-agui-null-origin-run", () => page.evaluate((s) => window.probeFromSandbox(s), agentJson(`${AGUI}/agent`, "null")), [403], runId("null")],
    ["foreign-agui-health", () => inPage({ url: `${AGUI}/health` }), [403]],
    ["foreign-mcp-initialize", () => inPage(mcpInitialize(MCP)), [403]],
    ["foreign-mcp-tool-call", () => inPage(mcpToolCall(MCP)), [403]],
    ["foreign-console-status", () => inPage({ url: `${CONSOLE}/api/status` }), [401, 403, 421]],
    ["foreign-console-control", () => inPage(controlRestart(`${CONSOLE}/api/control`)), [401, 403, 421]],
    ["foreign-litellm-completion", () => inPage(completion(`${LITELLM}/v1/chat/completions`, { "Content-Type": "application/json" })), [401]],
    // Without a database LiteLLM answers a key that is not the master key with 400 "No connected db".
    ["foreign-litellm-guessed-key", () => inPage(completion(`${LITELLM}/v1/chat/completions`,
      { "Content-Type": "application/json", Authorization: `Bearer ${GUESSED_KEY}` })), [400, 401]],
    ["foreign-litellm-simple-completion", () => inPage(completion(`${LITELLM}/v1/chat/completions`, { "Content-Type": "text/plain" })), [401]],
    ["foreign-litellm-readiness", () => inPage({ url: `${LITELLM}/health/readiness` }), []],
  ];
  for (const [name, attempt, statuses, id] of cases) {
    await step(name, async () => ({ ...(id ? { run_id: id } : {}), ...expectRefused(await attempt(), statuses) }));
  }
}

// The DNS-rebinding shape: the page is loaded from the server's own port under the attacker's
// name, so its requests are same-origin (no CORS to stop them) and only `Host` is foreign.
async function reboundSteps(page) {
  currentPage = page;
  // In a real attack the attacker's page, loaded under its name, keeps running when the name flips
  // to 127.0.0.1; here the name points there from the start, and the script runs in the document.
  const inPage = (spec) => page.evaluate(probe, spec);
  const open = async (url) => {
    const res = await page.goto(url, { waitUntil: "load" });
    const status = res ? res.status() : 0;
    const body = res ? (await res.text().catch(() => "")).slice(0, 160) : "";
    return { document: url, document_status: status, document_body: body };
  };
  await step("rebind-agui-run", async () => {
    const doc = await open(`${rebound(opts.agui)}/health`);
    return { ...doc, run_id: runId("rebind"), ...expectRefused(await inPage(agentJson("/agent", "rebind")), [403]) };
  });
  await step("rebind-agui-health", async () => ({ ...expectRefused(await inPage({ url: "/health" }), [403]) }));
  await step("rebind-mcp-initialize", async () => {
    const doc = await open(`${rebound(opts.mcp)}/health`);
    return { ...doc, ...expectRefused(await inPage(mcpInitialize(MCP_PATH)), [403]) };
  });
  await step("rebind-mcp-tool-call", async () => ({ ...expectRefused(await inPage(mcpToolCall(MCP_PATH)), [403]) }));
  await step("rebind-console-status", async () => {
    const doc = await open(`${rebound(opts.console)}/`);
    return { ...doc, ...expectRefused(await inPage({ url: "/api/status" }), [401, 403, 421]) };
  });
  await step("rebind-console-control", async () => ({ ...expectRefused(await inPage(controlRestart("/api/control")), [401, 403, 421]) }));
  // LiteLLM checks no `Host`: a rebound page reaches it, and only the master key refuses it.
  await step("rebind-litellm-completion", async () => {
    const doc = await open(`${rebound(opts.litellm)}/health/readiness`);
    const guessed = expectRefused(await inPage(completion("/v1/chat/completions",
      { "Content-Type": "application/json", Authorization: `Bearer ${GUESSED_KEY}` })), [400, 401]);
    return { ...doc, ...expectRefused(await inPage(completion("/v1/chat/completions", { "Content-Type": "application/json" })), [401]),
      guessed_key: guessed };
  });
}

async function frontendSteps(page, frontendUrl) {
  currentPage = page;
  await step("frontend-page", async () => {
    const res = await page.goto(frontendUrl, { waitUntil: "load" });
    if (!res || res.status() !== 200) throw new Error(`GET ${frontendUrl}: HTTP ${res ? res.status() : "no response"}`);
    return { origin: await page.evaluate(() => location.origin) };
  });
  await step("frontend-agent-run", async () => {
    const id = `frontend-${opts.nonce}`;
    const result = await page.evaluate((s) => window.probe(s), {
      url: `${AGUI}/agent`,
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: runInput(id, "hello"),
    });
    if (result.outcome !== "readable") throw new Error(`the frontend could not read the run: ${result.error}`);
    if (result.status !== 200) throw new Error(`POST /agent answered ${result.status}: ${result.body.slice(0, 200)}`);
    const { count, types, text } = sseEvents(result.body);
    if (types[0] !== "RUN_STARTED" || types[types.length - 1] !== "RUN_FINISHED" || !types.includes("TEXT_MESSAGE_CONTENT")) {
      throw new Error(`not a whole run: ${types.join(" ")}`);
    }
    if (!text.trim()) throw new Error("the run streamed no text");
    return { run_id: id, status: result.status, events: count, types, text };
  }, 120_000);
  await step("frontend-mcp-tool-call", async () => {
    const result = await page.evaluate((s) => window.probe(s), mcpToolCall(MCP));
    if (result.outcome !== "readable") throw new Error(`the frontend could not read the MCP answer: ${result.error}`);
    if (result.status !== 200 || !result.body.includes("42")) throw new Error(`MCP answered ${result.status}: ${result.body.slice(0, 200)}`);
    return { status: result.status, body: result.body.slice(0, 200) };
  });
}

// ---------------------------------------------------------------------------------------------

const attackerServer = await servePage();
const frontendServer = await servePage();
const attackerUrl = `http://${REBIND_HOST}:${attackerServer.address().port}/`;
const frontendUrl = `http://localhost:${frontendServer.address().port}/`;
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "agui-edges-chromium-"));
let context;
let code = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
      // The rebinding DNS server, in one flag: the made-up name is 127.0.0.1.
      `--host-resolver-rules=MAP ${REBIND_HOST} 127.0.0.1`,
    ],
    viewport: { width: 1000, height: 700 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT);
  print({ step: "start", ok: true, attacker: attackerUrl, frontend: frontendUrl, nonce: opts.nonce });
  await attackerSteps(page, attackerUrl);
  await reboundSteps(page);
  await frontendSteps(page, frontendUrl);
  if (failures) code = 1;
} catch (e) {
  code = 1;
  if (!(e instanceof StepError)) print({ step: "harness", ok: false, error: String(e && e.stack ? e.stack : e) });
} finally {
  await context?.close().catch(() => {});
  attackerServer.close();
  frontendServer.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
