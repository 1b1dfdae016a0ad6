/**
 * End-to-end test: starts src/server.ts as a child process on a free port,
 * talks to it with the official MCP client, then stops it with SIGTERM.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const address = srv.address();
  assert.ok(address && typeof address === "object");
  const { port } = address;
  srv.close();
  await once(srv, "close");
  return port;
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs = 20_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early with code ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return res;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function firstText(result: CallToolResult): string {
  const item = result.content[0];
  assert.ok(item && item.type === "text", "expected a text content item");
  return item.text;
}

let child: ChildProcess;
let port: number;
let output = "";

before(async () => {
  port = await freePort();
  child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
});

after(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

test("GET /health reports the tools", async () => {
  const res = await waitForHealth(`http://127.0.0.1:${port}/health`, child);
  assert.deepEqual(await res.json(), {
    status: "ok",
    server: "agui-dev-mcp",
    tools: ["calculate", "get_current_time", "word_count"],
  });
  assert.match(output, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}/mcp`));
});

for (const host of ["127.0.0.1", "localhost"]) {
  test(`MCP client over Streamable HTTP via ${host}`, async () => {
    const client = new Client({ name: "agui-dev-mcp-test", version: "0.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(`http://${host}:${port}/mcp`));
    await client.connect(transport);
    try {
      assert.ok(transport.sessionId, "server assigned a session id");

      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name).sort();
      assert.deepEqual(names, ["calculate", "get_current_time", "word_count"]);
      const calculate = tools.find((t) => t.name === "calculate")!;
      assert.equal(calculate.inputSchema.type, "object");
      assert.deepEqual(calculate.inputSchema.required, ["expression"]);

      const ok = (await client.callTool({ name: "calculate", arguments: { expression: "6*7" } })) as CallToolResult;
      assert.ok(!ok.isError);
      assert.equal(firstText(ok), "42");

      const bad = (await client.callTool({ name: "calculate", arguments: { expression: "2 +" } })) as CallToolResult;
      assert.equal(bad.isError, true);
      assert.match(firstText(bad), /Invalid expression/);

      const missing = (await client.callTool({ name: "calculate", arguments: {} })) as CallToolResult;
      assert.equal(missing.isError, true);

      const time = (await client.callTool({
        name: "get_current_time",
        arguments: { timezone: "Asia/Kolkata" },
      })) as CallToolResult;
      assert.ok(!time.isError);
      const info = JSON.parse(firstText(time)) as Record<string, string>;
      assert.equal(info.timezone, "Asia/Kolkata");
      assert.equal(info.utcOffset, "+05:30");
      assert.ok(!Number.isNaN(Date.parse(info.utc!)));
      assert.match(info.local!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30$/);

      const zone = (await client.callTool({
        name: "get_current_time",
        arguments: { timezone: "Mars/Olympus_Mons" },
      })) as CallToolResult;
      assert.equal(zone.isError, true);
      assert.match(firstText(zone), /Unknown time zone/);

      const words = (await client.callTool({
        name: "word_count",
        arguments: { text: "hello  world\nsecond line" },
      })) as CallToolResult;
      assert.deepEqual(JSON.parse(firstText(words)), { words: 4, characters: 24, lines: 2 });

      await transport.terminateSession();
    } finally {
      await client.close();
    }
  });
}

test("raw HTTP: bad Accept is 406, unknown session is 404, foreign Host is 403, CORS preflight", async () => {
  const url = `http://127.0.0.1:${port}/mcp`;
  const initialize = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
  });

  const notAcceptable = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: initialize,
  });
  assert.equal(notAcceptable.status, 406);
  await notAcceptable.text();

  const unknown = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "Mcp-Session-Id": "00000000-0000-0000-0000-000000000000",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
  });
  assert.equal(unknown.status, 404);
  await unknown.text();

  const preflight = await fetch(url, {
    method: "OPTIONS",
    headers: { Origin: "http://example.test", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.match(preflight.headers.get("access-control-expose-headers") ?? "", /Mcp-Session-Id/);

  // fetch() will not let us forge Host, so use node:http for that.
  const { request } = await import("node:http");
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/mcp", method: "POST", headers: { Host: "evil.example:80" } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(initialize);
  });
  assert.equal(status, 403);
});

test("SIGTERM exits with code 0 quickly", async () => {
  // Keep a session with an open SSE GET stream to prove it does not block exit.
  const client = new Client({ name: "agui-dev-mcp-test", version: "0.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));

  const started = Date.now();
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill("SIGTERM");
  const [code, signal] = await exited;
  const elapsed = Date.now() - started;
  await client.close().catch(() => undefined);
  assert.equal(signal, null, `server died from ${signal}; output:\n${output}`);
  assert.equal(code, 0, `exit code ${code}; output:\n${output}`);
  assert.ok(elapsed < 2000, `took ${elapsed} ms to exit`);
  assert.match(output, /session opened/);
  assert.match(output, /session closed/);
});
