/**
 * The spans of an AG-UI run, after the OpenTelemetry GenAI and MCP semantic conventions:
 *
 *   invoke_agent <agent>      the run (server.ts; `agui.run_id`, `agui.thread_id`, `agui.rounds`)
 *   ├─ chat <model>           one per model call (client): request, usage, finish reasons, time to
 *   │                         first chunk, and the messages and tool schemas sent
 *   └─ execute_tool <tool>    one per tool call (client: an MCP `tools/call`): arguments, result
 *
 * With tracing off the tracer is the API's no-op one: the spans cost nothing and the JSON
 * attributes below are never built (`isRecording`).
 */
import { context, SpanKind, trace, type Span } from "@opentelemetry/api";
import type { LlmConfig } from "./config.js";
import { streamChat, type ChatMessage, type ChatTool, type StreamHandlers, type StreamResult } from "./llm.js";
import { failSpan, jsonAttribute, tracer } from "./telemetry.js";

/** `gen_ai.agent.name` of the run span, and the second word of its name. */
export const AGENT_NAME = "agui-dev-agent";

/** A message part as the GenAI conventions write it in `gen_ai.*.messages`. */
type Part =
  | { type: "text"; content: string }
  | { type: "tool_call"; id: string; name: string; arguments: unknown }
  | { type: "tool_call_response"; id: string; response: string };

/** Arguments as the model wrote them: an object when they are JSON, else the text. */
function parsedArguments(text: string): unknown {
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch {
    return text;
  }
}

/** The chat messages sent, as `gen_ai.input.messages` writes them. */
export function semconvMessages(messages: readonly ChatMessage[]): Array<{ role: string; parts: Part[] }> {
  return messages.map((m) => {
    switch (m.role) {
      case "assistant": {
        const parts: Part[] = m.content ? [{ type: "text", content: m.content }] : [];
        for (const c of m.tool_calls ?? []) {
          parts.push({ type: "tool_call", id: c.id, name: c.function.name, arguments: parsedArguments(c.function.arguments) });
        }
        return { role: m.role, parts };
      }
      case "tool":
        return { role: m.role, parts: [{ type: "tool_call_response", id: m.tool_call_id, response: m.content }] };
      default:
        return { role: m.role, parts: [{ type: "text", content: m.content }] };
    }
  });
}

/** The tools offered, as `gen_ai.tool.definitions` writes them. */
export function semconvTools(tools: readonly ChatTool[]): unknown[] {
  return tools.map((t) => ({ type: t.type, ...t.function }));
}

/** `server.address` and `server.port` of an endpoint URL. */
function serverAttributes(url: string): Record<string, string | number> {
  try {
    const parsed = new URL(url);
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80;
    return { "server.address": parsed.hostname.replace(/^\[|\]$/g, ""), "server.port": port };
  } catch {
    return {};
  }
}

/** Runs `work` with `span` as the current span, so what it calls (fetch headers, MCP `_meta`) continues it. */
function within<T>(span: Span, work: () => Promise<T>): Promise<T> {
  return context.with(trace.setSpan(context.active(), span), work);
}

function errorOf(err: unknown): { type: string; message: string } {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return { type: typeof code === "string" ? code : err instanceof Error ? err.name : "Error", message };
}

/**
 * `streamChat` inside a `chat <model>` span. The stream's own callbacks are passed through; the
 * span records the first content chunk (event and `gen_ai.response.time_to_first_chunk`, in
 * seconds), the answer (`gen_ai.output.messages`), the finish reason and the usage chunk.
 */
export async function tracedChat(
  llm: LlmConfig,
  request: { messages: ChatMessage[]; tools: ChatTool[]; toolChoice?: "auto" | "none" },
  handlers: StreamHandlers,
  signal: AbortSignal,
): Promise<StreamResult> {
  const span = tracer.startSpan(`chat ${llm.model}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": llm.provider,
      "gen_ai.request.model": llm.model,
      ...serverAttributes(llm.endpoint),
    },
  });
  if (!span.isRecording()) return streamChat(llm, request, handlers, signal);

  span.setAttribute("gen_ai.input.messages", jsonAttribute(semconvMessages(request.messages)));
  if (request.tools.length > 0) {
    span.setAttribute("gen_ai.tool.definitions", jsonAttribute(semconvTools(request.tools)));
    if (request.toolChoice) span.setAttribute("gen_ai.request.tool_choice", request.toolChoice);
  }
  const started = performance.now();
  let firstSeen = false;
  const first = () => {
    if (firstSeen) return;
    firstSeen = true;
    const seconds = (performance.now() - started) / 1000;
    span.setAttribute("gen_ai.response.time_to_first_chunk", seconds);
    span.addEvent("gen_ai.first_chunk", { "gen_ai.response.time_to_first_chunk": seconds });
  };
  let text = "";
  const calls = new Map<number, { id: string; name: string; args: string }>();
  const observed: StreamHandlers = {
    onText(delta) {
      first();
      text += delta;
      handlers.onText(delta);
    },
    onToolCall(index, fragment) {
      first();
      const call = calls.get(index) ?? { id: "", name: "", args: "" };
      calls.set(index, call);
      if (fragment.id) call.id = fragment.id;
      if (fragment.name) call.name += fragment.name;
      if (fragment.arguments) call.args += fragment.arguments;
      handlers.onToolCall(index, fragment);
    },
  };
  try {
    const result = await within(span, () => streamChat(llm, request, observed, signal));
    const finish = result.finishReason ?? "stop";
    span.setAttribute("gen_ai.response.finish_reasons", [finish]);
    if (result.responseModel) span.setAttribute("gen_ai.response.model", result.responseModel);
    if (result.responseId) span.setAttribute("gen_ai.response.id", result.responseId);
    if (result.usage) {
      span.setAttribute("gen_ai.usage.input_tokens", result.usage.promptTokens);
      span.setAttribute("gen_ai.usage.output_tokens", result.usage.completionTokens);
    }
    const parts: Part[] = text ? [{ type: "text", content: text }] : [];
    for (const c of calls.values()) {
      if (c.name) parts.push({ type: "tool_call", id: c.id, name: c.name, arguments: parsedArguments(c.args) });
    }
    span.setAttribute(
      "gen_ai.output.messages",
      jsonAttribute([{ role: "assistant", parts, finish_reason: finish }]),
    );
    return result;
  } catch (err) {
    const { type, message } = errorOf(signal.aborted ? signal.reason : err);
    failSpan(span, signal.aborted ? "cancelled" : type, message);
    throw err;
  } finally {
    span.end();
  }
}

/** What a tool call gave: the text the model sees, and whether it is an error. */
export interface ToolAnswer {
  content: string;
  /** `error.type` when the call failed (bad arguments, unknown tool, a tool error, no MCP). */
  error?: string;
}

/**
 * `call` inside an `execute_tool <name>` span: a GenAI tool execution that is also the MCP
 * `tools/call` client span (the conventions fold the two into one span).
 */
export async function tracedTool(
  call: { id: string; name: string; args: string },
  mcp: { url: string; protocol: string | undefined; sessionId: string | undefined } | undefined,
  signal: AbortSignal,
  work: () => Promise<ToolAnswer>,
): Promise<ToolAnswer> {
  const span = tracer.startSpan(`execute_tool ${call.name}`, {
    kind: mcp ? SpanKind.CLIENT : SpanKind.INTERNAL,
    attributes: {
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": call.name,
      "gen_ai.tool.call.id": call.id,
      "gen_ai.tool.type": "function",
      ...(mcp ? { "mcp.method.name": "tools/call", "network.transport": "tcp", "network.protocol.name": "http", ...serverAttributes(mcp.url) } : {}),
    },
  });
  if (!span.isRecording()) return work();
  span.setAttribute("gen_ai.tool.call.arguments", jsonAttribute(call.args || "{}"));
  if (mcp?.protocol) span.setAttribute("mcp.protocol.version", mcp.protocol);
  if (mcp?.sessionId) span.setAttribute("mcp.session.id", mcp.sessionId);
  try {
    const answer = await within(span, work);
    span.setAttribute("gen_ai.tool.call.result", jsonAttribute(answer.content));
    if (answer.error) failSpan(span, answer.error, answer.content);
    return answer;
  } catch (err) {
    const { type, message } = errorOf(signal.aborted ? signal.reason : err);
    failSpan(span, signal.aborted ? "cancelled" : type, message);
    throw err;
  } finally {
    span.end();
  }
}
