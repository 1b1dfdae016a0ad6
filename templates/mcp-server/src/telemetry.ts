/**
 * OpenTelemetry traces, on only when an OTLP endpoint is set.
 *
 * With `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set (agui-dev `up`
 * sets both, pointing at its own receiver), a tracer provider exports spans with a batch
 * processor (it reads `OTEL_BSP_SCHEDULE_DELAY` and friends), over OTLP/HTTP, protobuf unless
 * `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=http/json`. The resource comes from `OTEL_SERVICE_NAME`
 * and `OTEL_RESOURCE_ATTRIBUTES`; the W3C `traceparent`/`tracestate` propagator is registered.
 *
 * Without an endpoint nothing of the SDK is even loaded: the API's no-op tracer answers, so a
 * span costs nothing. `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` also turn it off.
 */
import {
  context,
  isSpanContextValid,
  propagation,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from "@opentelemetry/api";

/** The tracer every span of this service is started with (the no-op one until `startTelemetry`). */
export const tracer = trace.getTracer("agui-dev-template", "0.1.0");

/** A JSON-string attribute longer than this is cut, so one huge prompt cannot fill the store. */
const MAX_ATTRIBUTE_CHARS = 64 * 1024;

function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

/** Whether spans are exported at all. */
export function tracingWanted(): boolean {
  if (env("OTEL_SDK_DISABLED")?.toLowerCase() === "true") return false;
  if (env("OTEL_TRACES_EXPORTER")?.toLowerCase() === "none") return false;
  return env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") !== undefined || env("OTEL_EXPORTER_OTLP_ENDPOINT") !== undefined;
}

export interface Telemetry {
  /** Exports what is still queued and stops; never rejects. */
  shutdown(): Promise<void>;
}

const NOTHING: Telemetry = { shutdown: async () => undefined };

/**
 * Starts the tracer provider when tracing is wanted; `log` says where spans go (one line).
 * Call it once, before the first span.
 */
export async function startTelemetry(log: (message: string) => void): Promise<Telemetry> {
  if (!tracingWanted()) return NOTHING;
  const [{ NodeTracerProvider, BatchSpanProcessor }, resources] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/resources"),
  ]);
  const protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? env("OTEL_EXPORTER_OTLP_PROTOCOL") ?? "http/protobuf";
  let exporter;
  if (protocol === "http/json") {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    exporter = new OTLPTraceExporter();
  } else {
    if (protocol !== "http/protobuf") log(`traces: protocol ${JSON.stringify(protocol)} is not supported here; using http/protobuf`);
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
    exporter = new OTLPTraceExporter();
  }
  const resource = resources
    .defaultResource()
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // Also sets the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  const where = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? `${env("OTEL_EXPORTER_OTLP_ENDPOINT")}/v1/traces`;
  log(`traces: exporting to ${where} (${protocol === "http/json" ? "http/json" : "http/protobuf"})`);
  let done: Promise<void> | undefined;
  return {
    shutdown() {
      done ??= provider.shutdown().catch(() => undefined);
      return done;
    },
  };
}

/** `trace_id=<hex> ` for a log line about the work `span` traces, or "" when it is not traced. */
export function traceTag(span: Span | undefined): string {
  const ctx = span?.spanContext();
  return ctx && isSpanContextValid(ctx) ? ` trace_id=${ctx.traceId}` : "";
}

/** The W3C trace context of `ctx` as a carrier (`traceparent`, and `tracestate` when set). */
export function traceCarrier(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** `value` as a JSON string attribute, cut to a bounded length. */
export function jsonAttribute(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "null";
  return text.length > MAX_ATTRIBUTE_CHARS ? `${text.slice(0, MAX_ATTRIBUTE_CHARS)}…[truncated]` : text;
}

/** Marks `span` failed: error status with `message`, and `error.type`. */
export function failSpan(span: Span, errorType: string, message: string): void {
  span.setAttribute("error.type", errorType);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}
