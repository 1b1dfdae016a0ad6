/**
 * Traces of the AG-UI server (src/telemetry.ts, src/spans.ts): the server runs as a child process
 * exporting to an OTLP receiver in this test, against a fake OpenAI-compatible LLM and a small MCP
 * server that record the trace context they are sent. Checks the run, model-call and tool-call
 * spans, their attributes, and that `traceparent` goes on: caller -> run -> LiteLLM and MCP.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Server as McpServer } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { startServer, type Child } from "./child.js";
import { OtlpReceiver, type ReceivedSpan } from "./otlp.js";

const SECRET = "sk-trace-secret-0123456789";
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

// ---------------------------------------------------------------------------
// A fake LLM: `add` first (with a usage chunk), then an answer quoting the tool's result.
// ---------------------------------------------------------------------------
const llmTraceparents: Array<string | undefined> = [];

function sse(res: ServerResponse, chunks: Array<Record<string, unknown>>): void {
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  for (const c of chunks) res.write(`data: ${JSON.stringify({ id: "cmpl-1", model: "fake-model-v2", object: "chat.completion.chunk", ...c })}\n\n`);
  res.end("data: [DONE]\n\n");
}

const llm = createServer(async (req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  llmTraceparents.push(req.headers.traceparent as string | undefined);
  const messages = body.messages as Array<{ role: string; content: string | null }>;
  const last = messages.at(-1)!;
  const lastUser = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  if (last.role === "tool") {
    sse(res, [
      { choices: [{ index: 0, delta: { role: "assistant", content: `The answer is ${last.content}` }, finish_reason: null }] },
      { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      { choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } },
    ]);
    return;
  }
  const args = lastUser.includes("bad") ? '{"a": "x"}' : '{"a": 20, "b": 22}';
  sse(res, [
    { choices: [{ index: 0, delta: { role: "assistant", tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "add", arguments: args } }] }, finish_reason: null }] },
    { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
    { choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } },
  ]);
});

// ---------------------------------------------------------------------------
// A small MCP server that records the trace context of each tools/call.
// ---------------------------------------------------------------------------
const toolMeta: Array<Record<string, unknown> | undefined> = [];
const mcpHeaders: string[] = [];
const sessions = new Map<string, StreamableHTTPServerTransport>();

function newMcpServer(): McpServer {
  const server = new McpServer({ name: "trace-mcp", version: "0.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: "add", description: "Add", inputSchema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } } }],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    toolMeta.push(req.params._meta as Record<string, unknown> | undefined);
    const { a, b } = (req.params.arguments ?? {}) as { a?: unknown; b?: unknown };
    if (typeof a !== "number" || typeof b !== "number") return { content: [{ type: "text", text: "a and b must be numbers" }], isError: true };
    return { content: [{ type: "text", text: String(a + b) }] };
  });
  return server;
}

const mcpHttp = createServer(async (req, res) => {
  if (typeof req.headers.traceparent === "string") mcpHeaders.push(req.headers.traceparent);
  const sid = req.headers["mcp-session-id"] as string | undefined;
  const known = sid ? sessions.get(sid) : undefined;
  if (known) {
    await known.handleRequest(req, res);
    return;
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => void sessions.set(id, transport),
  });
  await newMcpServer().connect(transport);
  await transport.handleRequest(req, res);
});

async function listen(server: ReturnType<typeof createServer>): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** POSTs a run with `headers`, reads the SSE stream to its end; returns the run id. */
async function run(port: number, content: string, headers: Record<string, string> = {}): Promise<string> {
  const runId = randomUUID();
  const res = await fetch(`http://127.0.0.1:${port}/agent`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...headers },
    body: JSON.stringify({
      threadId: "thread-1",
      runId,
      state: {},
      messages: [{ id: randomUUID(), role: "user", content }],
      tools: [],
      context: [],
      forwardedProps: {},
    }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(text, /RUN_FINISHED/);
  return runId;
}

function waitForChild(child: Child, needle: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return (async () => {
    while (!child.output().includes(needle)) {
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(needle)} in:\n${child.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
}

/** The spans of one run's trace, once its run span and `count` spans in all have arrived. */
async function runTrace(receiver: OtlpReceiver, runId: string, count: number): Promise<{ root: ReceivedSpan; spans: ReceivedSpan[] }> {
  const all = await receiver.waitFor(`the ${count} spans of run ${runId}`, (spans) => {
    const root = spans.find((s) => s.attributes["agui.run_id"] === runId);
    return root !== undefined && spans.filter((s) => s.traceId === root.traceId).length >= count;
  });
  const root = all.find((s) => s.attributes["agui.run_id"] === runId)!;
  return { root, spans: all.filter((s) => s.traceId === root.traceId) };
}

const receiver = new OtlpReceiver();
let llmPort: number;
let mcpPort: number;

before(async () => {
  await receiver.start();
  llmPort = await listen(llm);
  mcpPort = await listen(mcpHttp);
});

after(async () => {
  for (const t of sessions.values()) await t.close().catch(() => undefined);
  for (const s of [llm, mcpHttp]) {
    s.closeAllConnections();
    s.close();
  }
  receiver.close();
});

function kill(child: Child | undefined): void {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGKILL");
}

describe("traced (OTEL_EXPORTER_OTLP_ENDPOINT set)", () => {
  let child: Child;
  before(async () => {
    child = await startServer({
      ...receiver.env("agui"),
      LITELLM_ENDPOINT: `http://127.0.0.1:${llmPort}/v1`,
      LITELLM_API_KEY: SECRET,
      LITELLM_MODEL: "fake-model",
      MCP_SERVER_URL: `http://127.0.0.1:${mcpPort}/mcp`,
    });
    await waitForChild(child, "mcp connected");
  });
  after(() => kill(child));

  test("a run: one trace continuing the caller's traceparent, with run, model-call and tool spans", async () => {
    const traceId = randomBytes(16).toString("hex");
    const callerSpan = randomBytes(8).toString("hex");
    llmTraceparents.length = 0;
    toolMeta.length = 0;
    mcpHeaders.length = 0;
    const runId = await run(child.port, "add 20 and 22", { traceparent: `00-${traceId}-${callerSpan}-01` });
    const { root, spans } = await runTrace(receiver, runId, 4);

    // The run: a server span under the caller's, in the caller's trace.
    assert.equal(root.traceId, traceId);
    assert.equal(root.parentSpanId, callerSpan);
    assert.equal(root.name, "invoke_agent agui-dev-agent");
    assert.equal(root.kind, SERVER);
    assert.equal(root.service, "agui");
    assert.equal(root.attributes["agui.thread_id"], "thread-1");
    assert.equal(root.attributes["agui.rounds"], 2);
    assert.equal(root.attributes["agui.tool_calls"], 1);
    assert.equal(root.attributes["gen_ai.operation.name"], "invoke_agent");

    // Two model calls, children of the run, with usage, finish reason, time to first chunk.
    const chats = spans.filter((s) => s.name === "chat fake-model");
    assert.equal(chats.length, 2, JSON.stringify(spans.map((s) => s.name)));
    const [first, second] = chats.sort((a, b) => Number(a.attributes["gen_ai.usage.input_tokens"]) - Number(b.attributes["gen_ai.usage.input_tokens"]));
    for (const chat of [first!, second!]) {
      assert.equal(chat.parentSpanId, root.spanId);
      assert.equal(chat.kind, CLIENT);
      assert.equal(chat.attributes["gen_ai.operation.name"], "chat");
      assert.equal(chat.attributes["gen_ai.request.model"], "fake-model");
      assert.equal(chat.attributes["gen_ai.response.model"], "fake-model-v2");
      assert.equal(chat.attributes["gen_ai.provider.name"], "litellm");
      assert.equal(chat.attributes["server.port"], llmPort);
      const ttfc = chat.attributes["gen_ai.response.time_to_first_chunk"];
      assert.ok(typeof ttfc === "number" && ttfc >= 0, `time to first chunk: ${ttfc}`);
      assert.deepEqual(chat.events.map((e) => e.name), ["gen_ai.first_chunk"]);
      const tools = JSON.parse(String(chat.attributes["gen_ai.tool.definitions"]));
      assert.equal(tools[0].name, "add");
      assert.equal(tools[0].parameters.type, "object");
    }
    assert.deepEqual([first!.attributes["gen_ai.usage.input_tokens"], first!.attributes["gen_ai.usage.output_tokens"]], [5, 3]);
    assert.deepEqual([second!.attributes["gen_ai.usage.input_tokens"], second!.attributes["gen_ai.usage.output_tokens"]], [9, 4]);
    assert.deepEqual(first!.attributes["gen_ai.response.finish_reasons"], ["tool_calls"]);
    assert.deepEqual(second!.attributes["gen_ai.response.finish_reasons"], ["stop"]);
    const sent = JSON.parse(String(first!.attributes["gen_ai.input.messages"]));
    assert.deepEqual(sent.at(-1), { role: "user", parts: [{ type: "text", content: "add 20 and 22" }] });
    const answered = JSON.parse(String(first!.attributes["gen_ai.output.messages"]));
    assert.deepEqual(answered, [
      { role: "assistant", parts: [{ type: "tool_call", id: "call_1", name: "add", arguments: { a: 20, b: 22 } }], finish_reason: "tool_calls" },
    ]);
    const followUp = JSON.parse(String(second!.attributes["gen_ai.input.messages"]));
    assert.deepEqual(followUp.at(-1), { role: "tool", parts: [{ type: "tool_call_response", id: "call_1", response: "42" }] });

    // The tool call, a child of the run, with its arguments and result.
    const tool = spans.find((s) => s.name === "execute_tool add");
    assert.ok(tool, JSON.stringify(spans.map((s) => s.name)));
    assert.equal(tool.parentSpanId, root.spanId);
    assert.equal(tool.attributes["gen_ai.tool.name"], "add");
    assert.equal(tool.attributes["gen_ai.tool.call.id"], "call_1");
    assert.equal(tool.attributes["mcp.method.name"], "tools/call");
    assert.deepEqual(JSON.parse(String(tool.attributes["gen_ai.tool.call.arguments"])), { a: 20, b: 22 });
    assert.equal(tool.attributes["gen_ai.tool.call.result"], "42");
    assert.notEqual(tool.status.code, ERROR);

    // Propagation: LiteLLM got each model call's context as a header, MCP the tool call's in
    // params._meta and as a header.
    assert.deepEqual(
      llmTraceparents,
      [first!, second!].map((c) => `00-${traceId}-${c.spanId}-01`),
    );
    const expected = `00-${traceId}-${tool.spanId}-01`;
    assert.deepEqual(toolMeta.map((m) => m?.traceparent), [expected]);
    assert.ok(mcpHeaders.includes(expected), `HTTP traceparent headers seen by MCP: ${mcpHeaders.join(", ")}`);

    // The run's log lines name the trace; no span holds the provider key.
    assert.match(child.output(), new RegExp(`run-start ${runId} thread=thread-1 trace_id=${traceId}`));
    assert.match(child.output(), new RegExp(`run ${runId} .*outcome=finished.* trace_id=${traceId}`));
    assert.ok(!JSON.stringify(receiver.spans).includes(SECRET), "the key must not reach a span");
  });

  test("without a traceparent a run starts a trace of its own; a failing tool marks its span", async () => {
    const runId = await run(child.port, "add something bad");
    const { root, spans } = await runTrace(receiver, runId, 4);
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(root.traceId, "0".repeat(32));
    assert.equal(root.parentSpanId, "");
    const tool = spans.find((s) => s.name === "execute_tool add")!;
    assert.equal(tool.status.code, ERROR);
    assert.equal(tool.attributes["error.type"], "tool_error");
    assert.match(String(tool.attributes["gen_ai.tool.call.result"]), /must be numbers/);
  });
});

describe("the last run's spans are sent on SIGTERM", () => {
  let child: Child;
  after(() => kill(child));

  test("with a batch delay of a minute, the spans still arrive when the server stops", async () => {
    child = await startServer({
      ...receiver.env("agui-late"),
      OTEL_BSP_SCHEDULE_DELAY: "60000",
      LITELLM_ENDPOINT: `http://127.0.0.1:${llmPort}/v1`,
      LITELLM_MODEL: "fake-model",
    });
    const runId = await run(child.port, "add 1 and 2");
    await waitForChild(child, `run ${runId} `);
    assert.equal(receiver.spans.filter((s) => s.service === "agui-late").length, 0, "nothing sent before the stop");
    const exited = once(child.proc, "exit");
    child.proc.kill("SIGTERM");
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, child.output());
    const spans = receiver.spans.filter((s) => s.service === "agui-late");
    assert.ok(spans.some((s) => s.attributes["agui.run_id"] === runId), JSON.stringify(spans.map((s) => s.name)));
  });
});

describe("untraced (no OTLP endpoint)", () => {
  let child: Child;
  after(() => kill(child));

  test("no SDK, no trace context passed on, no trace_id in the log", async () => {
    child = await startServer({ LITELLM_ENDPOINT: `http://127.0.0.1:${llmPort}/v1`, LITELLM_MODEL: "fake-model" });
    llmTraceparents.length = 0;
    const traceId = randomBytes(16).toString("hex");
    const runId = await run(child.port, "add 1 and 2", { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` });
    await waitForChild(child, `run ${runId} `);
    assert.deepEqual(llmTraceparents, [undefined, undefined]);
    assert.ok(!child.output().includes("trace_id="), child.output());
    assert.ok(!child.output().includes("traces:"), child.output());
  });
});
