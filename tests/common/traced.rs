//! Traces for the tests of `agui-dev trace`, the `status` totals and the MCP `trace` tool: spans
//! built as OpenTelemetry exporters send them (protobuf with `opentelemetry-proto`, and OTLP/JSON
//! written out by hand, as the spec shows it) and posted to a running stack's receiver, whose
//! address `status --json` names.
//!
//! `agent_run` is one AG-UI run across three services, with fixed times: the AG-UI server's run,
//! two model calls each with LiteLLM's span below, a tool call with the MCP server's span below
//! (that one failed, and comes as JSON), and a LiteLLM span whose parent is not in the trace.

use std::io::{Read, Write};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{Value, json};

use super::{Fixture, WAIT};

/// 2026-01-01T00:00:00Z: every span's times are milliseconds after it.
pub const BASE_NS: u64 = 1_767_225_600_000_000_000;

/// A trace id: 32 hex digits from a small number.
pub fn trace_id(n: u64) -> String {
    format!("{n:032x}")
}

/// A span id: 16 hex digits from a small number.
pub fn span_id(n: u64) -> String {
    format!("{n:016x}")
}

/// One body as an exporter sends it.
pub enum Body {
    Protobuf(Vec<u8>),
    Json(String),
}

impl Body {
    pub fn content_type(&self) -> &'static str {
        match self {
            Body::Protobuf(_) => "application/x-protobuf",
            Body::Json(_) => "application/json",
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Body::Protobuf(bytes) => bytes,
            Body::Json(text) => text.as_bytes(),
        }
    }
}

fn any(value: &Value) -> AnyValue {
    let value = match value {
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) if n.is_i64() => any_value::Value::IntValue(n.as_i64().unwrap()),
        Value::Number(n) => any_value::Value::DoubleValue(n.as_f64().unwrap()),
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue { values: items.iter().map(any).collect() }),
        other => any_value::Value::StringValue(other.to_string()),
    };
    AnyValue { value: Some(value) }
}

fn attributes(map: &Value) -> Vec<KeyValue> {
    map.as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| KeyValue { key: key.clone(), value: Some(any(value)), ..KeyValue::default() })
        .collect()
}

/// A span of trace `trace` from `start_ms` to `end_ms`.
pub fn span(trace: u64, id: u64, parent: Option<u64>, name: &str, ms: (u64, u64), attrs: &Value) -> Span {
    Span {
        trace_id: hex(&trace_id(trace)),
        span_id: hex(&span_id(id)),
        parent_span_id: parent.map(|p| hex(&span_id(p))).unwrap_or_default(),
        name: name.to_owned(),
        kind: 1,
        start_time_unix_nano: BASE_NS + ms.0 * 1_000_000,
        end_time_unix_nano: BASE_NS + ms.1 * 1_000_000,
        attributes: attributes(attrs),
        ..Span::default()
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// The spans of one service as one protobuf request.
pub fn protobuf(service: &str, spans: Vec<Span>) -> Body {
    let resource = Resource { attributes: attributes(&json!({"service.name": service})), ..Resource::default() };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    };
    Body::Protobuf(request.encode_to_vec())
}

pub const RUN_ATTRIBUTE: &str = "agui.run_id";

/// One AG-UI run `run` as trace `trace` (see the module's comment): the bodies in the order the
/// services would send them.
pub fn agent_run(trace: u64, run: &str) -> Vec<Body> {
    let agui = vec![
        span(trace, 1, None, "agent run", (0, 2400), &json!({RUN_ATTRIBUTE: run, "agui.thread_id": "thread-1"})),
        span(
            trace,
            2,
            Some(1),
            "chat offline-tools",
            (10, 900),
            &json!({"gen_ai.operation.name": "chat", "gen_ai.request.model": "offline-tools",
                    "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}),
        ),
        span(
            trace,
            4,
            Some(1),
            "execute_tool calculate",
            (900, 1300),
            &json!({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "calculate",
                    "gen_ai.tool.call.arguments": "{\"expression\":\"6*7\"}", "gen_ai.tool.call.result": "42"}),
        ),
        span(
            trace,
            6,
            Some(1),
            "chat offline-tools",
            (1300, 2400),
            &json!({"gen_ai.operation.name": "chat", "gen_ai.request.model": "offline-tools",
                    "gen_ai.usage.input_tokens": 130, "gen_ai.usage.output_tokens": 8}),
        ),
    ];
    let litellm = vec![
        span(
            trace,
            3,
            Some(2),
            "litellm_request",
            (20, 880),
            // LiteLLM's v1 names, and its finish reasons as JSON text.
            &json!({"gen_ai.request.model": "offline-tools", "gen_ai.response.model": "openai/offline",
                    "gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 20,
                    "gen_ai.cost.total_cost": 0.0012, "gen_ai.response.finish_reasons": "[\"tool_calls\"]",
                    "gen_ai.server.time_to_first_token": 0.15}),
        ),
        span(
            trace,
            7,
            Some(6),
            "litellm_request",
            (1310, 2390),
            &json!({"gen_ai.request.model": "offline-tools", "gen_ai.usage.input_tokens": 130,
                    "gen_ai.usage.output_tokens": 8, "gen_ai.cost.total_cost": 0.0008,
                    "gen_ai.response.finish_reasons": ["stop"], "gen_ai.server.time_to_first_token": 0.2}),
        ),
        // Its parent (a span of the proxy's own) never arrives.
        span(trace, 8, Some(0xdead), "health", (500, 510), &json!({})),
    ];
    // The MCP server's span as OTLP/JSON: ids in hex, times as strings, status code 2 (error).
    let mcp = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "mcp"}}]},
        "scopeSpans": [{"scope": {"name": "mcp-server"}, "spans": [{
            "traceId": trace_id(trace), "spanId": span_id(5), "parentSpanId": span_id(4),
            "name": "tools/call calculate", "kind": 2,
            "startTimeUnixNano": (BASE_NS + 950 * 1_000_000).to_string(),
            "endTimeUnixNano": (BASE_NS + 1250 * 1_000_000).to_string(),
            "attributes": [
                {"key": "mcp.method.name", "value": {"stringValue": "tools/call"}},
                {"key": "gen_ai.tool.name", "value": {"stringValue": "calculate"}}
            ],
            "status": {"code": 2, "message": "boom: division by zero"}
        }]}]
    }]});
    vec![protobuf("agui", agui), protobuf("litellm", litellm), Body::Json(mcp.to_string())]
}

/// A run of one span, `run`, 100 ms long.
pub fn short_run(trace: u64, run: &str) -> Vec<Body> {
    vec![protobuf("agui", vec![span(trace, 1, None, "agent run", (0, 100), &json!({RUN_ATTRIBUTE: run}))])]
}

/// A trace that is no AG-UI run: a health check.
pub fn not_a_run(trace: u64) -> Vec<Body> {
    vec![protobuf("agui", vec![span(trace, 1, None, "GET /health", (0, 3), &json!({"http.method": "GET"}))])]
}

/// POSTs `body` to `endpoint`'s `/v1/traces` (plain HTTP/1.1 on loopback); returns the status.
pub fn post(endpoint: &str, body: &Body) -> u16 {
    let authority = endpoint.strip_prefix("http://").unwrap().trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.content_type(),
        body.bytes().len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// Posts every body; each must be taken (200).
pub fn post_all(endpoint: &str, bodies: &[Body]) {
    for body in bodies {
        assert_eq!(post(endpoint, body), 200, "the receiver refused a {} body", body.content_type());
    }
}

/// The running stack's `status --json`.
pub fn status(fixture: &Fixture) -> Value {
    let (code, stdout, stderr) = fixture.run(&["status", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A stack of one service that does nothing, for posting spans to its receiver.
pub const IDLE_STACK: &str = "[services.idle]\ncommand = \"sleep 1000\"\n";

/// The trace agui-dev should make of `bodies`, read with its own OTLP reader: what `trace --json`
/// must give back after the receiver, the store and the control socket.
pub fn expected(bodies: &[Body]) -> agui_dev::traces::Detail {
    use agui_dev::traces::otlp::{self, Encoding};
    let mut spans = Vec::new();
    for body in bodies {
        let encoding = if matches!(body, Body::Json(_)) { Encoding::Json } else { Encoding::Protobuf };
        spans.extend(otlp::spans(&otlp::decode(body.bytes(), encoding).unwrap()));
    }
    spans.sort_by_key(|s| s.start_ns);
    agui_dev::traces::Detail { summary: agui_dev::traces::model::summarize(&spans), spans }
}
