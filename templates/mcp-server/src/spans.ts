/**
 * One span per `tools/call`, after the OpenTelemetry MCP semantic conventions: a server span
 * `tools/call <tool>` that continues the caller's trace from `params._meta.traceparent` (where the
 * conventions put it), else from the HTTP `traceparent` header of the request it came in
 * (server.ts makes that the active context). With tracing off the tracer is the API's no-op one.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { CallToolResult, ServerContext } from "@modelcontextprotocol/server";
import { failSpan, jsonAttribute, tracer } from "./telemetry.js";

/** The text of a result, as `gen_ai.tool.call.result` records it. */
function resultText(result: CallToolResult): string {
  const texts = (result.content ?? []).map((c) => (c.type === "text" ? c.text : `[${c.type}]`));
  return texts.length > 0 ? texts.join("\n") : JSON.stringify(result.structuredContent ?? null);
}

/** Runs tool `name`'s `work` on `args` inside its `tools/call` span. */
export async function traceToolCall(
  name: string,
  args: unknown,
  ctx: ServerContext,
  work: () => Promise<CallToolResult>,
): Promise<CallToolResult> {
  const meta = ctx.mcpReq._meta as Record<string, unknown> | undefined;
  const parent = typeof meta?.traceparent === "string" ? propagation.extract(ROOT_CONTEXT, meta) : context.active();
  const span = tracer.startSpan(
    `tools/call ${name}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "jsonrpc.request.id": String(ctx.mcpReq.id),
        "network.transport": "tcp",
        "network.protocol.name": "http",
        ...(ctx.sessionId ? { "mcp.session.id": ctx.sessionId } : {}),
      },
    },
    parent,
  );
  if (!span.isRecording()) return work();
  span.setAttribute("gen_ai.tool.call.arguments", jsonAttribute(args ?? {}));
  try {
    const result = await context.with(trace.setSpan(parent, span), work);
    const text = resultText(result);
    span.setAttribute("gen_ai.tool.call.result", jsonAttribute(text));
    if (result.isError) failSpan(span, "tool_error", text);
    else span.setStatus({ code: SpanStatusCode.OK });
    return result;
  } catch (err) {
    failSpan(span, err instanceof Error ? err.name : "Error", err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    span.end();
  }
}
