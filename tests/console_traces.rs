//! The console's Traces panel: its API (`/api/traces`, `/api/traces/{id}`, the logs of a trace)
//! and the panel itself in Debian's Chromium, first on spans this test sends to the stack's
//! receiver as any OpenTelemetry SDK would (no templates needed), then on a real chat turn of the
//! offline stack with the tool-calling model (that one needs the templates' spans).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Fixture, WAIT, console_of, http};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const SECRET: &str = "sk-traces-test-0123456789abcdef";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const OTHER: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const RUN: &str = "run-posted-1";

/// A service that prints where its spans go and one line of the trace, as the AG-UI template
/// does, then idles; and the fixture AG-UI server (it sends no spans) for the console's chat.
fn stack(console: &str) -> String {
    let script = common::repo_root().join("tests/fixtures/agui-server/serve.py").display().to_string();
    let port = common::free_port();
    format!(
        r#"
[services.app]
command = ["sh", "-c", "echo otlp=$OTEL_EXPORTER_OTLP_ENDPOINT; echo agui-server run-start {RUN} trace_id={TRACE}; echo unrelated line; exec sleep 600"]
env = {{ OPENAI_API_KEY = "{SECRET}" }}

[services.agui]
kind = "agui"
command = ["python3", {script:?}, "{port}", "good"]
port = {port}
ready = {{ log = "listening" }}

{console}
"#
    )
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn attribute(key: &str, value: &Value) -> Value {
    let value = match value {
        Value::String(s) => json!({"stringValue": s}),
        Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n}),
        Value::Array(items) => {
            json!({"arrayValue": {"values": items.iter().map(|v| json!({"stringValue": v})).collect::<Vec<_>>()}})
        }
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": key, "value": value})
}

/// One span in OTLP/JSON: `at` and `to` in milliseconds from `base` (Unix ns).
#[allow(clippy::too_many_arguments)]
fn span(
    trace: &str,
    id: &str,
    parent: &str,
    name: &str,
    base: u64,
    at: u64,
    to: u64,
    attributes: &[(&str, Value)],
) -> Value {
    json!({
        "traceId": trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": 3,
        "startTimeUnixNano": (base + at * 1_000_000).to_string(),
        "endTimeUnixNano": (base + to * 1_000_000).to_string(),
        "attributes": attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
    })
}

fn resource(service: &str, spans: &[Value]) -> Value {
    json!({"resource": {"attributes": [attribute("service.name", &json!(service))]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]})
}

/// An AG-UI run as the templates trace it: the run, two model calls with a tool call between
/// (the MCP server's span below it), and a failed tool call; plus a newer trace that is no run.
fn posted_spans() -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let base = now - 3_000_000_000;
    let messages =
        json!([{"role": "user", "parts": [{"type": "text", "content": format!("6*7? my key is {SECRET}")}]}]);
    let tools = json!([{"type": "function", "name": "calculate", "parameters": {"type": "object",
        "properties": {"expression": {"type": "string"}}}}]);
    let model = |id: &str, at, to, output, finish: &str| {
        span(
            TRACE,
            id,
            "00000000000000a1",
            "chat offline-tools",
            base,
            at,
            to,
            &[
                ("gen_ai.operation.name", json!("chat")),
                ("gen_ai.request.model", json!("offline-tools")),
                ("gen_ai.usage.input_tokens", json!(30)),
                ("gen_ai.usage.output_tokens", json!(output)),
                ("gen_ai.usage.cost", json!(0.0)),
                ("gen_ai.response.time_to_first_chunk", json!(0.12)),
                ("gen_ai.response.finish_reasons", json!([finish])),
                ("gen_ai.input.messages", json!(messages.to_string())),
                ("gen_ai.tool.definitions", json!(tools.to_string())),
            ],
        )
    };
    let agui = vec![
        span(
            TRACE,
            "00000000000000a1",
            "00000000000000ff",
            "invoke_agent agui-dev-agent",
            base,
            0,
            1500,
            &[
                ("agui.run_id", json!(RUN)),
                ("agui.thread_id", json!("thread-posted")),
                ("gen_ai.operation.name", json!("invoke_agent")),
            ],
        ),
        model("00000000000000b1", 20, 400, 8, "tool_calls"),
        span(
            TRACE,
            "00000000000000c1",
            "00000000000000a1",
            "execute_tool calculate",
            base,
            420,
            700,
            &[
                ("gen_ai.operation.name", json!("execute_tool")),
                ("gen_ai.tool.name", json!("calculate")),
                ("gen_ai.tool.call.id", json!("call-1")),
                ("gen_ai.tool.call.arguments", json!(r#"{"expression":"6*7"}"#)),
                ("gen_ai.tool.call.result", json!(r#"[{"type":"text","text":"42"}]"#)),
            ],
        ),
        model("00000000000000b2", 720, 1400, 12, "stop"),
    ];
    let mut failed = span(
        TRACE,
        "00000000000000c2",
        "00000000000000a1",
        "execute_tool lookup",
        base,
        710,
        715,
        &[("gen_ai.tool.name", json!("lookup")), ("error.type", json!("unknown_tool"))],
    );
    failed["status"] = json!({"code": 2, "message": "no tool named lookup"});
    let mcp = vec![span(
        TRACE,
        "00000000000000d1",
        "00000000000000c1",
        "tools/call calculate",
        base,
        450,
        680,
        &[
            ("mcp.method.name", json!("tools/call")),
            ("gen_ai.tool.name", json!("calculate")),
            ("gen_ai.tool.call.result", json!(r#"[{"type":"text","text":"42"}]"#)),
        ],
    )];
    let other = vec![span(OTHER, "00000000000000e1", "", "nightly job", base, 2000, 2100, &[])];
    let agui = resource("agui", &[agui, vec![failed]].concat());
    json!({"resourceSpans": [agui, resource("mcp", &mcp), resource("worker", &other)]})
}

#[test]
fn the_traces_panel_shows_posted_spans_as_a_waterfall_with_the_trace_s_log_lines() {
    let started = std::time::SystemTime::now();
    let fixture = Fixture::new(&stack("[console]\nport = \"auto\""));
    let mut up = fixture.spawn(&["up", "--console", "--no-watch"]);
    up.stderr.wait_for("all 2 services are ready");
    let printed = up.stdout.wait_for("unrelated line");
    let receiver = printed.lines().find_map(|l| l.split("otlp=http://127.0.0.1:").nth(1)).unwrap();
    let receiver: u16 = receiver.trim().parse().unwrap();
    let (port, token) = console_of(&up);
    let with_token = [("X-Agui-Dev-Token", token.as_str())];

    // Nothing yet: an empty list, the run receiving traces.
    let (code, _, body) = http(port, "GET", "/api/traces", &with_token, "");
    let empty = json_of(&body);
    assert_eq!((code, &empty["ok"], &empty["traced"], &empty["traces"]), (200, &json!(true), &json!(true), &json!([])));
    let (_, _, body) = http(port, "GET", "/api/traces/last", &with_token, "");
    assert!(json_of(&body)["error"].as_str().unwrap().contains("no AG-UI run"), "{body}");

    let (code, _, answer) =
        http(receiver, "POST", "/v1/traces", &[("Content-Type", "application/json")], &posted_spans().to_string());
    assert_eq!(code, 200, "{answer}");

    // The list: newest first, the run with its model calls added up once each.
    let (_, _, body) = http(port, "GET", "/api/traces", &with_token, "");
    let list = json_of(&body);
    let ids: Vec<&str> = list["traces"].as_array().unwrap().iter().map(|t| t["trace_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [OTHER, TRACE], "{body}");
    let run = &list["traces"][1];
    assert_eq!((run["run_id"].as_str(), run["model"].as_str()), (Some(RUN), Some("offline-tools")), "{run}");
    assert_eq!(
        (run["input_tokens"].as_u64(), run["output_tokens"].as_u64(), run["error"].as_bool()),
        (Some(60), Some(20), Some(true))
    );
    assert_eq!(list["totals"]["runs"], 1, "{body}");
    // One trace whole, by trace id, by run id and as `last`: the same.
    let detail = |id: &str| json_of(&http(port, "GET", &format!("/api/traces/{id}"), &with_token, "").2);
    let by_id = detail(TRACE);
    assert_eq!(by_id["trace"]["spans"].as_array().unwrap().len(), 6, "{by_id}");
    assert_eq!(detail(RUN)["trace"], by_id["trace"]);
    assert_eq!(detail("last")["trace"], by_id["trace"]);
    assert!(detail("no-such-run")["error"].as_str().unwrap().contains("no-such-run"));
    let raw = by_id.to_string();
    assert!(!raw.contains(SECRET) && raw.contains("[redacted:OPENAI_API_KEY]"), "{raw}");
    // The log lines that carry the trace's ids, and no other.
    let (_, _, body) = http(port, "GET", &format!("/api/logs?any={TRACE},{RUN}"), &with_token, "");
    let lines: Vec<String> =
        json_of(&body)["lines"].as_array().unwrap().iter().map(|l| l["text"].to_string()).collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert!(lines[0].contains(&format!("trace_id={TRACE}")), "{body}");

    // The panel, in Chromium.
    let otlp = format!("http://127.0.0.1:{receiver}");
    let steps = browser(port, &token, &["--scenario", "traces", "--run-id", RUN, "--otlp", &otlp]);
    assert_eq!(steps["traces-row"]["first_is_run"], true, "AG-UI runs come first: {}", steps["traces-row"]);
    let waterfall = &steps["waterfall"];
    let spans: Vec<&str> = waterfall["spans"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(
        spans,
        [
            "invoke_agent agui-dev-agent",
            "chat offline-tools",
            "execute_tool calculate",
            "tools/call calculate",
            "execute_tool lookup",
            "chat offline-tools"
        ]
    );
    // The tree on a time axis: the MCP span below the tool span below the run.
    let depths: Vec<i64> = waterfall["depths"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
    assert!(depths[0] < depths[2] && depths[2] < depths[3] && depths[1] == depths[2], "{depths:?}");
    assert_eq!(waterfall["bars"][0]["left"], "0%", "{waterfall}");
    assert!(waterfall["result"].as_str().unwrap().contains("\"text\": \"42\""), "pretty-printed: {waterfall}");
    assert!(waterfall["arguments"].as_str().unwrap().contains("\"expression\": \"6*7\""), "{waterfall}");
    assert_eq!(waterfall["fields"]["latency"], "280 ms", "{waterfall}");
    let model = &steps["model-call"];
    assert_eq!(
        (model["fields"]["first token"].as_str(), model["fields"]["finish reason"].as_str()),
        (Some("120 ms"), Some("tool_calls")),
        "{model}"
    );
    assert_eq!(model["fields"]["tokens in / out"], "30 / 8", "{model}");
    let messages = model["messages"].as_str().unwrap();
    assert!(messages.contains("\n    \"role\": \"user\"") && messages.contains("[redacted:OPENAI_API_KEY]"), "{model}");
    assert!(!messages.contains(SECRET));
    assert!(model["tools"].as_str().unwrap().contains("\"name\": \"calculate\""), "{model}");
    assert!(model["label"].as_str().unwrap().contains("first token 120 ms · 30→8 tok"), "{model}");
    let error = &steps["error-span"];
    assert_eq!(
        (error["errors"][0]["name"].as_str(), error["error"].as_str()),
        (Some("execute_tool lookup"), Some("no tool named lookup")),
        "{error}"
    );
    let logged = &steps["trace-logs"]["lines"];
    assert_eq!(logged.as_array().unwrap().len(), 1, "{logged}");
    assert!(logged[0].as_str().unwrap().contains(&format!("run-start {RUN} trace_id={TRACE}")), "{logged}");
    kept_screenshot("traces.png", started);
    // The console's own chat run, its spans sent after it: each event links to its span, a
    // tool-call event by its call id although the tool span holds none of the events' times.
    let linked = &steps["timeline-link"];
    let event_spans = &linked["links"];
    for (event, span) in [
        ("RUN_STARTED", "invoke_agent agui-dev-agent"),
        ("TOOL_CALL_START", "execute_tool lookup"),
        ("TOOL_CALL_RESULT", "execute_tool lookup"),
        ("TEXT_MESSAGE_CONTENT", "chat fixture"),
        ("STATE_SNAPSHOT", "chat fixture"),
        ("RUN_FINISHED", "invoke_agent agui-dev-agent"),
    ] {
        assert_eq!(event_spans[event], span, "{event}: {linked}");
    }
    assert_eq!(linked["selected"], "execute_tool lookup", "{linked}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);

    // Without traces the API says so, plainly.
    let mut up = fixture.spawn(&["up", "--console", "--no-watch", "--no-traces"]);
    up.stderr.wait_for("all 2 services are ready");
    let (port, token) = console_of(&up);
    for path in ["/api/traces", "/api/traces/last"] {
        let (code, _, body) = http(port, "GET", path, &[("X-Agui-Dev-Token", &token)], "");
        let off = json_of(&body);
        assert_eq!((code, &off["ok"], &off["traced"]), (200, &json!(false), &json!(false)), "{body}");
        assert!(off["error"].as_str().unwrap().contains("--no-traces"), "{body}");
    }
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}

/// Depends on the AG-UI and MCP templates sending their spans (issue 21, part 2): one chat turn
/// with the offline tool-calling model, in the console; its row in the Traces panel, the
/// waterfall with the `calculate` tool span and its result, the timeline's link to it.
#[test]
fn a_chat_turn_in_the_console_opens_as_a_trace_with_the_calculate_tool_span() {
    let started = std::time::SystemTime::now();
    let (proxy, mcp, agui) = (common::free_port(), common::free_port(), common::free_port());
    let fixture = Fixture::new(&(common::real_stack(proxy, mcp, agui) + "\n[console]\nport = \"auto\"\n"));
    let mut command = fixture.offline_command(&["up", "--console"]);
    command.env("LITELLM_MODEL", "offline-tools");
    let mut up = fixture.spawn_command(command);
    up.stderr.wait_for_within("all 3 services are ready", Duration::from_mins(15));
    let (port, token) = console_of(&up);

    let steps = browser(port, &token, &["--scenario", "traces-chat", "--message", "What is 6 times 7? Use a tool."]);
    let waterfall = &steps["waterfall"];
    assert!(waterfall["result"].as_str().unwrap().contains("42"), "{waterfall}");
    let spans: Vec<&str> = waterfall["spans"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(spans.iter().filter(|s| s.starts_with("chat ")).count() >= 2, "two model calls: {spans:?}");
    assert!(spans.contains(&"tools/call calculate"), "the MCP server's span: {spans:?}");
    assert_eq!(steps["timeline-link"]["link"], "execute_tool calculate", "{}", steps["timeline-link"]);
    kept_screenshot("traces-chat.png", started);

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}

/// Runs tests/browser/console.mjs on the console with `args`; every step must pass. Its steps,
/// by name.
fn browser(port: u16, token: &str, args: &[&str]) -> serde_json::Map<String, Value> {
    let steps = common::browser::console_steps(&format!("http://127.0.0.1:{port}/?token={token}"), args);
    assert!(steps.iter().all(|s| s["ok"] == true), "{steps:?}");
    steps.into_iter().map(|s| (s["step"].as_str().unwrap().to_owned(), s)).collect()
}

/// A screenshot the run kept under target/, for CI's artifacts.
/// The screenshot `name` was taken by this run (after `since`), not left by an earlier one.
fn kept_screenshot(name: &str, since: std::time::SystemTime) {
    let shot = common::repo_root().join("target/console-screenshots").join(name);
    let fresh = std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000 && m.modified().is_ok_and(|at| at >= since));
    assert!(fresh, "no screenshot {} taken by this run", shot.display());
}
