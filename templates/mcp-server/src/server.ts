/**
 * agui-dev MCP server: Streamable HTTP for both MCP protocol eras on one endpoint.
 *
 *   POST/GET/DELETE /mcp   2026-07-28 clients: stateless, one McpServer per request
 *                          (server/discover, protocol version in _meta and the
 *                          MCP-Protocol-Version header, no session);
 *                          2025-era clients: initialize + Mcp-Session-Id, one
 *                          transport + McpServer per session
 *   GET /health            {"status":"ok","server":"agui-dev-mcp","tools":[...]}
 *
 * Environment: PORT (default 3100, 0 = any free port), HOST (default 127.0.0.1),
 * AGUI_ALLOWED_HOSTS (optional, comma-separated extra Host names; "*" disables the check;
 * MCP_ALLOWED_HOSTS is its older name and still read), AGUI_ALLOWED_ORIGINS (optional,
 * comma-separated extra browser origins besides loopback; "*" allows any). See guard.ts.
 * The standard OTEL_* variables turn on traces (telemetry.ts, spans.ts): a span per tools/call.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import {
  createMcpHandler,
  isInitializeRequest,
  isLegacyRequest,
  WebStandardStreamableHTTPServerTransport,
  type McpServer,
} from "@modelcontextprotocol/server";
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { createGuard, firstSight, GuardConfigError } from "./guard.js";
import { startTelemetry } from "./telemetry.js";
import { createMcpServer, SERVER_NAME, TOOL_NAMES } from "./tools.js";

const LOG_PREFIX = "mcp-server";
const MAX_BODY_BYTES = 4 * 1024 * 1024;

function log(message: string): void {
  console.log(`${LOG_PREFIX} ${message}`);
}

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${LOG_PREFIX}: invalid PORT ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return port;
}

const PORT = parsePort(process.env.PORT, 3100);
const HOST = process.env.HOST?.trim() || "127.0.0.1";
const telemetry = await startTelemetry(log);

// ---------------------------------------------------------------------------
// Who may use this server (guard.ts): Host names this machine, Origin is loopback or listed.
// MCP_ALLOWED_HOSTS is the older name of AGUI_ALLOWED_HOSTS; both are read.
// ---------------------------------------------------------------------------
const guard = (() => {
  try {
    return createGuard({
      bindHost: HOST,
      allowedHosts: [process.env.AGUI_ALLOWED_HOSTS, process.env.MCP_ALLOWED_HOSTS].filter(Boolean).join(","),
      allowedOrigins: process.env.AGUI_ALLOWED_ORIGINS,
    });
  } catch (err) {
    if (!(err instanceof GuardConfigError)) throw err;
    console.error(`${LOG_PREFIX}: ${err.message}`);
    process.exit(1);
  }
})();

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------
/** CORS for an origin the guard allowed: that origin echoed, never `*`; nothing without one. */
function setCors(res: ServerResponse, origin: string | undefined): void {
  // The answer depends on Origin, so a cache must not hand one origin's answer to another.
  res.setHeader("Vary", "Origin");
  if (origin === undefined) return;
  res.setHeader("Access-Control-Allow-Origin", origin);
  res.setHeader("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  res.setHeader(
    "Access-Control-Allow-Headers",
    // Mcp-Method / Mcp-Name carry the method and tool name on 2026-07-28 requests.
    "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID",
  );
  res.setHeader("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate");
  res.setHeader("Access-Control-Max-Age", "86400");
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  sendJson(res, status, { jsonrpc: "2.0", error: { code, message }, id: null });
}

const firstRefusal = firstSight();

/** 403 before anything runs: no body read, no session, no tool call, no CORS headers. */
function refuse(req: IncomingMessage, res: ServerResponse, error: string, hint: string): void {
  if (firstRefusal(error)) log(`refused ${req.method} ${(req.url ?? "/").split("?")[0]}: ${error}; ${hint}`);
  res.shouldKeepAlive = false;
  jsonRpcError(res, 403, -32000, `${error}; ${hint}`);
}

class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyError(413, -32600, "Request body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new BodyError(400, -32700, "Parse error: request body is not valid JSON");
  }
}

/** The SDK serves web-standard Request/Response; node:http speaks IncomingMessage/ServerResponse. */
function toWebRequest(req: IncomingMessage, body: Buffer | undefined, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
  return new Request(url, {
    method: req.method,
    headers,
    body: body && req.method !== "GET" && req.method !== "HEAD" ? body : undefined,
    signal,
  });
}

/** Writes a web Response to node:http, streaming the body (SSE) until it ends or the client leaves. */
async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    // CORS headers are ours (set on every answer); do not let a duplicate pile up.
    if (!name.startsWith("access-control-")) headers[name] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const body = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream);
  res.on("close", () => body.destroy());
  for await (const chunk of body) {
    if (!res.write(chunk)) await new Promise((r) => res.once("drain", r));
  }
  res.end();
}

// ---------------------------------------------------------------------------
// 2026-07-28: stateless, one server instance per request (the SDK's handler).
// 2025-era requests are routed away before they reach it (legacy: "reject"),
// because older clients here get real sessions rather than the SDK's
// stateless fallback: they expect an Mcp-Session-Id and a GET stream.
// ---------------------------------------------------------------------------
const modern = createMcpHandler(() => createMcpServer(), {
  legacy: "reject",
  onerror: (err) => log(`2026-07-28 request failed: ${err.message}`),
});

// ---------------------------------------------------------------------------
// 2025-era sessions
// ---------------------------------------------------------------------------
interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
}

const sessions = new Map<string, Session>();

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}

async function startSession(request: Request, body: unknown): Promise<Response> {
  const server = createMcpServer();
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (sessionId) => {
      sessions.set(sessionId, { transport, server });
      log(`session opened ${sessionId} (${sessions.size} active)`);
    },
  });
  transport.onclose = () => {
    const id = transport.sessionId;
    if (id && sessions.delete(id)) log(`session closed ${id} (${sessions.size} active)`);
  };
  await server.connect(transport);
  const response = await transport.handleRequest(request, { parsedBody: body });
  // Initialization was rejected (e.g. 406 for a bad Accept header): no session
  // was registered, so nothing else will ever close this pair.
  if (!transport.sessionId || !sessions.has(transport.sessionId)) {
    await server.close().catch(() => undefined);
  }
  return response;
}

function jsonRpcResponse(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status });
}

async function answerMcp(req: IncomingMessage, signal: AbortSignal): Promise<Response> {
  const raw = req.method === "POST" ? await readBody(req) : undefined;
  const request = toWebRequest(req, raw, signal);

  const header = req.headers["mcp-session-id"];
  const sessionId = Array.isArray(header) ? header[0] : header;
  if (sessionId) {
    const session = sessions.get(sessionId);
    if (!session) return jsonRpcResponse(404, -32001, "Session not found");
    return session.transport.handleRequest(request);
  }

  // The SDK's own classifier decides the era, so routing never disagrees with it.
  if (!(await isLegacyRequest(request, undefined, { maxRequestBodySize: MAX_BODY_BYTES }))) {
    return modern.fetch(request);
  }
  if (req.method !== "POST") return jsonRpcResponse(400, -32000, "Bad Request: missing Mcp-Session-Id header");
  const body = parseJson(raw ?? Buffer.alloc(0));
  if (!isInitialize(body)) {
    return jsonRpcResponse(400, -32000, "Bad Request: no valid session ID provided (send initialize first)");
  }
  return startSession(request, body);
}

async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  let response: Response;
  try {
    // A caller's HTTP `traceparent` is the context a tool span continues when its request carries
    // none in `params._meta` (spans.ts).
    const caller = propagation.extract(ROOT_CONTEXT, req.headers);
    response = await context.with(caller, () => answerMcp(req, abort.signal));
  } catch (err) {
    if (!(err instanceof BodyError)) throw err;
    response = jsonRpcResponse(err.status, err.code, err.message);
  }
  await sendWebResponse(res, response);
}

const httpServer = createServer((req, res) => {
  const verdict = guard.check(req.headers.host, req.headers.origin);
  if (!verdict.allowed) {
    refuse(req, res, verdict.error, verdict.hint);
    return;
  }
  setCors(res, verdict.origin);
  const path = (req.url ?? "/").split("?")[0];

  if (req.method === "OPTIONS") {
    res.writeHead(204).end();
    return;
  }
  if (path === "/health" && (req.method === "GET" || req.method === "HEAD")) {
    sendJson(res, 200, { status: "ok", server: SERVER_NAME, tools: [...TOOL_NAMES] });
    return;
  }
  if (path === "/mcp") {
    if (req.method !== "POST" && req.method !== "GET" && req.method !== "DELETE") {
      res.setHeader("Allow", "GET, POST, DELETE, OPTIONS");
      jsonRpcError(res, 405, -32000, "Method not allowed");
      return;
    }
    handleMcp(req, res).catch((err: unknown) => {
      console.error(`${LOG_PREFIX} error handling ${req.method} /mcp:`, err);
      if (!res.headersSent) jsonRpcError(res, 500, -32603, "Internal server error");
      else res.end();
    });
    return;
  }
  sendJson(res, 404, { error: "not found", endpoints: ["/mcp", "/health"] });
});

// ---------------------------------------------------------------------------
// Start-up and shutdown
// ---------------------------------------------------------------------------
httpServer.on("error", (err: NodeJS.ErrnoException) => {
  console.error(`${LOG_PREFIX}: cannot listen on ${HOST}:${PORT}: ${err.message}`);
  process.exit(1);
});

httpServer.listen(PORT, HOST, () => {
  const { port } = httpServer.address() as AddressInfo;
  const shownHost = HOST.includes(":") ? `[${HOST}]` : HOST;
  log(`listening on http://${shownHost}:${port}/mcp (${guard.summary})`);
});

let shuttingDown = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`received ${signal}, shutting down`);
  // Never take more than a second, whatever hangs.
  setTimeout(() => process.exit(0), 1000).unref();
  httpServer.close();
  const open = [...sessions.values()];
  await Promise.allSettled([modern.close(), ...open.map(({ server }) => server.close())]);
  httpServer.closeAllConnections();
  // The last tool calls' spans are still queued in the batch processor: send them before going.
  await telemetry.shutdown();
  process.exit(0);
}

process.on("SIGTERM", (s) => void shutdown(s));
process.on("SIGINT", (s) => void shutdown(s));
