/**
 * End-to-end test: starts src/server.ts as a child process on a free port and talks to it
 * with both official MCP clients — the v2 client (`@modelcontextprotocol/client`) in each
 * era, and the 1.x client (`@modelcontextprotocol/sdk`, 2025-era only) — then stops it
 * with SIGTERM. Every request the clients send is recorded, so the era is asserted on
 * the wire (protocol-version header, session header), not only from the client's word.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MODERN = "2026-07-28";
const LEGACY_LATEST = "2025-11-25";

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

interface Sent {
  method: string;
  rpc: string | undefined;
  protocolHeader: string | null;
  sessionHeader: string | null;
  status: number;
}

/** A fetch that records what a client sends and what status it gets back. */
function recordingFetch(log: Sent[]): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    let rpc: string | undefined;
    if (typeof init?.body === "string") {
      const body = JSON.parse(init.body) as { method?: string } | Array<{ method?: string }>;
      rpc = Array.isArray(body) ? body.map((m) => m.method).join(",") : body.method;
    }
    const res = await fetch(input, init);
    log.push({
      method: init?.method ?? "GET",
      rpc,
      protocolHeader: headers.get("mcp-protocol-version"),
      sessionHeader: headers.get("mcp-session-id"),
      status: res.status,
    });
    return res;
  };
}

interface ToolResult {
  content?: Array<{ type: string; text?: string }>;
  isError?: boolean;
}

/** What both client generations offer; the checks below run the same against each. */
interface AnyClient {
  listTools(): Promise<{ tools: Array<{ name: string; inputSchema: { type?: string; required?: string[] } }> }>;
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
}

function firstText(result: unknown): string {
  const item = (result as ToolResult).content?.[0];
  assert.ok(item && item.type === "text" && typeof item.text === "string", "expected a text content item");
  return item.text;
}

async function exerciseTools(client: AnyClient): Promise<void> {
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ["calculate", "get_current_time", "word_count"]);
  const calculate = tools.find((t) => t.name === "calculate")!;
  assert.equal(calculate.inputSchema.type, "object");
  assert.deepEqual(calculate.inputSchema.required, ["expression"]);

  const ok = (await client.callTool({ name: "calculate", arguments: { expression: "6*7" } })) as ToolResult;
  assert.ok(!ok.isError);
  assert.equal(firstText(ok), "42");

  const bad = (await client.callTool({ name: "calculate", arguments: { expression: "2 +" } })) as ToolResult;
  assert.equal(bad.isError, true);
  assert.match(firstText(bad), /Invalid expression/);

  const missing = (await client.callTool({ name: "calculate", arguments: {} })) as ToolResult;
  assert.equal(missing.isError, true);

  const time = await client.callTool({ name: "get_current_time", arguments: { timezone: "Asia/Kolkata" } });
  assert.ok(!(time as ToolResult).isError);
  const info = JSON.parse(firstText(time)) as Record<string, string>;
  assert.equal(info.timezone, "Asia/Kolkata");
  assert.equal(info.utcOffset, "+05:30");
  assert.ok(!Number.isNaN(Date.parse(info.utc!)));
  assert.match(info.local!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30$/);

  const zone = (await client.callTool({
    name: "get_current_time",
    arguments: { timezone: "Mars/Olympus_Mons" },
  })) as ToolResult;
  assert.equal(zone.isError, true);
  assert.match(firstText(zone), /Unknown time zone/);

  const words = await client.callTool({ name: "word_count", arguments: { text: "hello  world\nsecond line" } });
  assert.deepEqual(JSON.parse(firstText(words)), { words: 4, characters: 24, lines: 2 });
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
  test(`v2 client negotiates ${MODERN} via ${host}: server/discover, version on every request, no session`, async () => {
    const sent: Sent[] = [];
    const client = new Client({ name: "agui-dev-mcp-test", version: "0.0.0" }, { versionNegotiation: { mode: "auto" } });
    const transport = new StreamableHTTPClientTransport(new URL(`http://${host}:${port}/mcp`), {
      fetch: recordingFetch(sent),
    });
    await client.connect(transport);
    try {
      assert.equal(client.getProtocolEra(), "modern");
      assert.equal(client.getNegotiatedProtocolVersion(), MODERN);
      assert.equal(transport.sessionId, undefined, "2026-07-28 has no session");
      await exerciseTools(client);

      assert.equal(sent[0]?.rpc, "server/discover", `first request: ${JSON.stringify(sent[0])}`);
      assert.ok(!sent.some((s) => s.rpc === "initialize"), "no initialize handshake");
      const posts = sent.filter((s) => s.method === "POST");
      assert.ok(posts.length >= 8, `expected discover, list and calls, saw ${posts.length}`);
      for (const s of posts) {
        assert.equal(s.protocolHeader, MODERN, `MCP-Protocol-Version on ${s.rpc}`);
        assert.equal(s.sessionHeader, null, `no Mcp-Session-Id on ${s.rpc}`);
        assert.equal(s.status, 200, `${s.rpc} answered ${s.status}`);
      }
    } finally {
      await client.close();
    }
  });
}

test(`v2 client in legacy mode gets a ${LEGACY_LATEST} session (initialize + Mcp-Session-Id)`, async () => {
  const sent: Sent[] = [];
  const client = new Client({ name: "agui-dev-mcp-test", version: "0.0.0" }, { versionNegotiation: { mode: "legacy" } });
  const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
    fetch: recordingFetch(sent),
  });
  await client.connect(transport);
  try {
    assert.equal(client.getProtocolEra(), "legacy");
    assert.equal(client.getNegotiatedProtocolVersion(), LEGACY_LATEST);
    assert.ok(transport.sessionId, "server assigned a session id");
    await exerciseTools(client);
    assert.equal(sent[0]?.rpc, "initialize");
    const later = sent.filter((s) => s.method === "POST" && s.rpc !== "initialize");
    assert.ok(later.length >= 7);
    for (const s of later) assert.equal(s.sessionHeader, transport.sessionId, `session header on ${s.rpc}`);
    await transport.terminateSession();
  } finally {
    await client.close();
  }
});

test(`1.x SDK client (@modelcontextprotocol/sdk) gets a ${LEGACY_LATEST} session`, async () => {
  const sent: Sent[] = [];
  const client = new ClientV1({ name: "agui-dev-mcp-test-v1", version: "0.0.0" });
  const transport = new TransportV1(new URL(`http://127.0.0.1:${port}/mcp`), { fetch: recordingFetch(sent) });
  await client.connect(transport);
  try {
    assert.ok(transport.sessionId, "server assigned a session id");
    assert.equal(transport.protocolVersion, LEGACY_LATEST);
    await exerciseTools(client);
    assert.equal(sent[0]?.rpc, "initialize");
    const later = sent.filter((s) => s.method === "POST" && s.rpc !== "initialize");
    for (const s of later) {
      assert.equal(s.sessionHeader, transport.sessionId, `session header on ${s.rpc}`);
      assert.equal(s.protocolHeader, LEGACY_LATEST, `protocol header on ${s.rpc}`);
    }
    await transport.terminateSession();
  } finally {
    await client.close();
  }
});

test("raw HTTP: bad Accept is 406, unknown session is 404, foreign Host is 403, CORS preflight, discover without session", async () => {
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

  const noSession = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" }),
  });
  assert.equal(noSession.status, 400, "a 2025-era request without a session is refused");
  assert.match(await noSession.text(), /send initialize first/);

  const discover = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": MODERN,
      "Mcp-Method": "server/discover",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 4,
      method: "server/discover",
      params: {
        _meta: {
          "io.modelcontextprotocol/protocolVersion": MODERN,
          "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    }),
  });
  assert.equal(discover.status, 200);
  assert.equal(discover.headers.get("mcp-session-id"), null);
  const discovered = (await discover.json()) as { result?: { supportedVersions?: string[] } };
  assert.ok(discovered.result?.supportedVersions?.includes(MODERN), JSON.stringify(discovered));

  const preflight = await fetch(url, {
    method: "OPTIONS",
    headers: { Origin: "http://localhost:5173", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "http://localhost:5173");
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
  // Keep a 2025-era session with an open SSE GET stream to prove it does not block exit.
  const client = new ClientV1({ name: "agui-dev-mcp-test", version: "0.0.0" });
  await client.connect(new TransportV1(new URL(`http://127.0.0.1:${port}/mcp`)));

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
