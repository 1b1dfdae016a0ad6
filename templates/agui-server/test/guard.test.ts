/**
 * Web pages are kept out (src/guard.ts): the real server, started as a child process against a
 * fake OpenAI-compatible LLM in this process, asked over real HTTP with forged Host and Origin
 * headers (node:http and raw sockets, since fetch() will not let a caller set Host). A refused
 * request must never reach the model: the fake LLM counts its calls and the server's log must
 * hold no `run` line for it.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { createGuard, GuardConfigError, hostName } from "../src/guard.js";
import { ROOT, startServer, type Child } from "./child.js";

const FOREIGN = "https://evil.example";
const FRONTEND = "http://localhost:5173";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with exactly these headers (Host included, when given). */
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

/** An HTTP/1.0 request with no Host header at all (HTTP/1.1 without one is refused by node itself). */
function sendWithoutHost(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(`GET ${path} HTTP/1.0\r\n\r\n`));
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (text += d));
    socket.on("end", () => resolve(Number(/^HTTP\/1\.\d (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on("error", reject);
  });
}

function runInput(runId: string = randomUUID()): string {
  return JSON.stringify({
    threadId: randomUUID(),
    runId,
    state: {},
    messages: [{ id: randomUUID(), role: "user", content: "hello" }],
    tools: [],
    context: [],
    forwardedProps: {},
  });
}

function noCorsHeaders(a: Answer): void {
  for (const name of Object.keys(a.headers)) assert.ok(!name.startsWith("access-control-"), `${name} on a refusal`);
}

function noStar(a: Answer): void {
  for (const [name, value] of Object.entries(a.headers)) assert.notEqual(String(value).trim(), "*", `${name}: *`);
}

// ---------------------------------------------------------------------------
// A fake model that answers one short text and counts its calls.
// ---------------------------------------------------------------------------
let modelCalls = 0;
const llm: Server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    modelCalls++;
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.end(chunk({ role: "assistant", content: "hi" }) + chunk({}, "stop") + "data: [DONE]\n\n");
  });
});

const children: ChildProcess[] = [];

async function start(env: Record<string, string>): Promise<Child> {
  const llmPort = (llm.address() as AddressInfo).port;
  const child = await startServer({
    LITELLM_ENDPOINT: `http://127.0.0.1:${llmPort}/v1`,
    LITELLM_MODEL: "fake-model",
    ...env,
  });
  children.push(child.proc);
  return child;
}

/** Starts the server expecting it to refuse to start; returns its output. */
async function startFails(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(proc);
  let output = "";
  proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  // Bounded: a server that ignores the bad variable would otherwise run forever.
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [code] = (await once(proc, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

function runLines(child: Child): number {
  return child.output().match(/^agui-server run /gm)?.length ?? 0;
}

/**
 * Runs one allowed request and waits for its own `run` line. The server logs in order, so by
 * then every line an earlier request could have caused is in `output`: "no run line" is a fact,
 * not a race. Returns the number of run lines, the barrier's included.
 */
async function barrier(child: Child): Promise<number> {
  const runId = randomUUID();
  const answer = await send(child.port, "POST", "/agent", { "Content-Type": "application/json" }, runInput(runId));
  assert.equal(answer.status, 200, answer.body);
  const deadline = Date.now() + 15_000;
  while (!child.output().includes(`agui-server run ${runId} `)) {
    if (Date.now() > deadline) throw new Error(`no run line for ${runId}:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return runLines(child);
}

before(async () => {
  llm.listen(0, "127.0.0.1");
  await once(llm, "listening");
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  llm.closeAllConnections();
  llm.close();
});

describe("defaults", () => {
  let child: Child;
  before(async () => {
    child = await start({});
  });

  test("a foreign Origin gets 403 on OPTIONS, POST /agent and GET /health, with no CORS headers, and no run starts", async () => {
    const runs = await barrier(child);
    const calls = modelCalls;
    const preflight = await send(child.port, "OPTIONS", "/agent", {
      Origin: FOREIGN,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type",
    });
    assert.equal(preflight.status, 403);
    noCorsHeaders(preflight);
    const body = JSON.parse(preflight.body) as { error: string; hint: string };
    assert.match(body.error, /Origin "https:\/\/evil\.example" is not allowed/);
    assert.match(body.hint, /AGUI_ALLOWED_ORIGINS/);

    for (const contentType of ["application/json", "text/plain"]) {
      const post = await send(child.port, "POST", "/agent", { Origin: FOREIGN, "Content-Type": contentType }, runInput());
      assert.equal(post.status, 403, contentType);
      noCorsHeaders(post);
    }
    const health = await send(child.port, "GET", "/health", { Origin: FOREIGN });
    assert.equal(health.status, 403);
    noCorsHeaders(health);
    // Not "any IP address" (webpack-dev-server CVE-2025-30360), not a sandboxed page.
    for (const origin of ["null", "http://192.168.1.10:5173", "http://localhost.evil.example", "http://127.0.0.1.evil.example:80", ""]) {
      const answer = await send(child.port, "GET", "/health", { Origin: origin });
      assert.equal(answer.status, 403, `Origin ${JSON.stringify(origin)}`);
    }
    assert.equal(await barrier(child), runs + 1, "no run started but the barrier's");
    assert.equal(modelCalls, calls + 1, "no model call for a refused request");
    // Each refused origin is logged once, with the variable to set.
    assert.match(child.output(), /refused OPTIONS \/agent: forbidden: Origin "https:\/\/evil\.example".*AGUI_ALLOWED_ORIGINS/);
    assert.equal(child.output().match(/Origin "https:\/\/evil\.example"/g)?.length, 1);
  });

  test("a foreign Host gets 403 (DNS rebinding), and a missing Host too, before any run", async () => {
    const runs = await barrier(child);
    const calls = modelCalls;
    const post = await send(
      child.port,
      "POST",
      "/agent",
      { Host: `evil.example:${child.port}`, "Content-Type": "application/json" },
      runInput(),
    );
    assert.equal(post.status, 403);
    assert.match(JSON.parse(post.body).hint, /AGUI_ALLOWED_HOSTS/);
    noCorsHeaders(post);
    const health = await send(child.port, "GET", "/health", { Host: `evil.example:${child.port}` });
    assert.equal(health.status, 403);
    // The rebound page's Host combined with a loopback Origin: still refused.
    const both = await send(child.port, "GET", "/health", { Host: "evil.example", Origin: FRONTEND });
    assert.equal(both.status, 403);
    noCorsHeaders(both);
    assert.equal(await sendWithoutHost(child.port, "/health"), 403);
    assert.equal(await barrier(child), runs + 1, "no run started but the barrier's");
    assert.equal(modelCalls, calls + 1);
  });

  test("loopback names are served on any port", async () => {
    for (const host of ["localhost", `localhost:${child.port}`, `127.0.0.1:${child.port}`, `[::1]:${child.port}`, "LOCALHOST:1"]) {
      const answer = await send(child.port, "GET", "/health", { Host: host });
      assert.equal(answer.status, 200, host);
    }
  });

  test("a loopback Origin on any port gets itself echoed with Vary: Origin, never *", async () => {
    for (const origin of [FRONTEND, "http://127.0.0.1:8080", "https://[::1]:4443", "http://localhost"]) {
      const preflight = await send(child.port, "OPTIONS", "/agent", {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      });
      assert.equal(preflight.status, 204, origin);
      assert.equal(preflight.headers["access-control-allow-origin"], origin);
      assert.match(String(preflight.headers.vary), /\bOrigin\b/);
      assert.match(String(preflight.headers["access-control-allow-headers"]), /content-type/i);
      noStar(preflight);
    }
    const health = await send(child.port, "GET", "/health", { Origin: FRONTEND });
    assert.equal(health.status, 200);
    assert.equal(health.headers["access-control-allow-origin"], FRONTEND);
    noStar(health);
  });

  test("POST /agent from an allowed origin runs and streams, with the origin echoed", async () => {
    const calls = modelCalls;
    const answer = await send(
      child.port,
      "POST",
      "/agent",
      { Origin: FRONTEND, "Content-Type": "application/json", Accept: "text/event-stream" },
      runInput(),
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["access-control-allow-origin"], FRONTEND);
    assert.match(String(answer.headers.vary), /\bOrigin\b/);
    noStar(answer);
    assert.match(answer.body, /RUN_FINISHED/);
    assert.equal(modelCalls, calls + 1);
  });

  test("without Origin (curl, servers, agui-dev) it works as before, with no CORS headers", async () => {
    const calls = modelCalls;
    const answer = await send(child.port, "POST", "/agent", { "Content-Type": "application/json; charset=utf-8" }, runInput());
    assert.equal(answer.status, 200);
    assert.match(answer.body, /RUN_STARTED[\s\S]*RUN_FINISHED/);
    noCorsHeaders(answer);
    assert.equal(modelCalls, calls + 1);
  });

  test("POST /agent other than application/json is 415, before any run", async () => {
    const runs = await barrier(child);
    const calls = modelCalls;
    for (const headers of [
      { "Content-Type": "text/plain" },
      { "Content-Type": "text/plain;charset=UTF-8", Origin: FRONTEND },
      { "Content-Type": "application/x-www-form-urlencoded" },
      { "Content-Type": "multipart/form-data; boundary=x" },
      {} as Record<string, string>,
    ]) {
      const answer = await send(child.port, "POST", "/agent", headers, runInput());
      assert.equal(answer.status, 415, JSON.stringify(headers));
      assert.match(JSON.parse(answer.body).error, /application\/json/);
    }
    assert.equal(await barrier(child), runs + 1, "no run started but the barrier's");
    assert.equal(modelCalls, calls + 1);
  });
});

describe("the variables", () => {
  test("AGUI_ALLOWED_HOSTS and AGUI_ALLOWED_ORIGINS add exact names and origins", async () => {
    const child = await start({ AGUI_ALLOWED_HOSTS: "agui, App.Example", AGUI_ALLOWED_ORIGINS: "https://app.example, http://10.0.0.5:3000/" });
    for (const host of ["agui", `agui:${child.port}`, "app.example:443"]) {
      assert.equal((await send(child.port, "GET", "/health", { Host: host })).status, 200, host);
    }
    assert.equal((await send(child.port, "GET", "/health", { Host: "agui.evil.example" })).status, 403);
    for (const origin of ["https://app.example", "http://10.0.0.5:3000"]) {
      const answer = await send(child.port, "GET", "/health", { Origin: origin });
      assert.equal(answer.status, 200, origin);
      assert.equal(answer.headers["access-control-allow-origin"], origin);
    }
    for (const origin of ["http://app.example", "https://app.example:8443", "https://sub.app.example", FOREIGN]) {
      assert.equal((await send(child.port, "GET", "/health", { Origin: origin })).status, 403, origin);
    }
    assert.equal((await send(child.port, "GET", "/health", { Origin: FRONTEND })).status, 200, "loopback stays allowed");
  });

  test("* turns each check off, and the origin is still echoed rather than *", async () => {
    const child = await start({ AGUI_ALLOWED_HOSTS: "*", AGUI_ALLOWED_ORIGINS: "*" });
    const answer = await send(child.port, "GET", "/health", { Host: "evil.example", Origin: FOREIGN });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["access-control-allow-origin"], FOREIGN);
    noStar(answer);
  });

  test("the bound HOST is accepted when it is one address", async () => {
    const child = await start({ HOST: "127.0.0.2" });
    const res = await new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.2", port: child.port, path: "/health", agent: false }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(res, 200);
  });

  test("an unreadable variable stops the server with a message naming it", async () => {
    const hosts = await startFails({ AGUI_ALLOWED_HOSTS: "a b:x" });
    assert.equal(hosts.code, 1);
    assert.match(hosts.output, /AGUI_ALLOWED_HOSTS: "a b:x" is not a host name/);
    const origins = await startFails({ AGUI_ALLOWED_ORIGINS: "app.example/path" });
    assert.equal(origins.code, 1);
    assert.match(origins.output, /AGUI_ALLOWED_ORIGINS: "app\.example\/path" is not an origin/);
  });
});

describe("guard.ts on its own", () => {
  const guard = createGuard({ bindHost: "0.0.0.0", allowedHosts: undefined, allowedOrigins: undefined });

  test("Host values", () => {
    assert.equal(hostName("LocalHost:3000"), "localhost");
    assert.equal(hostName("[::1]:3000"), "[::1]");
    assert.equal(hostName("[::1]"), "[::1]");
    for (const bad of ["", ":3000", "localhost:", "localhost:x", "localhost:3000:1", "[::1", "::1", "[::1]x"]) {
      assert.equal(hostName(bad), undefined, JSON.stringify(bad));
    }
    // Bound to every interface: no name of the machine is guessed; loopback only.
    assert.equal(guard.check("192.168.1.5:3000", undefined).allowed, false);
    assert.equal(guard.check("0.0.0.0:3000", undefined).allowed, false);
    assert.equal(guard.check("127.0.0.1:3000", undefined).allowed, true);
    assert.equal(guard.check(undefined, undefined).allowed, false);
  });

  test("Origin values", () => {
    assert.deepEqual(guard.check("localhost", undefined), { allowed: true, origin: undefined });
    assert.deepEqual(guard.check("localhost", FRONTEND), { allowed: true, origin: FRONTEND });
    for (const bad of ["null", "file://", "http://localhost:5173/", "http://localhost:5173 ", "http://[::2]:1", "ws://localhost", `${FRONTEND}, ${FOREIGN}`]) {
      assert.equal(guard.check("localhost", bad).allowed, false, bad);
    }
  });

  test("bad settings throw GuardConfigError", () => {
    assert.throws(() => createGuard({ bindHost: "", allowedHosts: "x/y", allowedOrigins: undefined }), GuardConfigError);
    assert.throws(() => createGuard({ bindHost: "", allowedHosts: undefined, allowedOrigins: "null" }), GuardConfigError);
    assert.throws(() => createGuard({ bindHost: "", allowedHosts: undefined, allowedOrigins: "ftp://x" }), GuardConfigError);
  });
});
