/**
 * agui-dev AG-UI server.
 *
 *   POST /agent    RunAgentInput (JSON) -> AG-UI events as Server-Sent Events
 *   GET  /health   503 until the MCP connection is up (when MCP_SERVER_URL is set), then 200
 *
 * Environment: PORT (default 3000), HOST (default 127.0.0.1), LLM_PROVIDER
 * (litellm | deepseek), LITELLM_ENDPOINT, LITELLM_API_KEY, LITELLM_MODEL,
 * DEEPSEEK_API_KEY, DEEPSEEK_MODEL, DEEPSEEK_ENDPOINT, MCP_SERVER_URL,
 * AGUI_ALLOWED_HOSTS and AGUI_ALLOWED_ORIGINS (see guard.ts: who may use this server), and the
 * standard OTEL_* variables (see telemetry.ts: traces, on when an OTLP endpoint is set).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { RunAgentInputSchema } from "@ag-ui/core/schemas";
import type { Event, RunAgentInput } from "@ag-ui/core";
import { EventEncoder } from "@ag-ui/encoder";
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import { RunEmitter, runAgent } from "./agent.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { createGuard, firstSight, GuardConfigError, type Guard } from "./guard.js";
import { McpConnection } from "./mcp.js";
import { AGENT_NAME } from "./spans.js";
import { failSpan, startTelemetry, traceTag, tracer } from "./telemetry.js";

const LOG_PREFIX = "agui-server";
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const SSE_KEEPALIVE_MS = 15_000;
const MCP_CHECK_INTERVAL_MS = 5_000;

function log(message: string): void {
  console.log(`${LOG_PREFIX} ${message}`);
}

let config: Config;
let guard: Guard;
try {
  config = loadConfig();
  guard = createGuard({
    bindHost: config.host,
    allowedHosts: process.env.AGUI_ALLOWED_HOSTS,
    allowedOrigins: process.env.AGUI_ALLOWED_ORIGINS,
  });
} catch (err) {
  if (err instanceof ConfigError || err instanceof GuardConfigError) {
    console.error(`${LOG_PREFIX}: ${err.message}`);
    process.exit(1);
  }
  throw err;
}

// The SDK loads while the server starts listening and connects to MCP; a run waits for it.
const telemetry = startTelemetry(log);
const mcp = config.mcpServerUrl ? new McpConnection(config.mcpServerUrl, log) : undefined;
/** Runs in flight: abort them on shutdown, then give them a moment to send RUN_ERROR. */
const activeRuns = new Map<AbortController, Promise<unknown>>();

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------
/** CORS for an origin the guard allowed: that origin echoed, never `*`; nothing without one. */
function setCors(req: IncomingMessage, res: ServerResponse, origin: string | undefined): void {
  // The answer depends on Origin, so a cache must not hand one origin's answer to another.
  res.setHeader("Vary", "Origin");
  if (origin === undefined) return;
  res.setHeader("Access-Control-Allow-Origin", origin);
  res.setHeader("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  const requested = req.headers["access-control-request-headers"];
  res.setHeader("Access-Control-Allow-Headers", requested || "Content-Type, Accept, Authorization");
  res.setHeader("Access-Control-Max-Age", "86400");
}

const firstRefusal = firstSight();

/** 403 before anything runs: no body read, no model or tool call, no CORS headers. */
function refuse(req: IncomingMessage, res: ServerResponse, error: string, hint: string): void {
  if (firstRefusal(error)) log(`refused ${req.method} ${(req.url ?? "/").split("?")[0]}: ${error}; ${hint}`);
  res.shouldKeepAlive = false;
  sendJson(res, 403, { error, hint });
}

/** `POST /agent` takes JSON only: a cross-origin `text/plain` POST needs no preflight. */
function isJson(req: IncomingMessage): boolean {
  const type = req.headers["content-type"];
  return type !== undefined && type.split(";")[0]!.trim().toLowerCase() === "application/json";
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(payload),
    "Cache-Control": "no-store",
  });
  res.end(payload);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error("too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function healthBody(): { status: number; body: unknown } {
  const llm = { provider: config.llm.provider, model: config.llm.model, endpoint: config.llm.endpoint };
  if (!mcp) return { status: 200, body: { status: "ok", mcp: { connected: false, configured: false }, llm } };
  if (!mcp.connected) return { status: 503, body: { status: "starting", mcp: { connected: false } } };
  return {
    status: 200,
    body: {
      status: "ok",
      mcp: { connected: true, url: mcp.url, tools: mcp.toolList.map((t) => t.name) },
      llm,
    },
  };
}

// ---------------------------------------------------------------------------
// POST /agent
// ---------------------------------------------------------------------------
async function handleAgent(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let raw: string;
  try {
    raw = await readBody(req);
  } catch {
    sendJson(res, 413, { error: "request body too large" });
    return;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    sendJson(res, 400, { error: "request body is not valid JSON" });
    return;
  }
  const parsed = RunAgentInputSchema.safeParse(json);
  if (!parsed.success) {
    sendJson(res, 400, {
      error: "invalid RunAgentInput",
      issues: parsed.error.issues.slice(0, 20).map((i) => ({ path: i.path.join("."), message: i.message })),
    });
    return;
  }
  const input = parsed.data as RunAgentInput;
  await telemetry;
  // One span per run, continuing the caller's trace when it sent a W3C `traceparent`.
  const span = tracer.startSpan(
    `invoke_agent ${AGENT_NAME}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT_NAME,
        "gen_ai.conversation.id": input.threadId,
        "agui.run_id": input.runId,
        "agui.thread_id": input.threadId,
      },
    },
    propagation.extract(ROOT_CONTEXT, req.headers),
  );
  const tag = traceTag(span);
  // `run-start`, not `run `: the `run <id> ` line is the one that says the run ended.
  log(`run-start ${input.runId} thread=${input.threadId}${tag}`);

  const encoder = new EventEncoder(); // always SSE (no protobuf)
  res.writeHead(200, {
    "Content-Type": encoder.getContentType(),
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    Connection: "keep-alive",
  });
  res.flushHeaders();
  req.socket.setNoDelay(true);

  const abort = new AbortController();
  // The client went away before the run finished: stop the LLM/tool work.
  res.on("close", () => {
    if (!res.writableFinished) abort.abort(new Error("client disconnected"));
  });
  const keepAlive = setInterval(() => {
    if (!res.writableEnded) res.write(": keep-alive\n\n");
  }, SSE_KEEPALIVE_MS);

  const emitter = new RunEmitter((event: Event) => {
    if (!res.writableEnded && !res.destroyed) res.write(encoder.encodeSSE(event));
  });
  const started = Date.now();
  try {
    const run = context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
      runAgent(input, { llm: config.llm, mcp }, emitter, abort.signal),
    );
    activeRuns.set(abort, run);
    const summary = await run;
    span.setAttributes({ "agui.rounds": summary.rounds, "agui.tool_calls": summary.toolCalls, "agui.outcome": summary.outcome });
    if (summary.outcome === "error") failSpan(span, "run_error", summary.error ?? "run failed");
    else if (summary.outcome === "aborted") failSpan(span, "cancelled", "run aborted");
    else span.setStatus({ code: SpanStatusCode.OK });
    const detail = summary.error ? ` error=${JSON.stringify(summary.error)}` : "";
    log(
      `run ${input.runId} thread=${input.threadId} model=${config.llm.provider}/${config.llm.model} ` +
        `outcome=${summary.outcome} rounds=${summary.rounds} tool_calls=${summary.toolCalls} ${Date.now() - started}ms${detail}${tag}`,
    );
  } finally {
    span.end();
    clearInterval(keepAlive);
    activeRuns.delete(abort);
    res.end();
  }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------
const server = createServer((req, res) => {
  const verdict = guard.check(req.headers.host, req.headers.origin);
  if (!verdict.allowed) {
    refuse(req, res, verdict.error, verdict.hint);
    return;
  }
  setCors(req, res, verdict.origin);
  const path = (req.url ?? "/").split("?")[0];
  if (req.method === "OPTIONS") {
    res.writeHead(204).end();
    return;
  }
  if (path === "/health" && (req.method === "GET" || req.method === "HEAD")) {
    const { status, body } = healthBody();
    sendJson(res, status, body);
    return;
  }
  if (path === "/agent") {
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST, OPTIONS");
      sendJson(res, 405, { error: "use POST /agent with a RunAgentInput body" });
      return;
    }
    if (!isJson(req)) {
      res.shouldKeepAlive = false;
      sendJson(res, 415, { error: "POST /agent takes Content-Type: application/json", hint: "send the RunAgentInput as JSON" });
      return;
    }
    handleAgent(req, res).catch((err: unknown) => {
      console.error(`${LOG_PREFIX} error in POST /agent:`, err);
      if (!res.headersSent) sendJson(res, 500, { error: "internal server error" });
      else res.end();
    });
    return;
  }
  sendJson(res, 404, { error: "not found", endpoints: ["POST /agent", "GET /health"] });
});

server.on("error", (err: NodeJS.ErrnoException) => {
  console.error(`${LOG_PREFIX}: cannot listen on ${config.host}:${config.port}: ${err.message}`);
  process.exit(1);
});

server.listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  log(
    `listening on http://${host}:${port}/agent (llm ${config.llm.provider}/${config.llm.model} at ${config.llm.endpoint}; ` +
      `mcp ${mcp ? mcp.url : "not configured"}; ${guard.summary})`,
  );
});

let mcpCheck: NodeJS.Timeout | undefined;
if (mcp) {
  mcp.start();
  mcpCheck = setInterval(() => void mcp.check(), MCP_CHECK_INTERVAL_MS);
  mcpCheck.unref();
}

let shuttingDown = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`received ${signal}, shutting down`);
  setTimeout(() => process.exit(0), 1000).unref();
  clearInterval(mcpCheck);
  server.close();
  for (const abort of activeRuns.keys()) abort.abort(new Error("server shutting down"));
  await Promise.all([
    Promise.race([Promise.allSettled(activeRuns.values()), new Promise((r) => setTimeout(r, 300))]),
    mcp?.stop().catch(() => undefined),
  ]);
  server.closeAllConnections();
  // The last runs' spans are still queued in the batch processor: send them before going.
  await (await telemetry).shutdown();
  process.exit(0);
}

process.on("SIGTERM", (s) => void shutdown(s));
process.on("SIGINT", (s) => void shutdown(s));
