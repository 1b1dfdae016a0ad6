// The official AG-UI client's verdict on every stream of a fixtures folder, for the differential
// test (tests/agui_differential.rs):
//
//   node tests/agui-verify/verify.mjs tests/fixtures/agui-streams
//
// prints one JSON object, {"<fixture>.jsonl": {"pass": true|false, "error": "...", "warnings": [...]}}.
//
// Each line of a fixture is one SSE frame (`data: <line>`). The frames go to a real `HttpAgent` of
// `@ag-ui/client` 1.0.0 (pinned by package-lock.json) whose `fetch` answers with them, so a stream
// takes the path of every real run, not `verifyEvents` alone: the SSE parser, the compatibility
// boundary (which converts deprecated shapes such as `THINKING_*`, with a warning), the schema
// enforcement (which rejects malformed known fields and strips what it does not recognise, with a
// warning), chunk expansion, `verifyEvents`, and the reducer. No network: the URL is never fetched.
import fs from "node:fs";
import path from "node:path";
import { HttpAgent } from "@ag-ui/client";

// A stream that neither ends nor fails is a verdict too, but a bounded one.
const LIMIT_MS = 30_000;

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node verify.mjs <fixtures-dir>");
  process.exit(2);
}

// The client reports conversions and repairs on console.warn and a failed run on console.error;
// they are kept per fixture (warnings) or dropped (the error is in the verdict), so stdout stays
// one JSON object.
let warnings = [];
console.warn = (...parts) => warnings.push(parts.map(String).join(" "));
console.error = () => {};

async function verdict(body) {
  const agent = new HttpAgent({
    url: "http://fixture.invalid/agent",
    fetch: async () => new Response(body, { headers: { "content-type": "text/event-stream" } }),
  });
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no verdict within ${LIMIT_MS} ms`)), LIMIT_MS);
  });
  try {
    await Promise.race([agent.runAgent(), limit]);
    return { pass: true };
  } catch (error) {
    return { pass: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

const verdicts = {};
for (const name of fs.readdirSync(dir).filter((n) => n.endsWith(".jsonl")).sort()) {
  const lines = fs.readFileSync(path.join(dir, name), "utf8").split("\n").filter((l) => l.trim() !== "");
  warnings = [];
  const judged = await verdict(lines.map((line) => `data: ${line}\n\n`).join(""));
  verdicts[name] = { ...judged, warnings };
}
process.stdout.write(`${JSON.stringify(verdicts, null, 1)}\n`);
