/**
 * Web pages are kept out (src/guard.ts), as the MCP transport specification requires ("servers
 * MUST validate the Origin header on all incoming connections"): the real server, started as a
 * child process, asked over real HTTP with forged Host and Origin headers (node:http, since
 * fetch() will not let a caller set Host). A refused request must do no work: no session is
 * opened, no tool runs.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, request, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FOREIGN = "https://evil.example";
const FRONTEND = "http://localhost:5173";
const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "guard-test", version: "0" } },
});
const MCP_HEADERS = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function noCorsHeaders(a: Answer): void {
  for (const name of Object.keys(a.headers)) assert.ok(!name.startsWith("access-control-"), `${name} on a refusal`);
}

function noStar(a: Answer): void {
  for (const [name, value] of Object.entries(a.headers)) assert.notEqual(String(value).trim(), "*", `${name}: *`);
}

interface Child {
  proc: ChildProcess;
  port: number;
  output: () => string;
}

const children: ChildProcess[] = [];

async function start(env: Record<string, string>): Promise<Child> {
  const s = createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, "close");
  const proc = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(proc);
  let output = "";
  proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!output.includes("listening on")) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, port, output: () => output };
}

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

describe("defaults", () => {
  let child: Child;

  test("a foreign Origin gets 403 on OPTIONS, POST /mcp and GET /health, with no CORS headers, and no session opens", async () => {
    child = await start({});
    const preflight = await send(child.port, "OPTIONS", "/mcp", { Origin: FOREIGN, "Access-Control-Request-Method": "POST" });
    assert.equal(preflight.status, 403);
    noCorsHeaders(preflight);
    const error = (JSON.parse(preflight.body) as { error: { message: string } }).error.message;
    assert.match(error, /Origin "https:\/\/evil\.example" is not allowed.*AGUI_ALLOWED_ORIGINS/);

    const post = await send(child.port, "POST", "/mcp", { ...MCP_HEADERS, Origin: FOREIGN }, INITIALIZE);
    assert.equal(post.status, 403);
    assert.equal(post.headers["mcp-session-id"], undefined);
    noCorsHeaders(post);
    const call = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "calculate", arguments: { expression: "6*7" } } });
    const modern = await send(
      child.port,
      "POST",
      "/mcp",
      { ...MCP_HEADERS, Origin: FOREIGN, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "calculate" },
      call,
    );
    assert.equal(modern.status, 403);
    assert.doesNotMatch(modern.body, /42/);
    for (const method of ["GET", "DELETE"]) {
      assert.equal((await send(child.port, method, "/mcp", { Origin: FOREIGN })).status, 403, method);
    }
    const health = await send(child.port, "GET", "/health", { Origin: FOREIGN });
    assert.equal(health.status, 403);
    noCorsHeaders(health);
    for (const origin of ["null", "http://192.168.1.10:5173", "http://localhost.evil.example"]) {
      assert.equal((await send(child.port, "GET", "/health", { Origin: origin })).status, 403, origin);
    }
    assert.doesNotMatch(child.output(), /session opened/);
  });

  test("a foreign Host gets 403 on every path (DNS rebinding), and no session opens", async () => {
    const post = await send(child.port, "POST", "/mcp", { ...MCP_HEADERS, Host: `evil.example:${child.port}` }, INITIALIZE);
    assert.equal(post.status, 403);
    assert.match(JSON.parse(post.body).error.message, /Host "evil\.example:\d+" does not name this server.*AGUI_ALLOWED_HOSTS/);
    assert.equal((await send(child.port, "GET", "/health", { Host: "evil.example" })).status, 403);
    assert.equal((await send(child.port, "OPTIONS", "/mcp", { Host: "evil.example", Origin: FRONTEND })).status, 403);
    assert.doesNotMatch(child.output(), /session opened/);
  });

  test("a loopback Origin gets itself echoed with Vary: Origin and the MCP headers exposed, never *", async () => {
    const preflight = await send(child.port, "OPTIONS", "/mcp", {
      Origin: FRONTEND,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type, mcp-method, mcp-protocol-version",
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers["access-control-allow-origin"], FRONTEND);
    assert.match(String(preflight.headers.vary), /\bOrigin\b/);
    assert.match(String(preflight.headers["access-control-allow-headers"]), /Mcp-Method/);
    assert.match(String(preflight.headers["access-control-expose-headers"]), /Mcp-Session-Id/);
    noStar(preflight);

    const post = await send(child.port, "POST", "/mcp", { ...MCP_HEADERS, Origin: "http://127.0.0.1:8080" }, INITIALIZE);
    assert.equal(post.status, 200);
    assert.equal(post.headers["access-control-allow-origin"], "http://127.0.0.1:8080");
    assert.ok(post.headers["mcp-session-id"], "a session for an allowed origin");
    noStar(post);
  });

  test("without Origin it works as before, with no CORS headers", async () => {
    const post = await send(child.port, "POST", "/mcp", MCP_HEADERS, INITIALIZE);
    assert.equal(post.status, 200);
    assert.ok(post.headers["mcp-session-id"]);
    noCorsHeaders(post);
    const health = await send(child.port, "GET", "/health", {});
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, "ok");
  });
});

describe("the variables", () => {
  test("AGUI_ALLOWED_HOSTS, its older name MCP_ALLOWED_HOSTS, and AGUI_ALLOWED_ORIGINS", async () => {
    const child = await start({ AGUI_ALLOWED_HOSTS: "mcp", MCP_ALLOWED_HOSTS: "old-name", AGUI_ALLOWED_ORIGINS: "https://app.example" });
    for (const host of ["mcp:3100", "old-name", "localhost"]) {
      assert.equal((await send(child.port, "GET", "/health", { Host: host })).status, 200, host);
    }
    assert.equal((await send(child.port, "GET", "/health", { Host: "other" })).status, 403);
    const listed = await send(child.port, "GET", "/health", { Origin: "https://app.example" });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers["access-control-allow-origin"], "https://app.example");
    assert.equal((await send(child.port, "GET", "/health", { Origin: FOREIGN })).status, 403);
  });

  test("bound to every interface, Host is still checked (no name is guessed)", async () => {
    const child = await start({ HOST: "0.0.0.0" });
    assert.equal((await send(child.port, "GET", "/health", { Host: "evil.example" })).status, 403);
    assert.equal((await send(child.port, "GET", "/health", { Host: `127.0.0.1:${child.port}` })).status, 200);
  });

  test("* turns each check off, and the origin is still echoed rather than *", async () => {
    const child = await start({ MCP_ALLOWED_HOSTS: "*", AGUI_ALLOWED_ORIGINS: "*" });
    const answer = await send(child.port, "GET", "/health", { Host: "evil.example", Origin: FOREIGN });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["access-control-allow-origin"], FOREIGN);
    noStar(answer);
  });
});
