/**
 * Self-contained test (no network, no real LLM): starts a fake
 * OpenAI-compatible LLM and a small MCP server in this process, runs
 * src/server.ts as a child process against them, and drives it with the
 * official AG-UI HttpAgent.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { EventType, HttpAgent, type BaseEvent } from "@ag-ui/client";
import { EventSchema } from "@ag-ui/core/schemas";
import { Server as McpServer } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { freePort, ROOT, startServer, type Child } from "./child.js";

const SECRET = "sk-test-secret-0123456789";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------
async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

async function readJson(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function waitForHealth(port: number, status: number, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    const body = await res.json();
    if (res.status === status) return body;
    if (Date.now() > deadline) throw new Error(`health stayed ${res.status}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child: Child): Promise<{ code: number | null; signal: string | null; ms: number }> {
  if (child.proc.exitCode !== null) return { code: child.proc.exitCode, signal: null, ms: 0 };
  const started = Date.now();
  const exited = once(child.proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  child.proc.kill("SIGTERM");
  const [code, signal] = await exited;
  return { code, signal, ms: Date.now() - started };
}

function kill(child: Child | undefined): void {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGKILL");
}

/** POSTs a body to /agent and returns the parsed SSE events. */
async function rawRun(port: number, body: unknown): Promise<{ res: Response; events: any[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/agent`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const events = text
    .split("\n\n")
    .map((block) => block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n"))
    .filter(Boolean)
    .map((data) => JSON.parse(data));
  return { res, events };
}

function runInput(content: string) {
  return {
    threadId: randomUUID(),
    runId: randomUUID(),
    state: {},
    messages: [{ id: randomUUID(), role: "user", content }],
    tools: [],
    context: [],
    forwardedProps: {},
  };
}

async function agentRun(port: number, content: string) {
  const agent = new HttpAgent({
    url: `http://127.0.0.1:${port}/agent`,
    initialMessages: [{ id: randomUUID(), role: "user", content }],
  });
  const events: BaseEvent[] = [];
  let text = "";
  await agent.runAgent(
    {},
    {
      onEvent({ event }) {
        events.push(event);
      },
      onTextMessageContentEvent({ event }) {
        text += event.delta;
      },
    },
  );
  return { agent, events, types: events.map((e) => e.type), text };
}

// ---------------------------------------------------------------------------
// Fake OpenAI-compatible LLM
// ---------------------------------------------------------------------------
const llmRequests: Array<{ headers: IncomingMessage["headers"]; body: any }> = [];

function sse(res: ServerResponse, chunks: unknown[]): void {
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`);
  res.end("data: [DONE]\n\n");
}

const delta = (d: Record<string, unknown>, finish: string | null = null) => ({
  object: "chat.completion.chunk",
  choices: [{ index: 0, delta: d, finish_reason: finish }],
});

const llm = createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
    res.writeHead(404).end();
    return;
  }
  const body = await readJson(req);
  llmRequests.push({ headers: req.headers, body });
  const messages = body.messages as Array<{ role: string; content: string | null }>;
  const last = messages[messages.length - 1]!;
  const lastUser = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";

  if (lastUser.includes("loop")) {
    // A model that never stops calling tools (whatever tool_choice says).
    const n = llmRequests.length;
    sse(res, [
      delta({ role: "assistant", tool_calls: [{ index: 0, id: `loop_${n}`, type: "function", function: { name: "add", arguments: `{"a": ${n}, "b": 1}` } }] }),
      delta({}, "tool_calls"),
    ]);
    return;
  }
  if (last.role === "tool") {
    sse(res, [delta({ role: "assistant", content: "" }), delta({ content: "The answer is " }), delta({ content: String(last.content) }), delta({}, "stop")]);
    return;
  }
  if (lastUser.includes("fail")) {
    res.writeHead(401, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${SECRET}`, type: "invalid_request_error" } }));
    return;
  }
  if (lastUser.includes("tool")) {
    sse(res, [
      delta({ role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "add", arguments: "" } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: '{"a": 20,' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: ' "b": 22}' } }] }),
      delta({}, "tool_calls"),
      { object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } },
    ]);
    return;
  }
  sse(res, [
    delta({ role: "assistant", content: "" }),
    delta({ content: "Hello" }),
    delta({ content: "" }),
    delta({ content: " world" }),
    delta({}, "stop"),
    { object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } },
  ]);
});

// ---------------------------------------------------------------------------
// Small MCP server (sessions, so that "forgetting" them simulates a restart)
// ---------------------------------------------------------------------------
const mcpSessions = new Map<string, StreamableHTTPServerTransport>();

function newMcpServer(): McpServer {
  const server = new McpServer({ name: "test-mcp", version: "0.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      {
        name: "add",
        description: "Add two numbers",
        inputSchema: {
          type: "object",
          properties: { a: { type: "number" }, b: { type: "number" } },
          required: ["a", "b"],
        },
      },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const { a, b } = (req.params.arguments ?? {}) as { a?: number; b?: number };
    if (req.params.name !== "add" || typeof a !== "number" || typeof b !== "number") {
      return { content: [{ type: "text", text: "bad call" }], isError: true };
    }
    return { content: [{ type: "text", text: String(a + b) }] };
  });
  return server;
}

const mcpHttp = createServer(async (req, res) => {
  const sid = req.headers["mcp-session-id"] as string | undefined;
  if (sid) {
    const transport = mcpSessions.get(sid);
    if (!transport) {
      res.writeHead(404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }));
      return;
    }
    await transport.handleRequest(req, res);
    return;
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => void mcpSessions.set(id, transport),
  });
  await newMcpServer().connect(transport);
  await transport.handleRequest(req, res);
});

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------
let llmPort: number;
let mcpPort: number;

before(async () => {
  llmPort = await listen(llm);
  mcpPort = await listen(mcpHttp);
});

after(async () => {
  for (const t of mcpSessions.values()) await t.close().catch(() => undefined);
  llm.closeAllConnections();
  mcpHttp.closeAllConnections();
  llm.close();
  mcpHttp.close();
});

describe("with MCP and a fake LLM", () => {
  let child: Child;

  before(async () => {
    child = await startServer({
      LITELLM_ENDPOINT: `http://127.0.0.1:${llmPort}/v1/`, // trailing slash on purpose
      LITELLM_API_KEY: SECRET,
      LITELLM_MODEL: "fake-model",
      MCP_SERVER_URL: `http://127.0.0.1:${mcpPort}/mcp`,
    });
  });
  after(() => kill(child));

  test("GET /health becomes 200 with the MCP tools", async () => {
    const body = await waitForHealth(child.port, 200);
    assert.deepEqual(body.mcp, { connected: true, url: `http://127.0.0.1:${mcpPort}/mcp`, tools: ["add"] });
    assert.equal(body.status, "ok");
    assert.equal(body.llm.provider, "litellm");
    assert.equal(body.llm.model, "fake-model");
    assert.ok(!JSON.stringify(body).includes(SECRET));
  });

  test("text answer: valid stream, no empty deltas, request sent as expected", async () => {
    llmRequests.length = 0;
    const { types, text, events } = await agentRun(child.port, "hello");
    assert.deepEqual(types, [
      EventType.RUN_STARTED,
      EventType.TEXT_MESSAGE_START,
      EventType.TEXT_MESSAGE_CONTENT,
      EventType.TEXT_MESSAGE_CONTENT,
      EventType.TEXT_MESSAGE_END,
      EventType.RUN_FINISHED,
    ]);
    assert.equal(text, "Hello world");
    const finished = events.at(-1)!;
    assert.deepEqual((finished.usage as Array<Record<string, unknown>>)[0]?.totalTokens, 9);
    assert.deepEqual(finished.outcome, { type: "success" });
    // AG-UI 1.0: optional fields are omitted, never null; no THINKING_* events.
    for (const e of events) {
      assert.ok(!JSON.stringify(e).includes(":null"), `null field in ${JSON.stringify(e)}`);
      assert.ok(!String(e.type).startsWith("THINKING_"), `THINKING event ${e.type}`);
    }

    assert.equal(llmRequests.length, 1);
    const { headers, body } = llmRequests[0]!;
    assert.equal(headers.authorization, `Bearer ${SECRET}`);
    assert.equal(body.model, "fake-model");
    assert.equal(body.stream, true);
    assert.equal(body.messages[0].role, "system");
    assert.deepEqual(body.messages.at(-1), { role: "user", content: "hello" });
    assert.equal(body.tools[0].function.name, "add");
    assert.deepEqual(body.tools[0].function.parameters.required, ["a", "b"]);
  });

  test("SSE response headers and schema-valid events", async () => {
    const { res, events } = await rawRun(child.port, runInput("hello"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.equal(res.headers.get("cache-control"), "no-cache, no-transform");
    assert.equal(res.headers.get("x-accel-buffering"), "no");
    // No Origin (not a browser): no CORS headers at all.
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("content-encoding"), null);
    for (const e of events) {
      const parsed = EventSchema.safeParse(e);
      assert.ok(parsed.success, `event does not match the schema: ${JSON.stringify(e)}`);
    }
  });

  test("tool call: TOOL_CALL_* events, MCP result fed back to the model", async () => {
    llmRequests.length = 0;
    const { types, events, text, agent } = await agentRun(child.port, "use the tool to add 20 and 22");
    assert.deepEqual(types, [
      EventType.RUN_STARTED,
      EventType.TOOL_CALL_START,
      EventType.TOOL_CALL_ARGS,
      EventType.TOOL_CALL_ARGS,
      EventType.TOOL_CALL_END,
      EventType.TOOL_CALL_RESULT,
      EventType.TEXT_MESSAGE_START,
      EventType.TEXT_MESSAGE_CONTENT,
      EventType.TEXT_MESSAGE_CONTENT,
      EventType.TEXT_MESSAGE_END,
      EventType.RUN_FINISHED,
    ]);
    const start = events[1]!;
    assert.equal(start.toolCallId, "call_1");
    assert.equal(start.toolCallName, "add");
    assert.equal(typeof start.parentMessageId, "string");
    const args = events.filter((e) => e.type === EventType.TOOL_CALL_ARGS).map((e) => e.delta).join("");
    assert.deepEqual(JSON.parse(args), { a: 20, b: 22 });
    const result = events[5]!;
    assert.equal(result.content, "42");
    assert.equal(result.role, "tool");
    assert.equal(text, "The answer is 42");

    // Second model call carries the assistant tool call and the tool result.
    assert.equal(llmRequests.length, 2);
    const msgs = llmRequests[1]!.body.messages;
    assert.equal(msgs.at(-2).role, "assistant");
    assert.equal(msgs.at(-2).tool_calls[0].id, "call_1");
    assert.deepEqual(msgs.at(-1), { role: "tool", tool_call_id: "call_1", content: "42" });

    // The client built an assistant message holding the call, then the tool message.
    const roles = agent.messages.map((m) => m.role);
    assert.deepEqual(roles, ["user", "assistant", "tool", "assistant"]);
  });

  test("a follow-up run with the previous tool call in the history", async () => {
    const first = await agentRun(child.port, "use the tool please");
    const history = first.agent.messages;
    const agent = new HttpAgent({
      url: `http://127.0.0.1:${child.port}/agent`,
      initialMessages: [...history, { id: randomUUID(), role: "user", content: "thanks, now say hello" }],
    });
    llmRequests.length = 0;
    await agent.runAgent();
    const sent = llmRequests[0]!.body.messages.map((m: { role: string }) => m.role);
    assert.deepEqual(sent, ["system", "user", "assistant", "tool", "assistant", "user"]);
  });

  test("a model that keeps calling tools is stopped after 5 model calls", async () => {
    llmRequests.length = 0;
    const { types, text, events } = await agentRun(child.port, "loop forever");
    assert.equal(llmRequests.length, 5);
    assert.equal(events.filter((e) => e.type === EventType.TOOL_CALL_RESULT).length, 4);
    assert.equal(llmRequests[4]!.body.tool_choice, "none");
    assert.equal(llmRequests[3]!.body.tool_choice, undefined);
    assert.match(text, /stopped after 5 rounds/);
    assert.equal(types.at(-1), EventType.RUN_FINISHED);
  });

  test("MCP session lost (server restarted): reconnects and the tool still works", async () => {
    for (const t of mcpSessions.values()) await t.close().catch(() => undefined);
    mcpSessions.clear();
    const { text } = await agentRun(child.port, "tool time");
    assert.equal(text, "The answer is 42");
    assert.match(child.output(), /mcp session lost/);
  });

  test("LLM error becomes RUN_ERROR with status and message, without the key", async () => {
    const { res, events } = await rawRun(child.port, runInput("please fail"));
    assert.equal(res.status, 200);
    assert.equal(events[0].type, EventType.RUN_STARTED);
    const last = events.at(-1);
    assert.equal(last.type, EventType.RUN_ERROR);
    assert.equal(events.filter((e) => e.type === EventType.RUN_ERROR || e.type === EventType.RUN_FINISHED).length, 1);
    assert.match(last.message, /HTTP 401/);
    assert.match(last.message, /Incorrect API key provided/);
    assert.ok(!last.message.includes(SECRET), "the key must not leak");
    assert.ok(!child.output().includes(SECRET), "the key must not be logged");
  });

  test("invalid bodies are rejected with 400 JSON; CORS preflight works", async () => {
    const url = `http://127.0.0.1:${child.port}/agent`;
    const bad = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"threadId": 5}' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, "invalid RunAgentInput");
    const notJson = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{" });
    assert.equal(notJson.status, 400);
    await notJson.text();
    const pre = await fetch(url, {
      method: "OPTIONS",
      headers: { Origin: "http://localhost:5173", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "http://localhost:5173");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /content-type/i);
  });

  test("one log line per run, and SIGTERM exits 0 within a second", async () => {
    assert.match(child.output(), /run \S+ thread=\S+ model=litellm\/fake-model outcome=finished/);
    assert.match(child.output(), /outcome=error/);
    const { code, signal, ms } = await stop(child);
    assert.equal(signal, null);
    assert.equal(code, 0, child.output());
    assert.ok(ms < 1500, `exit took ${ms} ms`);
  });
});

describe("MCP configured but unreachable", () => {
  let child: Child;
  after(() => kill(child));

  test("GET /health is 503 starting, and SIGTERM still exits 0", async () => {
    const deadPort = await freePort();
    child = await startServer({
      LITELLM_ENDPOINT: `http://127.0.0.1:${llmPort}/v1`,
      MCP_SERVER_URL: `http://127.0.0.1:${deadPort}/mcp`,
    });
    const res = await fetch(`http://127.0.0.1:${child.port}/health`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: "starting", mcp: { connected: false } });
    const { code } = await stop(child);
    assert.equal(code, 0, child.output());
  });
});

describe("without MCP", () => {
  let child: Child;
  after(() => kill(child));

  test("GET /health is 200 with mcp.configured false; runs work without tools", async () => {
    child = await startServer({ LITELLM_ENDPOINT: `http://127.0.0.1:${llmPort}/v1`, LITELLM_MODEL: "m" });
    const res = await fetch(`http://127.0.0.1:${child.port}/health`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, any>;
    assert.deepEqual(body.mcp, { connected: false, configured: false });
    llmRequests.length = 0;
    const { text } = await agentRun(child.port, "hi");
    assert.equal(text, "Hello world");
    assert.equal(llmRequests[0]!.body.tools, undefined);
    assert.equal(llmRequests[0]!.headers.authorization, undefined);
    const { code } = await stop(child);
    assert.equal(code, 0);
  });

  test("LLM_PROVIDER=deepseek without a key: RUN_ERROR says so", async () => {
    child = await startServer({ LLM_PROVIDER: "deepseek", DEEPSEEK_ENDPOINT: `http://127.0.0.1:${llmPort}/v1` });
    const { events } = await rawRun(child.port, runInput("hi"));
    assert.equal(events.at(-1).type, EventType.RUN_ERROR);
    assert.match(events.at(-1).message, /DEEPSEEK_API_KEY/);
    const { code } = await stop(child);
    assert.equal(code, 0);
  });

  test("an invalid LLM_PROVIDER stops start-up with exit code 1", async () => {
    const proc = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", LLM_PROVIDER: "nope", PORT: String(await freePort()) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const [code] = (await once(proc, "exit")) as [number | null];
    assert.equal(code, 1);
    assert.match(err, /LLM_PROVIDER/);
  });
});
