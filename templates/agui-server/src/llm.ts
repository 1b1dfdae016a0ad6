/**
 * Minimal streaming client for OpenAI-compatible `/chat/completions`
 * (LiteLLM proxy, DeepSeek, ...), on top of Node's fetch.
 */
import type { LlmConfig } from "./config.js";
import { traceCarrier } from "./telemetry.js";

export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

export interface ChatTool {
  type: "function";
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

export interface ToolCallFragment {
  id?: string;
  name?: string;
  arguments?: string;
}

export interface StreamHandlers {
  /** A non-empty piece of assistant text. */
  onText(delta: string): void;
  /** A piece of the tool call at `index` (OpenAI streams id/name first, then argument fragments). */
  onToolCall(index: number, fragment: ToolCallFragment): void;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface StreamResult {
  finishReason: string | undefined;
  usage: Usage | undefined;
  /** The completion's id and the model that answered, as the provider named them. */
  responseId?: string;
  responseModel?: string;
}

export class LlmError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "LlmError";
  }
}

/** No byte from the provider for this long aborts the request. */
const IDLE_TIMEOUT_MS = 120_000;
const MAX_ERROR_CHARS = 600;

/** Removes anything that looks like a credential from provider-supplied text. */
export function redact(text: string, apiKey: string | undefined): string {
  let out = text;
  if (apiKey && apiKey.length >= 4) out = out.split(apiKey).join("***");
  return out
    .replace(/\b(sk|pk)-[A-Za-z0-9_\-]{6,}/g, "$1-***")
    .replace(/(Bearer\s+)[A-Za-z0-9._\-]{6,}/gi, "$1***");
}

function providerMessage(body: string): string {
  const trimmed = body.trim();
  if (!trimmed) return "";
  try {
    const parsed = JSON.parse(trimmed) as unknown;
    if (parsed && typeof parsed === "object") {
      const obj = parsed as Record<string, unknown>;
      const error = obj.error;
      if (typeof error === "string") return error;
      if (error && typeof error === "object") {
        const msg = (error as Record<string, unknown>).message;
        if (typeof msg === "string") return msg;
        return JSON.stringify(error);
      }
      if (typeof obj.message === "string") return obj.message;
      if (typeof obj.detail === "string") return obj.detail;
    }
  } catch {
    // not JSON: use the text as is
  }
  if (/^<(!doctype|html)/i.test(trimmed)) {
    // An HTML error page (not an LLM API at all?): keep its words only.
    return trimmed
      .replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")
      .replace(/<[^>]+>/g, " ")
      .replace(/\s+/g, " ")
      .trim();
  }
  return trimmed;
}

function truncate(text: string): string {
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause && typeof cause === "object") {
      const code = (cause as { code?: unknown }).code;
      const message = (cause as { message?: unknown }).message;
      if (typeof code === "string") return code;
      if (typeof message === "string") return message;
    }
    return err.message;
  }
  return String(err);
}

interface ChunkChoice {
  delta?: {
    content?: unknown;
    tool_calls?: Array<{
      index?: number;
      id?: string;
      function?: { name?: string; arguments?: string };
    }>;
  };
  message?: ChunkChoice["delta"];
  finish_reason?: string | null;
}

interface Chunk {
  id?: unknown;
  model?: unknown;
  choices?: ChunkChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null;
  error?: unknown;
}

function toUsage(raw: Chunk["usage"]): Usage | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const p = Number(raw.prompt_tokens ?? 0);
  const c = Number(raw.completion_tokens ?? 0);
  const t = Number(raw.total_tokens ?? p + c);
  if (![p, c, t].every(Number.isSafeInteger)) return undefined;
  return { promptTokens: p, completionTokens: c, totalTokens: t };
}

/**
 * Streams one chat completion. Resolves when the provider finishes; rejects
 * with LlmError (message safe to show: provider text with credentials
 * removed) or with the abort reason when `signal` fires.
 */
export async function streamChat(
  llm: LlmConfig,
  request: { messages: ChatMessage[]; tools: ChatTool[]; toolChoice?: "auto" | "none" },
  handlers: StreamHandlers,
  signal: AbortSignal,
): Promise<StreamResult> {
  if (llm.provider === "deepseek" && !llm.apiKey) {
    throw new LlmError("DEEPSEEK_API_KEY is not set", "LLM_CONFIG");
  }
  const url = `${llm.endpoint}/chat/completions`;
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Accept: "text/event-stream, application/json",
  };
  if (llm.apiKey) headers.Authorization = `Bearer ${llm.apiKey}`;
  // W3C trace context of the current span (the model call's), so the local proxy's spans join the
  // run's trace (nothing when tracing is off); a provider's own API gets no such header.
  if (llm.provider === "litellm") Object.assign(headers, traceCarrier());
  const body = {
    model: llm.model,
    messages: request.messages,
    stream: true,
    stream_options: { include_usage: true },
    ...(request.tools.length > 0 ? { tools: request.tools } : {}),
    ...(request.tools.length > 0 && request.toolChoice ? { tool_choice: request.toolChoice } : {}),
  };

  const idle = new AbortController();
  let idleTimer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(
      () => idle.abort(new LlmError(`no response from the LLM for ${IDLE_TIMEOUT_MS / 1000} s`, "LLM_TIMEOUT")),
      IDLE_TIMEOUT_MS,
    );
  };
  const combined = AbortSignal.any([signal, idle.signal]);
  const rethrowIfAborted = () => {
    if (signal.aborted) throw signal.reason;
    if (idle.signal.aborted) throw idle.signal.reason;
  };

  touch();
  try {
    let res: Response;
    try {
      res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), signal: combined });
    } catch (err) {
      rethrowIfAborted();
      throw new LlmError(`cannot reach the LLM at ${url}: ${describeFetchError(err)}`, "LLM_UNREACHABLE");
    }

    if (!res.ok) {
      const text = await res.text().catch(() => "");
      const detail = truncate(redact(providerMessage(text), llm.apiKey));
      throw new LlmError(
        `LLM request failed with HTTP ${res.status}${detail ? `: ${detail}` : ""}`,
        "LLM_HTTP_ERROR",
        res.status,
      );
    }

    const result: StreamResult = { finishReason: undefined, usage: undefined };
    const handleChunk = (chunk: Chunk) => {
      if (chunk.error !== undefined && chunk.error !== null) {
        const detail = providerMessage(JSON.stringify({ error: chunk.error }));
        throw new LlmError(`LLM stream error: ${truncate(redact(detail, llm.apiKey))}`, "LLM_STREAM_ERROR");
      }
      const usage = toUsage(chunk.usage);
      if (usage) result.usage = usage;
      if (typeof chunk.id === "string" && chunk.id) result.responseId ??= chunk.id;
      if (typeof chunk.model === "string" && chunk.model) result.responseModel ??= chunk.model;
      const choice = chunk.choices?.[0];
      if (!choice) return;
      const delta = choice.delta ?? choice.message;
      if (delta) {
        if (typeof delta.content === "string" && delta.content.length > 0) handlers.onText(delta.content);
        if (Array.isArray(delta.tool_calls)) {
          delta.tool_calls.forEach((tc, position) => {
            handlers.onToolCall(typeof tc.index === "number" ? tc.index : position, {
              id: tc.id || undefined,
              name: tc.function?.name || undefined,
              arguments: tc.function?.arguments || undefined,
            });
          });
        }
      }
      if (choice.finish_reason) result.finishReason = choice.finish_reason;
    };

    const contentType = res.headers.get("content-type") ?? "";
    if (!res.body) throw new LlmError("the LLM returned an empty body", "LLM_BAD_RESPONSE");
    if (contentType.includes("application/json")) {
      // A provider that ignored stream:true answered with one completion.
      handleChunk(JSON.parse(await res.text()) as Chunk);
      return result;
    }

    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    const handleLine = (line: string) => {
      if (!line.startsWith("data:")) return; // comments, event:, id:, retry:
      const data = line.slice(5).trim();
      if (!data) return;
      if (data === "[DONE]") {
        done = true;
        return;
      }
      let chunk: Chunk;
      try {
        chunk = JSON.parse(data) as Chunk;
      } catch {
        throw new LlmError(`the LLM sent an unparseable stream chunk: ${truncate(redact(data, llm.apiKey))}`, "LLM_BAD_RESPONSE");
      }
      handleChunk(chunk);
    };
    try {
      for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
        touch();
        buffer += decoder.decode(bytes, { stream: true });
        let newline: number;
        while (!done && (newline = buffer.search(/\r?\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(buffer[newline] === "\r" ? newline + 2 : newline + 1);
          handleLine(line);
        }
        if (done) break;
      }
    } catch (err) {
      rethrowIfAborted();
      if (err instanceof LlmError) throw err;
      throw new LlmError(`the LLM stream broke off: ${describeFetchError(err)}`, "LLM_STREAM_ERROR");
    }
    if (!done) {
      buffer += decoder.decode();
      if (buffer.trim()) handleLine(buffer.trim());
    }
    return result;
  } finally {
    clearTimeout(idleTimer);
  }
}
