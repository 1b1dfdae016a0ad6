/**
 * What the templates' Host/Origin guard (templates/agui-server/src/guard.ts, the same file in
 * the MCP template) adds per request.
 *
 *   cd templates/agui-server && node --import tsx ../../bench/guard.mts [--quick] [--json]
 *
 * 1. The check itself: `guard.check(host, origin)` called in a loop, per call, for each kind of
 *    request (no Origin, loopback Origin, listed Origin, refused Origin, refused Host).
 * 2. End to end: the real AG-UI template (no MCP, no model: GET /health answers from memory) on a
 *    free 127.0.0.1 port, N sequential GET /health over one keep-alive connection, rounds
 *    alternating between the same server with the checks on (defaults) and a second one with
 *    them off (`AGUI_ALLOWED_HOSTS=*`, `AGUI_ALLOWED_ORIGINS=*`), without and with a loopback
 *    Origin. The difference "on minus off" is what the checks add to a served request.
 *
 * Prints a summary on stderr; with --json, one JSON object on stdout (bench/run reads it).
 * Starts two server processes and stops them by pid whatever happens.
 */
import type { ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { createGuard } from "../templates/agui-server/src/guard.ts";
import { startServer } from "../templates/agui-server/test/child.ts";

const quick = process.argv.includes("--quick");
const asJson = process.argv.includes("--json");
const CALLS = quick ? 100_000 : 1_000_000;
const CALL_ROUNDS = quick ? 3 : 9;
const REQUESTS = quick ? 200 : 2_000;
const REQUEST_ROUNDS = quick ? 2 : 10;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function stats(values: number[]) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

// ---------------------------------------------------------------------------------------------
// 1. The check alone
// ---------------------------------------------------------------------------------------------
const defaults = createGuard({ bindHost: "127.0.0.1", allowedHosts: undefined, allowedOrigins: undefined });
const listed = createGuard({
  bindHost: "127.0.0.1",
  allowedHosts: "agui",
  allowedOrigins: "https://app.example,https://staging.app.example",
});
const CASES: Array<[string, ReturnType<typeof createGuard>, string, string | undefined]> = [
  ["no Origin (curl, agui-dev)", defaults, "127.0.0.1:3000", undefined],
  ["loopback Origin", defaults, "localhost:3000", "http://localhost:5173"],
  ["listed Origin", listed, "agui:3000", "https://app.example"],
  ["refused Origin", defaults, "127.0.0.1:3000", "https://evil.example"],
  ["refused Host", defaults, "evil.example:3000", "https://evil.example"],
];

function perCallNs(guard: ReturnType<typeof createGuard>, host: string, origin: string | undefined): number {
  let allowed = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) if (guard.check(host, origin).allowed) allowed++;
  const ns = Number(process.hrtime.bigint() - start) / CALLS;
  if (allowed !== 0 && allowed !== CALLS) throw new Error("the guard changed its mind");
  return ns;
}

const check: Record<string, ReturnType<typeof stats>> = {};
for (const [name, guard, host, origin] of CASES) perCallNs(guard, host, origin); // warm up
for (const [name, guard, host, origin] of CASES) {
  const rounds: number[] = [];
  for (let r = 0; r < CALL_ROUNDS; r++) rounds.push(perCallNs(guard, host, origin));
  check[name] = stats(rounds);
}

// ---------------------------------------------------------------------------------------------
// 2. End to end
// ---------------------------------------------------------------------------------------------
const children: ChildProcess[] = [];
function stopAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}
process.on("exit", stopAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

/** The template on a free port; its pid is kept so that `stopAll` ends it. */
async function startTemplate(env: Record<string, string>): Promise<number> {
  // bench/run finds every process it caused by this tag, should one outlive this script.
  const child = await startServer({ AGUI_BENCH_RUN: process.env.AGUI_BENCH_RUN ?? "", ...env });
  children.push(child.proc);
  return child.port;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/health", headers, agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Mean µs per request over `REQUESTS` sequential requests on one connection. */
async function perRequestUs(port: number, headers: Record<string, string>): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) {
    const status = await get(port, headers);
    if (status !== 200) throw new Error(`GET /health answered ${status}`);
  }
  return Number(process.hrtime.bigint() - start) / 1000 / REQUESTS;
}

const on = await startTemplate({});
const off = await startTemplate({ AGUI_ALLOWED_HOSTS: "*", AGUI_ALLOWED_ORIGINS: "*" });
const VARIANTS: Array<[string, number, Record<string, string>]> = [
  ["checks on, no Origin", on, {}],
  ["checks off, no Origin", off, {}],
  ["checks on, loopback Origin", on, { Origin: "http://localhost:5173" }],
  ["checks off, loopback Origin", off, { Origin: "http://localhost:5173" }],
];
for (const [, port, headers] of VARIANTS) await perRequestUs(port, headers); // warm up (JIT, connection)
const samples: Record<string, number[]> = Object.fromEntries(VARIANTS.map(([name]) => [name, []]));
const added: Record<string, number[]> = { "no Origin": [], "loopback Origin": [] };
for (let r = 0; r < REQUEST_ROUNDS; r++) {
  // Rotate the order each round, so drift on a shared machine falls on every variant alike.
  const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
  const round: Record<string, number> = {};
  for (const [name, port, headers] of order) round[name] = await perRequestUs(port, headers);
  for (const [name] of VARIANTS) samples[name]!.push(round[name]!);
  added["no Origin"]!.push(round["checks on, no Origin"]! - round["checks off, no Origin"]!);
  added["loopback Origin"]!.push(round["checks on, loopback Origin"]! - round["checks off, loopback Origin"]!);
}
agent.destroy();
stopAll();

const result = {
  node: process.version,
  calls_per_round: CALLS,
  requests_per_round: REQUESTS,
  check_ns: check,
  request_us: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])),
  added_us: Object.fromEntries(Object.entries(added).map(([k, v]) => [k, stats(v)])),
};

const lines = [`guard.check per call (${CALL_ROUNDS} rounds of ${CALLS.toLocaleString("en")} calls; median, min-max):`];
for (const [name, s] of Object.entries(result.check_ns)) {
  lines.push(`  ${name.padEnd(28)} ${s.median.toFixed(1)} ns (${s.min.toFixed(1)}-${s.max.toFixed(1)})`);
}
lines.push(`GET /health per request (${REQUEST_ROUNDS} rounds of ${REQUESTS.toLocaleString("en")} on one keep-alive connection):`);
for (const [name, s] of Object.entries(result.request_us)) {
  lines.push(`  ${name.padEnd(28)} ${s.median.toFixed(1)} µs (${s.min.toFixed(1)}-${s.max.toFixed(1)})`);
}
for (const [name, s] of Object.entries(result.added_us)) {
  lines.push(`  added by the checks, ${name.padEnd(16)} ${s.median.toFixed(1)} µs (${s.min.toFixed(1)}-${s.max.toFixed(1)}), same round`);
}
console.error(lines.join("\n"));
if (asJson) console.log(JSON.stringify(result));
