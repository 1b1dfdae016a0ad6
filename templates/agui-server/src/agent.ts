/**
 * One AG-UI run: RunAgentInput in, AG-UI events out.
 *
 * Streams the model; when it asks for tools, calls them over MCP, feeds the
 * results back and asks again (at most MAX_ROUNDS model calls per run).
 */
import { randomUUID } from "node:crypto";
import {
  EventType,
  PROTOCOL_VERSION,
  aggregateTokenUsage,
  contentToText,
  type Event,
  type Message,
  type RunAgentInput,
  type TokenUsage,
} from "@ag-ui/core";
import type { LlmConfig } from "./config.js";
import { LlmError, type ChatMessage, type ChatTool, type ChatToolCall } from "./llm.js";
import type { McpConnection } from "./mcp.js";
import { tracedChat, tracedTool, type ToolAnswer } from "./spans.js";

export const MAX_ROUNDS = 5;

const SYSTEM_PROMPT =
  "You are a helpful assistant running in a local AG-UI development stack. " +
  "Answer concisely. When a tool can give an exact answer (arithmetic, the current time, counting), call it " +
  "instead of guessing, then answer using its result.";

const LIMIT_NOTICE = `I stopped after ${MAX_ROUNDS} rounds of tool calls without reaching a final answer.`;

/**
 * Wraps the raw event sink and enforces the protocol's shape: at most one
 * final event, nothing after it, and every open text message / tool call is
 * closed before it.
 */
export class RunEmitter {
  private openText: string | undefined;
  private readonly openTools = new Set<string>();
  private finished = false;
  textSeen = false;

  constructor(private readonly sink: (event: Event) => void) {}

  get done(): boolean {
    return this.finished;
  }

  private emit(event: Event): void {
    // AG-UI 1.0: nothing after RUN_FINISHED or RUN_ERROR.
    if (this.finished) return;
    // AG-UI 1.0: an optional field is omitted, never null.
    const clean = Object.fromEntries(
      Object.entries(event).filter(([, value]) => value !== null && value !== undefined),
    ) as Event;
    this.sink({ ...clean, timestamp: Date.now() });
  }

  runStarted(threadId: string, runId: string): void {
    this.emit({ type: EventType.RUN_STARTED, threadId, runId, protocolVersion: PROTOCOL_VERSION });
  }

  text(messageId: string, delta: string): void {
    if (!delta) return; // never an empty delta
    if (this.openText !== messageId) {
      this.endText();
      this.emit({ type: EventType.TEXT_MESSAGE_START, messageId, role: "assistant" });
      this.openText = messageId;
    }
    this.textSeen = true;
    this.emit({ type: EventType.TEXT_MESSAGE_CONTENT, messageId, delta });
  }

  endText(): void {
    if (this.openText === undefined) return;
    const messageId = this.openText;
    this.openText = undefined;
    this.emit({ type: EventType.TEXT_MESSAGE_END, messageId });
  }

  toolStart(toolCallId: string, toolCallName: string, parentMessageId: string): void {
    this.endText();
    this.openTools.add(toolCallId);
    this.emit({ type: EventType.TOOL_CALL_START, toolCallId, toolCallName, parentMessageId });
  }

  toolArgs(toolCallId: string, delta: string): void {
    if (!delta || !this.openTools.has(toolCallId)) return;
    this.emit({ type: EventType.TOOL_CALL_ARGS, toolCallId, delta });
  }

  toolEnd(toolCallId: string): void {
    if (!this.openTools.delete(toolCallId)) return;
    this.emit({ type: EventType.TOOL_CALL_END, toolCallId });
  }

  toolResult(toolCallId: string, content: string): void {
    this.emit({
      type: EventType.TOOL_CALL_RESULT,
      messageId: randomUUID(),
      toolCallId,
      content,
      role: "tool",
    });
  }

  private closeAll(): void {
    this.endText();
    for (const id of [...this.openTools]) this.toolEnd(id);
  }

  runFinished(threadId: string, runId: string, usage: TokenUsage[]): void {
    this.closeAll();
    // AG-UI 1.0: RUN_FINISHED says how the run ended (`outcome`) and what it cost (`usage`).
    this.emit({
      type: EventType.RUN_FINISHED,
      threadId,
      runId,
      outcome: { type: "success" },
      ...(usage.length > 0 ? { usage: aggregateTokenUsage(usage) } : {}),
    });
    this.finished = true;
  }

  runError(message: string, code?: string): void {
    this.closeAll();
    this.emit({ type: EventType.RUN_ERROR, message, ...(code ? { code } : {}) });
    this.finished = true;
  }
}

/** AG-UI conversation -> OpenAI chat messages. */
export function toChatMessages(input: RunAgentInput): ChatMessage[] {
  let system = SYSTEM_PROMPT;
  const context = (input.context ?? []).filter((c) => c.value);
  if (context.length > 0) {
    system += "\n\nContext provided by the application:\n" + context.map((c) => `- ${c.description}: ${c.value}`).join("\n");
  }
  const out: ChatMessage[] = [{ role: "system", content: system }];

  const messages: Message[] = input.messages ?? [];
  // Drop tool calls that never got a result and results whose call is unknown:
  // OpenAI-compatible APIs reject both.
  const answered = new Set<string>();
  for (const m of messages) if (m.role === "tool") answered.add(m.toolCallId);
  const declared = new Set<string>();

  for (const m of messages) {
    switch (m.role) {
      case "system":
      case "developer":
        if (m.content) out.push({ role: "system", content: m.content });
        break;
      case "user": {
        const text = contentToText(m.content);
        if (text) out.push({ role: "user", content: text });
        break;
      }
      case "assistant": {
        const calls: ChatToolCall[] = (m.toolCalls ?? [])
          .filter((tc) => answered.has(tc.id))
          .map((tc) => ({ id: tc.id, type: "function", function: { name: tc.function.name, arguments: tc.function.arguments } }));
        for (const c of calls) declared.add(c.id);
        if (!m.content && calls.length === 0) break;
        out.push({ role: "assistant", content: m.content || null, ...(calls.length > 0 ? { tool_calls: calls } : {}) });
        break;
      }
      case "tool":
        if (declared.has(m.toolCallId)) {
          const text = contentToText(m.content);
          out.push({ role: "tool", tool_call_id: m.toolCallId, content: m.error ? `${text}\nError: ${m.error}` : text });
        }
        break;
      default:
        // activity and reasoning messages are UI-only
        break;
    }
  }
  return out;
}

function toChatTools(mcp: McpConnection | undefined): ChatTool[] {
  if (!mcp?.connected) return [];
  return mcp.toolList.map((t) => {
    // "$schema" means nothing to chat APIs and some providers reject unknown keys.
    const { $schema: _ignored, ...parameters } = (t.inputSchema ?? { type: "object" }) as Record<string, unknown>;
    return {
      type: "function",
      function: {
        name: t.name,
        ...(t.description ? { description: t.description } : {}),
        parameters: { properties: {}, ...parameters },
      },
    };
  });
}

interface PendingCall {
  id: string;
  name: string;
  args: string;
  started: boolean;
}

export interface RunSummary {
  outcome: "finished" | "error" | "aborted";
  rounds: number;
  toolCalls: number;
  error?: string;
}

/**
 * Runs the agent for one RunAgentInput. Never throws: every failure ends the
 * run with RUN_ERROR (unless the client went away, signalled by `signal`).
 */
export async function runAgent(
  input: RunAgentInput,
  deps: { llm: LlmConfig; mcp: McpConnection | undefined },
  emitter: RunEmitter,
  signal: AbortSignal,
): Promise<RunSummary> {
  const { threadId, runId } = input;
  const summary: RunSummary = { outcome: "finished", rounds: 0, toolCalls: 0 };
  const usage: TokenUsage[] = [];
  emitter.runStarted(threadId, runId);

  try {
    const conversation = toChatMessages(input);
    if (!conversation.some((m) => m.role === "user")) {
      throw new LlmError("the run has no user message to answer", "NO_USER_MESSAGE");
    }
    if (deps.mcp && !deps.mcp.connected) {
      // Give a (re)starting MCP server a moment; run without tools if it stays away.
      await deps.mcp.ensureConnectedWithin(2_000);
    }
    const tools = toChatTools(deps.mcp);

    for (let round = 1; round <= MAX_ROUNDS; round++) {
      summary.rounds = round;
      const lastRound = round === MAX_ROUNDS;
      // The assistant message of this round: its text, and the parent of its tool calls.
      const messageId = randomUUID();
      let textId = messageId;
      let callsStarted = false;
      let text = "";
      const calls = new Map<number, PendingCall>();

      const startCall = (call: PendingCall) => {
        if (call.started || !call.name || lastRound) return;
        call.started = true;
        callsStarted = true;
        emitter.toolStart(call.id, call.name, messageId);
        emitter.toolArgs(call.id, call.args);
      };

      const result = await tracedChat(
        deps.llm,
        // Last round: tools stay declared (the history refers to them) but may not be called.
        { messages: conversation, tools, ...(lastRound && tools.length > 0 ? { toolChoice: "none" as const } : {}) },
        {
          onText(delta) {
            text += delta;
            // Text after a tool call was announced goes into a message of its own.
            if (callsStarted && textId === messageId) textId = randomUUID();
            emitter.text(textId, delta);
          },
          onToolCall(index, fragment) {
            let call = calls.get(index);
            if (!call) {
              // OpenAI streams calls one after another: a new index closes the previous ones' args.
              for (const other of calls.values()) if (other.started) emitter.toolEnd(other.id);
              call = { id: fragment.id ?? `call_${randomUUID()}`, name: "", args: "", started: false };
              calls.set(index, call);
            }
            if (fragment.id && !call.started) call.id = fragment.id;
            if (fragment.name) call.name = call.started ? call.name : call.name + fragment.name;
            if (fragment.arguments) {
              call.args += fragment.arguments;
              if (call.started) emitter.toolArgs(call.id, fragment.arguments);
            }
            // Wait for the name before announcing the call; arguments seen so far go out with it.
            if (fragment.name || fragment.arguments) startCall(call);
          },
        },
        signal,
      );
      if (result.usage) {
        usage.push({
          provider: deps.llm.provider,
          model: deps.llm.model,
          inputTokens: result.usage.promptTokens,
          outputTokens: result.usage.completionTokens,
          totalTokens: result.usage.totalTokens,
        });
      }
      emitter.endText();
      const requested = [...calls.values()].filter((c) => c.name);
      for (const c of requested) emitter.toolEnd(c.id);

      if (requested.length === 0 || lastRound) {
        if (requested.length > 0 || !emitter.textSeen) {
          emitter.text(randomUUID(), requested.length > 0 ? LIMIT_NOTICE : "(The model returned an empty answer.)");
          emitter.endText();
        }
        break;
      }

      conversation.push({
        role: "assistant",
        content: text || null,
        tool_calls: requested.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.args || "{}" } })),
      });
      for (const call of requested) {
        summary.toolCalls++;
        const content = await executeTool(call, deps.mcp, signal);
        emitter.toolResult(call.id, content);
        conversation.push({ role: "tool", tool_call_id: call.id, content });
      }
    }

    emitter.runFinished(threadId, runId, usage);
    return summary;
  } catch (err) {
    if (signal.aborted) {
      summary.outcome = "aborted";
      const reason = signal.reason instanceof Error ? signal.reason.message : "aborted";
      emitter.runError(`run aborted: ${reason}`, "ABORTED");
      return summary;
    }
    const message = err instanceof Error ? err.message : String(err);
    summary.outcome = "error";
    summary.error = message;
    emitter.runError(message, err instanceof LlmError ? err.code : "AGENT_ERROR");
    return summary;
  }
}

async function executeTool(call: PendingCall, mcp: McpConnection | undefined, signal: AbortSignal): Promise<string> {
  const target = mcp ? { url: mcp.url, protocol: mcp.protocol, sessionId: mcp.sessionId } : undefined;
  const answer = await tracedTool(call, target, signal, () => callTool(call, mcp, signal));
  return answer.content;
}

async function callTool(call: PendingCall, mcp: McpConnection | undefined, signal: AbortSignal): Promise<ToolAnswer> {
  let args: unknown;
  try {
    args = call.args.trim() ? JSON.parse(call.args) : {};
  } catch {
    return { content: `Error: the arguments for ${call.name} are not valid JSON: ${call.args}`, error: "invalid_arguments" };
  }
  if (!args || typeof args !== "object" || Array.isArray(args)) {
    return { content: `Error: the arguments for ${call.name} must be a JSON object`, error: "invalid_arguments" };
  }
  if (!mcp) {
    return { content: `Error: no MCP server is configured, so the tool ${call.name} is not available`, error: "no_mcp_server" };
  }
  if (mcp.connected && !mcp.toolList.some((t) => t.name === call.name)) {
    return {
      content: `Error: unknown tool ${call.name}; available tools: ${mcp.toolList.map((t) => t.name).join(", ")}`,
      error: "unknown_tool",
    };
  }
  try {
    const outcome = await mcp.callTool(call.name, args as Record<string, unknown>, signal);
    return outcome.isError ? { content: `Error: ${outcome.text}`, error: "tool_error" } : { content: outcome.text };
  } catch (err) {
    if (signal.aborted) throw err;
    return { content: `Error: calling ${call.name} failed: ${err instanceof Error ? err.message : String(err)}`, error: "call_failed" };
  }
}
