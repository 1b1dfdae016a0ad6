#![allow(clippy::unwrap_used)]
//! One AG-UI run is one trace across the stack: against the real offline stack of `templates/`
//! with the tool-calling offline model, one `chat` turn yields, under one trace id, the AG-UI
//! server's run span, its two model calls, LiteLLM's span of each of them, and the MCP server's
//! `calculate` span, each under the span that caused it. Read back through the control socket
//! (`trace last`), as every client of the traces reads them.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Fixture, WAIT, free_port, real_stack, repo_root};
use nix::sys::signal::Signal;
use serde_json::Value;

/// The repository's stack, on free ports: the templates, the agent in `llm` mode.
fn stack() -> String {
    format!("{}env = {{ AGENT_MODE = \"llm\" }}\n", real_stack(free_port(), free_port(), free_port()))
}

/// The newest AG-UI run's trace, once it holds what one run with a tool call sends.
fn last_complete_trace(fixture: &Fixture) -> Value {
    let op = serde_json::json!({"op": "trace", "id": "last"});
    common::otlp::ask_until(fixture.path(), &op, |answer| answer["ok"] == true && complete(&answer["trace"]))["trace"]
        .clone()
}

fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

/// Whether the trace holds what one run with a tool call sends: the run span, two model calls of
/// the AG-UI server, and the MCP server's tool span. The batch processors send every 200 ms, each
/// service on its own, so the spans arrive over a moment.
fn complete(trace: &Value) -> bool {
    let spans = trace["spans"].as_array().map(Vec::as_slice).unwrap_or_default();
    let run = spans.iter().any(|s| attribute(s, "agui.run_id").is_string());
    let chats =
        spans.iter().filter(|s| s["service"] == "agui" && attribute(s, "gen_ai.operation.name") == "chat").count();
    let tool = spans.iter().any(|s| s["service"] == "mcp" && s["name"] == "tools/call calculate");
    run && chats == 2 && tool && proxy_calls(spans).len() == 2
}

/// LiteLLM's spans of model calls: those that report tokens.
fn proxy_calls(spans: &[Value]) -> Vec<&Value> {
    spans.iter().filter(|s| s["service"] == "litellm" && attribute(s, "gen_ai.usage.input_tokens").is_u64()).collect()
}

/// The names of the spans above `span`, nearest first; it fails on a parent not in the trace.
fn parents<'a>(span: &'a Value, by_id: &HashMap<&str, &'a Value>) -> Vec<&'a Value> {
    let mut chain = vec![];
    let mut at = span;
    while let Some(parent) = at["parent_id"].as_str() {
        at = by_id.get(parent).unwrap_or_else(|| panic!("parent {parent} of {span:#} is not in the trace"));
        chain.push(at);
        assert!(chain.len() <= by_id.len(), "a cycle of parents");
    }
    chain
}

#[test]
fn one_chat_turn_is_one_trace_across_the_agui_server_litellm_and_the_mcp_server() {
    let fixture = Fixture::new(&stack());
    let mut up = fixture.up_real_stack(Some("offline-tools"));
    let output = fixture
        .offline_command(&["chat", "-m", "What is 6 times 7? Use a tool."])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("result of `calculate`:"), "the tool was called:\n{stderr}");

    let trace = last_complete_trace(&fixture);
    let spans = trace["spans"].as_array().unwrap();
    let trace_id = trace["summary"]["trace_id"].as_str().unwrap();
    assert!(trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()), "{trace_id}");
    assert!(spans.iter().all(|s| s["trace_id"] == trace_id), "{trace:#}");
    let by_id: HashMap<&str, &Value> = spans.iter().map(|s| (s["span_id"].as_str().unwrap(), s)).collect();

    // The AG-UI run: the root, with its ids and the number of model calls.
    let runs: Vec<&Value> = spans.iter().filter(|s| attribute(s, "agui.run_id").is_string()).collect();
    assert_eq!(runs.len(), 1, "{trace:#}");
    let run = runs[0];
    assert_eq!(run["service"], "agui");
    assert!(run["name"].as_str().unwrap().starts_with("invoke_agent"), "{run:#}");
    assert!(run.get("parent_id").is_none(), "the run is the trace's root: {run:#}");
    assert!(attribute(run, "agui.thread_id").is_string(), "{run:#}");
    assert_eq!(attribute(run, "agui.rounds"), 2, "{run:#}");
    assert_eq!(trace["summary"]["run_id"], *attribute(run, "agui.run_id"));
    assert_eq!(trace["summary"]["model"], "offline-tools");

    // Two model calls under the run: the tool call, then the answer quoting its result.
    let mut chats: Vec<&Value> =
        spans.iter().filter(|s| s["service"] == "agui" && attribute(s, "gen_ai.operation.name") == "chat").collect();
    chats.sort_by_key(|s| s["start_ns"].as_u64());
    assert_eq!(chats.len(), 2, "{trace:#}");
    for chat in &chats {
        assert_eq!(chat["name"], "chat offline-tools");
        assert_eq!(chat["kind"], "client");
        assert_eq!(chat["parent_id"], run["span_id"]);
        assert_eq!(attribute(chat, "gen_ai.request.model"), "offline-tools");
        assert!(attribute(chat, "gen_ai.usage.input_tokens").as_u64().is_some_and(|n| n > 0), "{chat:#}");
        assert!(attribute(chat, "gen_ai.input.messages").as_str().is_some_and(|m| m.contains("6 times 7")), "{chat:#}");
        assert!(
            attribute(chat, "gen_ai.tool.definitions").as_str().is_some_and(|t| t.contains("calculate")),
            "{chat:#}"
        );
    }
    assert_eq!(attribute(chats[0], "gen_ai.response.finish_reasons"), &serde_json::json!(["tool_calls"]));
    assert_eq!(attribute(chats[1], "gen_ai.response.finish_reasons"), &serde_json::json!(["stop"]));

    // The MCP server's span: `calculate` on 6*7, whose parents lead to the run through the AG-UI
    // server's tool-call span.
    let tools: Vec<&Value> = spans.iter().filter(|s| s["service"] == "mcp").collect();
    assert_eq!(tools.len(), 1, "{trace:#}");
    let tool = tools[0];
    assert_eq!(tool["name"], "tools/call calculate");
    assert_eq!(tool["kind"], "server");
    assert_eq!(attribute(tool, "gen_ai.tool.call.result"), "42");
    assert!(attribute(tool, "gen_ai.tool.call.arguments").as_str().is_some_and(|a| a.contains("6*7")), "{tool:#}");
    let chain: Vec<&str> = parents(tool, &by_id).iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(parents(tool, &by_id).last().map(|s| &s["span_id"]), Some(&run["span_id"]), "{chain:?}");
    assert_eq!(chain.first(), Some(&"execute_tool calculate"), "{chain:?}");

    // LiteLLM continued each model call's trace: its span of the call sits under the AG-UI
    // server's `chat` span, with the tokens, and cost 0 (the offline model). The trace counts each
    // call once, on the proxy's span (the innermost that reports it).
    let proxied = proxy_calls(spans);
    assert_eq!(proxied.len(), 2, "{trace:#}");
    let (mut input, mut output) = (0, 0);
    for (call, chat) in proxied.iter().zip(&chats) {
        let above: Vec<&Value> = parents(call, &by_id);
        assert!(above.iter().any(|s| s["span_id"] == chat["span_id"]), "{call:#} is not under {chat:#}");
        input += attribute(call, "gen_ai.usage.input_tokens").as_u64().unwrap();
        output += attribute(call, "gen_ai.usage.output_tokens").as_u64().unwrap();
        assert_eq!(attribute(call, "gen_ai.cost.total_cost").as_f64(), Some(0.0), "{call:#}");
    }
    let summary = &trace["summary"];
    assert_eq!((summary["input_tokens"].as_u64(), summary["output_tokens"].as_u64()), (Some(input), Some(output)));
    assert!(input > 0 && output > 0, "{summary:#}");
    assert_eq!(summary["model_calls"], 2, "{summary:#}");
    assert_eq!(summary["cost"], 0.0, "{summary:#}");
    for service in ["agui", "litellm", "mcp"] {
        assert!(summary["services"].as_array().unwrap().iter().any(|s| s == service), "{summary:#}");
    }

    // The AG-UI server's log lines about the run name the trace.
    let log = std::fs::read_to_string(fixture.file(".agui-dev/logs/agui.log")).unwrap();
    let tagged: Vec<&str> = log.lines().filter(|l| l.contains(&format!("trace_id={trace_id}"))).collect();
    assert_eq!(tagged.len(), 2, "a start and an end line:\n{log}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// A provider key and the master key, in agui-dev's environment and in the prompt (so in the
/// AG-UI server's and LiteLLM's message attributes), reach neither the kept spans nor the copy
/// forwarded to the user's own endpoint: each is `[redacted:NAME]` there.
#[test]
fn keys_in_the_environment_and_the_prompt_reach_no_kept_or_forwarded_span() {
    const PROVIDER: &str = "sk-proj-traced0123456789abcdef";
    const MASTER: &str = "sk-master-traced0123456789abcdef";
    let sink = common::otlp::Sink::start();
    let fixture = Fixture::new(&stack());
    let mut command = fixture.offline_command(&["up"]);
    command
        .env("LITELLM_MODEL", "offline-tools")
        .env("OPENAI_API_KEY", PROVIDER)
        .env("LITELLM_MASTER_KEY", MASTER)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint());
    let mut up = fixture.spawn_command(command);
    up.stderr.wait_for_within("all 3 services are ready", Duration::from_mins(15));
    let message = format!("What is 6 times 7? Use a tool. My key is {PROVIDER}, the proxy's is {MASTER}.");
    let output = fixture.offline_command(&["chat", "-m", &message]).stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let kept = last_complete_trace(&fixture).to_string();
    for (key, name) in [(PROVIDER, "OPENAI_API_KEY"), (MASTER, "LITELLM_MASTER_KEY")] {
        assert!(!kept.contains(key), "{name} is in a kept span");
        assert!(kept.contains(&format!("[redacted:{name}]")), "the prompt's {name} is not shown redacted:\n{kept}");
    }
    // The batches holding the prompt reach the sink redacted; no batch holds a key.
    let markers = ["[redacted:OPENAI_API_KEY]", "[redacted:LITELLM_MASTER_KEY]"];
    let deadline = Instant::now() + WAIT;
    let bodies = loop {
        let bodies: Vec<String> =
            sink.received().iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
        if markers.iter().all(|m| bodies.iter().any(|b| b.contains(m))) {
            break bodies;
        }
        assert!(Instant::now() < deadline, "the prompt's spans were not forwarded redacted ({} batches)", bodies.len());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(bodies.iter().all(|b| !b.contains(PROVIDER) && !b.contains(MASTER)), "a key was forwarded");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    let shown = up.stderr.text();
    assert!(!shown.contains(PROVIDER) && !shown.contains(MASTER), "a key in up's output:\n{shown}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// The two templates are separate npm projects, so the tracing set-up and the test receiver exist
/// once in each: they must stay the same.
#[test]
fn the_templates_share_one_tracing_setup() {
    for file in ["src/telemetry.ts", "test/otlp.ts"] {
        let read =
            |template: &str| std::fs::read_to_string(repo_root().join("templates").join(template).join(file)).unwrap();
        assert!(
            read("agui-server") == read("mcp-server"),
            "templates/agui-server/{file} and templates/mcp-server/{file} differ: copy the change to both"
        );
    }
}
