/**
 * Live test against a running stack, with the official AG-UI client.
 *
 *   AGUI_URL=http://127.0.0.1:3000/agent [EXPECT_TEXT=42] [AGUI_PROMPT="..."] npm test
 *
 * Skips (does not fail) when AGUI_URL is not set.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { EventType, HttpAgent, type BaseEvent } from "@ag-ui/client";

const AGUI_URL = process.env.AGUI_URL?.trim();
const SKIP_REASON = "AGUI_URL is not set; set it to a running agent endpoint, e.g. AGUI_URL=http://127.0.0.1:3000/agent";
const PROMPT =
  process.env.AGUI_PROMPT?.trim() ||
  "What is 6*7? Use the calculate tool if you have one, then answer in one short sentence.";

test("live: HttpAgent run completes and passes the client's verifier", async (t) => {
  if (!AGUI_URL) {
    t.skip(SKIP_REASON);
    return;
  }
  const agent = new HttpAgent({
    url: AGUI_URL,
    initialMessages: [{ id: randomUUID(), role: "user", content: PROMPT }],
  });
  const events: BaseEvent[] = [];
  let text = "";
  // runAgent pipes every event through the client's verifier; a protocol
  // violation rejects this promise.
  await agent.runAgent(
    { runId: randomUUID() },
    {
      onEvent({ event }) {
        events.push(event);
      },
      onTextMessageContentEvent({ event }) {
        text += event.delta;
      },
    },
  );

  const types = events.map((e) => e.type);
  t.diagnostic(`events: ${types.join(" ")}`);
  t.diagnostic(`assistant text: ${JSON.stringify(text)}`);
  assert.ok(events.length >= 2, "at least RUN_STARTED and a final event");
  assert.equal(types[0], EventType.RUN_STARTED);
  const last = events[events.length - 1]!;
  assert.equal(
    last.type,
    EventType.RUN_FINISHED,
    last.type === EventType.RUN_ERROR ? `run failed: ${String(last.message)}` : `last event was ${last.type}`,
  );
  assert.ok(text.trim().length > 0, "some assistant text arrived");
  for (const e of events) {
    if (e.type === EventType.TEXT_MESSAGE_CONTENT) assert.notEqual(e.delta, "", "no empty text deltas");
  }
  // Every tool call the server announced was answered within the run.
  const started = events.filter((e) => e.type === EventType.TOOL_CALL_START).map((e) => e.toolCallId);
  const answered = new Set(events.filter((e) => e.type === EventType.TOOL_CALL_RESULT).map((e) => e.toolCallId));
  for (const id of started) assert.ok(answered.has(id), `tool call ${String(id)} has a TOOL_CALL_RESULT`);
  if (started.length > 0) t.diagnostic(`tool calls: ${started.length}`);

  const expected = process.env.EXPECT_TEXT;
  if (expected) assert.ok(text.includes(expected), `assistant text should contain ${JSON.stringify(expected)}`);

  // The client keeps the conversation: the user's message plus what the run added.
  assert.ok(agent.messages.some((m) => m.role === "assistant"), "an assistant message was recorded");
});

test("live: an invalid RunAgentInput is rejected with 400", async (t) => {
  if (!AGUI_URL) {
    t.skip(SKIP_REASON);
    return;
  }
  const res = await fetch(AGUI_URL, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ threadId: 1, messages: "nope" }),
  });
  assert.equal(res.status, 400);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = (await res.json()) as { error?: unknown };
  assert.equal(typeof body.error, "string");
});
