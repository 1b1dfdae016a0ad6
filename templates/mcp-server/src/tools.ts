import { McpServer, type CallToolResult } from "@modelcontextprotocol/server";
import { z } from "zod";
import { CalcError, evaluate, formatNumber, MAX_EXPRESSION_LENGTH } from "./calc.js";
import { traceToolCall } from "./spans.js";

export const SERVER_NAME = "agui-dev-mcp";
export const SERVER_VERSION = "0.1.0";

/** Names of the tools every session's server offers (shown by GET /health). */
export const TOOL_NAMES = ["calculate", "get_current_time", "word_count"] as const;

function text(value: string): CallToolResult {
  return { content: [{ type: "text", text: value }] };
}

function toolError(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

/** Formats `date` in `timeZone` as parts we can assemble ourselves. */
function zonedParts(date: Date, timeZone: string) {
  const fmt = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    weekday: "long",
    timeZoneName: "longOffset",
  });
  const parts: Record<string, string> = {};
  for (const p of fmt.formatToParts(date)) parts[p.type] = p.value;
  // "GMT+05:30" -> "+05:30"; plain "GMT" means UTC.
  const gmt = parts.timeZoneName ?? "GMT";
  const offset = gmt === "GMT" ? "+00:00" : gmt.replace(/^GMT/, "");
  const local = `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
  return { local, offset, weekday: parts.weekday ?? "" };
}

function defaultTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/**
 * Builds a fresh McpServer with all tools registered. Called once per 2026-07-28 request
 * and once per 2025-era session, so both eras always see the same tools.
 */
export function createMcpServer(): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    { capabilities: { tools: {} } },
  );

  server.registerTool(
    "calculate",
    {
      title: "Calculator",
      description:
        "Evaluate an arithmetic expression exactly as written. Supports + - * / % ^ (power), " +
        "parentheses, unary minus and decimal numbers, e.g. '(1.5 + 2) * 4 ^ 2 % 7'. " +
        "Returns the numeric result as text.",
      inputSchema: z.object({
        expression: z
          .string()
          .min(1)
          .max(MAX_EXPRESSION_LENGTH)
          .describe("The arithmetic expression to evaluate, e.g. '6*7' or '2 ^ (1/2)'"),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ expression }, ctx) =>
      traceToolCall("calculate", { expression }, ctx, async () => {
        try {
          return text(formatNumber(evaluate(expression)));
        } catch (err) {
          if (err instanceof CalcError) return toolError(`Invalid expression: ${err.message}`);
          throw err;
        }
      }),
  );

  server.registerTool(
    "get_current_time",
    {
      title: "Current time",
      description:
        "Get the current date and time. Optionally pass an IANA time zone such as " +
        "'Europe/Paris' or 'America/New_York' (default: the server's zone). Returns JSON with " +
        "the UTC ISO time, the zone's local time with its UTC offset, and the weekday.",
      inputSchema: z.object({
        timezone: z
          .string()
          .min(1)
          .max(100)
          .optional()
          .describe("IANA time zone name, e.g. 'Asia/Tokyo'. Defaults to the server's time zone."),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ timezone }, ctx) =>
      traceToolCall("get_current_time", { timezone }, ctx, async () => {
        const zone = timezone ?? defaultTimeZone();
        const now = new Date();
        let parts: ReturnType<typeof zonedParts>;
        try {
          parts = zonedParts(now, zone);
        } catch {
          return toolError(
            `Unknown time zone "${zone}". Use an IANA name such as "UTC", "Europe/Berlin" or "America/Los_Angeles".`,
          );
        }
        return text(
          JSON.stringify({
            utc: now.toISOString(),
            timezone: zone,
            local: `${parts.local}${parts.offset}`,
            utcOffset: parts.offset,
            weekday: parts.weekday,
          }),
        );
      }),
  );

  server.registerTool(
    "word_count",
    {
      title: "Word count",
      description:
        "Count the words (whitespace-separated), characters (Unicode code points) and lines of a text. Returns JSON.",
      inputSchema: z.object({
        text: z.string().max(1_000_000).describe("The text to analyse"),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ text: input }, ctx) =>
      traceToolCall("word_count", { text: input }, ctx, async () => {
        const trimmed = input.trim();
        const words = trimmed === "" ? 0 : trimmed.split(/\s+/u).length;
        const characters = [...input].length;
        const lines = input === "" ? 0 : input.split(/\r\n|\r|\n/).length;
        return text(JSON.stringify({ words, characters, lines }));
      }),
  );

  return server;
}
