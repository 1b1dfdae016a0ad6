/**
 * Traces of the MCP server (src/telemetry.ts, src/spans.ts): the server runs as a child process
 * exporting to an OTLP receiver in this test. Each tools/call is one server span
 * `tools/call <tool>` that continues the caller's trace from `params._meta.traceparent`, else from
 * the HTTP `traceparent` header, with the tool's arguments and result, and error status when the
 * tool fails.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { OtlpReceiver, type ReceivedSpan } from "./otlp.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVER = 2;
const ERROR = 2;

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as { port: number };
  srv.close();
  await once(srv, "close");
  return port;
}

const receiver = new OtlpReceiver();
let child: ChildProcess;
let output = "";
let url: string;

before(async () => {
  await receiver.start();
  const port = await freePort();
  url = `http://127.0.0.1:${port}/mcp`;
  child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(port), ...receiver.env("mcp") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!output.includes("listening on")) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  receiver.close();
});

function traceparent(): { traceId: string; parent: string; header: string } {
  const traceId = randomBytes(16).toString("hex");
  const parent = randomBytes(8).toString("hex");
  return { traceId, parent, header: `00-${traceId}-${parent}-01` };
}

/** The `tools/call` span whose arguments are `args`, once it arrived. */
async function spanOf(args: Record<string, unknown>): Promise<ReceivedSpan> {
  const wanted = JSON.stringify(args);
  const spans = await receiver.waitFor(`the span of ${wanted}`, (all) => all.some((s) => s.attributes["gen_ai.tool.call.arguments"] === wanted));
  return spans.find((s) => s.attributes["gen_ai.tool.call.arguments"] === wanted)!;
}

test("2026-07-28 client: the span continues params._meta.traceparent", async () => {
  const client = new Client({ name: "trace-test", version: "0.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const ctx = traceparent();
  const result = await client.callTool({ name: "calculate", arguments: { expression: "6*7" }, _meta: { traceparent: ctx.header } });
  assert.deepEqual(result.content, [{ type: "text", text: "42" }]);
  await client.close();

  const span = await spanOf({ expression: "6*7" });
  assert.equal(span.name, "tools/call calculate");
  assert.equal(span.kind, SERVER);
  assert.equal(span.service, "mcp");
  assert.equal(span.traceId, ctx.traceId);
  assert.equal(span.parentSpanId, ctx.parent);
  assert.equal(span.attributes["mcp.method.name"], "tools/call");
  assert.equal(span.attributes["gen_ai.operation.name"], "execute_tool");
  assert.equal(span.attributes["gen_ai.tool.name"], "calculate");
  assert.equal(span.attributes["gen_ai.tool.call.result"], "42");
  assert.equal(typeof span.attributes["jsonrpc.request.id"], "string");
  assert.notEqual(span.status.code, ERROR);
});

test("2025-era session: the HTTP traceparent header when _meta has none; _meta wins over it", async () => {
  const header = traceparent();
  const client = new ClientV1({ name: "trace-test-v1", version: "0.0.0" });
  await client.connect(new TransportV1(new URL(url), { requestInit: { headers: { traceparent: header.header } } }));
  await client.callTool({ name: "calculate", arguments: { expression: "1+1" } });
  const meta = traceparent();
  await client.callTool({ name: "calculate", arguments: { expression: "2+2" }, _meta: { traceparent: meta.header } });
  await client.close();

  const byHeader = await spanOf({ expression: "1+1" });
  assert.equal(byHeader.traceId, header.traceId);
  assert.equal(byHeader.parentSpanId, header.parent);
  assert.equal(typeof byHeader.attributes["mcp.session.id"], "string");
  const byMeta = await spanOf({ expression: "2+2" });
  assert.equal(byMeta.traceId, meta.traceId);
  assert.equal(byMeta.parentSpanId, meta.parent);
});

test("no trace context: a trace of its own; a failing tool: error status", async () => {
  const client = new Client({ name: "trace-test", version: "0.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const failed = await client.callTool({ name: "calculate", arguments: { expression: "1/(" } });
  assert.equal(failed.isError, true);
  await client.callTool({ name: "word_count", arguments: { text: "one two" } });
  await client.close();

  const bad = await spanOf({ expression: "1/(" });
  assert.equal(bad.status.code, ERROR);
  assert.equal(bad.attributes["error.type"], "tool_error");
  assert.match(String(bad.attributes["gen_ai.tool.call.result"]), /Invalid expression/);
  const words = await spanOf({ text: "one two" });
  assert.equal(words.name, "tools/call word_count");
  assert.equal(words.parentSpanId, "");
  assert.match(words.traceId, /^[0-9a-f]{32}$/);
});

test("SIGTERM: exits 0 after sending what is queued", async () => {
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, output);
  assert.match(output, /traces: exporting to http:\/\/127\.0\.0\.1:\d+\/v1\/traces \(http\/json\)/);
});
