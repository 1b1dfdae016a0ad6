/**
 * Keeps one MCP client connection to MCP_SERVER_URL: connects with back-off,
 * lists the tools, and reconnects when the server forgets our session
 * (404/400) or goes away (e.g. it was restarted).
 *
 * Uses the v2 client with version negotiation: a 2026-07-28 server is spoken
 * to statelessly (server/discover, no session); an older server through the
 * initialize handshake and a session. The era is logged on connect.
 */
import {
  Client,
  SdkHttpError,
  StreamableHTTPClientTransport,
  type CallToolResult,
  type FetchLike,
  type Tool,
} from "@modelcontextprotocol/client";
import { traceCarrier } from "./telemetry.js";

const CLIENT_INFO = { name: "agui-dev-agui-server", version: "0.1.0" };
const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;

export interface ToolOutcome {
  text: string;
  isError: boolean;
}

type Logger = (message: string) => void;

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: unknown } }).cause;
    return typeof cause?.code === "string" ? `${err.message} (${cause.code})` : err.message;
  }
  return String(err);
}

/** Errors after which a new session (or a new connection) is worth a try. */
function isReconnectable(err: unknown): boolean {
  if (err instanceof SdkHttpError) {
    return err.status === 404 || err.status === 400;
  }
  const text = errorText(err);
  return /session not found|no valid session|fetch failed|ECONNREFUSED|ECONNRESET|socket hang up|other side closed|not connected/i.test(
    text,
  );
}

/** Turns an MCP tool result into the text the model (and the UI) sees. */
export function resultToText(result: CallToolResult): string {
  const parts: string[] = [];
  for (const item of result.content ?? []) {
    if (item.type === "text") parts.push(item.text);
    else if (item.type === "resource" && "text" in item.resource) parts.push(String(item.resource.text));
    else if (item.type === "resource_link") parts.push(`${item.name}: ${item.uri}`);
    else parts.push(`[${item.type} content omitted]`);
  }
  if (parts.length === 0 && result.structuredContent !== undefined) {
    parts.push(JSON.stringify(result.structuredContent));
  }
  return parts.join("\n");
}

/**
 * Node's fetch, plus the W3C trace context of the current span (a tool call's) as HTTP headers:
 * the transport-level half of the propagation; `callTool` also puts it in `params._meta`.
 */
const tracedFetch: FetchLike = (url, init) => {
  const carrier = traceCarrier();
  if (Object.keys(carrier).length === 0) return fetch(url, init);
  const headers = new Headers(init?.headers);
  for (const [name, value] of Object.entries(carrier)) headers.set(name, value);
  return fetch(url, { ...init, headers });
};

export class McpConnection {
  private client: Client | undefined;
  private transport: StreamableHTTPClientTransport | undefined;
  private tools: Tool[] = [];
  private connecting: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** The protocol version negotiated on the current connection, e.g. "2026-07-28" or "2025-11-25". */
  protocol: string | undefined;

  constructor(
    readonly url: string,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  get toolList(): readonly Tool[] {
    return this.tools;
  }

  /** The 2025-era session, if the current connection has one. */
  get sessionId(): string | undefined {
    return this.transport?.sessionId;
  }

  /** Starts connecting in the background (retrying until it works or stop() is called). */
  start(): void {
    void this.ensureConnected().catch(() => undefined);
  }

  /** Connects if needed; resolves once connected (rejects only when stopped). */
  ensureConnected(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connectLoop().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectLoop(): Promise<void> {
    let delay = MIN_BACKOFF_MS;
    let attempt = 0;
    while (!this.stopped) {
      attempt++;
      try {
        await this.connectOnce();
        this.log(
          `mcp connected to ${this.url} (protocol ${this.protocol ?? "?"}, ${this.tools.length} tools: ${this.tools.map((t) => t.name).join(", ") || "none"})`,
        );
        return;
      } catch (err) {
        if (this.stopped) break;
        // First failure, then every 10th, so a missing server does not flood the log.
        if (attempt === 1 || attempt % 10 === 0) {
          this.log(`mcp not reachable at ${this.url} (attempt ${attempt}): ${errorText(err)}; retrying`);
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
    throw new Error("MCP connection stopped");
  }

  private async connectOnce(): Promise<void> {
    // "auto": probe with server/discover, fall back to initialize for 2025-era servers.
    const client = new Client(CLIENT_INFO, { capabilities: {}, versionNegotiation: { mode: "auto" } });
    const transport = new StreamableHTTPClientTransport(new URL(this.url), { fetch: tracedFetch });
    try {
      await client.connect(transport);
      const tools: Tool[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : undefined);
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
      // Arrives on 2025-era sessions (the server's GET stream); a 2026-07-28 server
      // would need a subscriptions/listen stream, which this small client does not open.
      client.setNotificationHandler("notifications/tools/list_changed", async () => {
        try {
          const page = await client.listTools();
          if (this.client === client) {
            this.tools = page.tools;
            this.log(`mcp tool list changed: ${page.tools.map((t) => t.name).join(", ")}`);
          }
        } catch (err) {
          this.log(`mcp could not refresh the tool list: ${errorText(err)}`);
        }
      });
      if (this.stopped) throw new Error("stopped");
      this.client = client;
      this.transport = transport;
      this.tools = tools;
      this.protocol = client.getNegotiatedProtocolVersion();
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  /** Drops the current session (the server is gone or has forgotten it). */
  private async drop(reason: string): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.transport = undefined;
    this.log(`mcp session lost (${reason}); reconnecting`);
    await client.close().catch(() => undefined);
  }

  /**
   * Calls a tool. On a session/connection error, reconnects with a new session
   * (waiting up to `reconnectWaitMs`) and tries once more. The current span's trace context goes
   * in `params._meta` (`traceparent`, `tracestate`), as the MCP semantic conventions ask.
   */
  async callTool(name: string, args: Record<string, unknown>, signal?: AbortSignal, reconnectWaitMs = 5_000): Promise<ToolOutcome> {
    for (let attempt = 1; ; attempt++) {
      if (!this.client) {
        await this.waitForConnection(reconnectWaitMs);
      }
      const client = this.client!;
      try {
        const meta = traceCarrier();
        const params = { name, arguments: args, ...(Object.keys(meta).length > 0 ? { _meta: meta } : {}) };
        const result: CallToolResult = await client.callTool(params, { signal });
        return { text: resultToText(result), isError: result.isError === true };
      } catch (err) {
        if (signal?.aborted) throw err;
        if (attempt === 1 && isReconnectable(err)) {
          if (this.client === client) await this.drop(errorText(err));
          continue;
        }
        throw err;
      }
    }
  }

  private async waitForConnection(timeoutMs: number): Promise<void> {
    const connected = this.ensureConnected();
    this.wake?.(); // retry now rather than after the current back-off
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connected,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`MCP server at ${this.url} is not reachable`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits up to `ms` for a connection; false when there is none by then. */
  async ensureConnectedWithin(ms: number): Promise<boolean> {
    try {
      await this.waitForConnection(ms);
      return true;
    } catch {
      return false;
    }
  }

  /** Checks the session is still alive (ping); starts reconnecting if not. */
  async check(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      await client.ping({ timeout: 3_000 });
    } catch (err) {
      if (this.client === client && isReconnectable(err)) {
        await this.drop(errorText(err));
        this.start();
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const transport = this.transport;
    const client = this.client;
    this.client = undefined;
    this.transport = undefined;
    if (transport?.sessionId) {
      // Be polite: end our 2025-era session on the server, but never wait long for it.
      await Promise.race([
        transport.terminateSession().catch(() => undefined),
        new Promise((r) => setTimeout(r, 300)),
      ]);
    }
    await client?.close().catch(() => undefined);
  }
}
