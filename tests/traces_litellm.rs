#![allow(clippy::unwrap_used)]

//! LiteLLM traces itself under `up`, with the real proxy from the shared venv and the template
//! config: its `otel` callback sends spans to `up`'s receiver, continuing the caller's W3C
//! `traceparent`, and the offline models report tokens at cost 0 (also the offline model of a bare
//! `model` whose key is missing). With `--no-traces` the callback is switched off
//! (`OTEL_SDK_DISABLED`), so the proxy prints no spans.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The master key and a provider key, set in the environment; the provider key is also sent in a
/// prompt. Neither may reach a stored span.
const MASTER_KEY: &str = "sk-master-trace-test-7f3a9c0d41";
const PROVIDER_KEY: &str = "sk-provider-trace-test-51d0e2b8c6";

/// The caller's trace and span, as an AG-UI server's model-call span would send them.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn proxy_stack(port: u16) -> String {
    let root = repo_root().display().to_string();
    format!(
        "[services.litellm]\nkind = \"litellm\"\nvenv = \"{}\"\nconfig = \"{root}/templates/litellm/config.yaml\"\nport = {port}\n",
        shared_venv().display()
    )
}

/// `up` (with `extra` arguments) of the proxy alone, offline, with the master key and `env` in
/// its environment.
fn up<'a>(fixture: &'a Fixture, extra: &[&str], env: &[(&str, &str)]) -> Running<'a> {
    let mut args = vec!["up"];
    args.extend_from_slice(extra);
    let mut command = fixture.offline_command(&args);
    command.env("LITELLM_MASTER_KEY", MASTER_KEY).envs(env.iter().copied());
    let up = fixture.spawn_command(command);
    // A venv made from older pins is installed again first.
    up.stderr.wait_for_within("the service is ready in ", Duration::from_mins(15));
    up
}

fn complete(port: u16, body: &Value) -> String {
    let auth = format!("Bearer {MASTER_KEY}");
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let headers =
        [("Authorization", auth.as_str()), ("Content-Type", "application/json"), ("traceparent", &traceparent)];
    let (status, _, answer) = http(port, "POST", "/v1/chat/completions", &headers, &body.to_string());
    assert_eq!(status, 200, "{answer}");
    answer
}

fn ask(fixture: &Fixture, request: &Value) -> Value {
    common::otlp::ask(fixture.path(), request)
}

/// The control socket's `trace` answer for `TRACE` once it holds `count` model calls.
fn wait_for_model_calls(fixture: &Fixture, count: usize) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = ask(fixture, &json!({"version": 1, "op": "trace", "id": TRACE}));
        let spans = answer["trace"]["spans"].as_array().cloned().unwrap_or_default();
        if model_calls(&spans).len() >= count {
            return answer;
        }
        assert!(Instant::now() < deadline, "no {count} model calls in trace {TRACE} within {WAIT:?}: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The spans that carry a model call's usage.
fn model_calls(spans: &[Value]) -> Vec<&Value> {
    spans.iter().filter(|s| s["attributes"].get("gen_ai.usage.input_tokens").is_some()).collect()
}

#[test]
fn the_proxy_continues_the_callers_trace_with_tokens_and_cost_0_and_no_key() {
    let port = free_port();
    let fixture = Fixture::new(&proxy_stack(port));
    let mut up = up(&fixture, &[], &[("OPENAI_API_KEY", PROVIDER_KEY)]);

    // Not streaming, the canned model; streaming with usage, the tool-calling model.
    let plain = complete(
        port,
        &json!({"model": "offline", "messages": [{"role": "user", "content": format!("my key is {PROVIDER_KEY}")}]}),
    );
    let plain: Value = serde_json::from_str(&plain).unwrap();
    assert!(plain["usage"]["prompt_tokens"].as_u64() > Some(0), "{plain}");
    assert!(plain["usage"]["completion_tokens"].as_u64() > Some(0), "{plain}");
    let streamed = complete(
        port,
        &json!({"model": "offline-tools", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "What is 6*7?"}]}),
    );
    let usage = streamed
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|chunk| chunk.get("usage").filter(|u| u.is_object()).cloned())
        .unwrap_or_else(|| panic!("no usage in the stream:\n{streamed}"));
    assert!(usage["prompt_tokens"].as_u64() > Some(0) && usage["completion_tokens"].as_u64() > Some(0), "{usage}");

    // Both calls' spans reach the receiver (a batch every 200 ms).
    let answer = wait_for_model_calls(&fixture, 2);
    let text = answer.to_string();
    for secret in [MASTER_KEY, PROVIDER_KEY] {
        assert!(!text.contains(secret), "a key reached the stored spans: {text}");
    }

    let spans = answer["trace"]["spans"].as_array().unwrap();
    assert!(spans.iter().all(|s| s["service"] == "litellm" && s["trace_id"] == TRACE), "{text}");
    // Every span hangs below the caller's span: the spans whose parent is not in the trace are
    // the proxy's request spans, and their parent is the one the `traceparent` named.
    let ids: Vec<&str> = spans.iter().filter_map(|s| s["span_id"].as_str()).collect();
    let tops: Vec<&Value> =
        spans.iter().filter(|s| s["parent_id"].as_str().is_none_or(|p| !ids.contains(&p))).collect();
    assert!(!tops.is_empty() && tops.iter().all(|s| s["parent_id"] == PARENT), "{text}");

    let calls = model_calls(spans);
    assert_eq!(calls.len(), 2, "{text}");
    let models: Vec<&str> = calls.iter().filter_map(|s| s["attributes"]["gen_ai.request.model"].as_str()).collect();
    assert!(models.contains(&"offline") && models.contains(&"offline-tools"), "{models:?}");
    for call in &calls {
        let attributes = &call["attributes"];
        assert!(attributes["gen_ai.usage.input_tokens"].as_f64() > Some(0.0), "{call}");
        assert!(attributes["gen_ai.usage.output_tokens"].as_f64() > Some(0.0), "{call}");
        // Reported as 0, not missing.
        assert_eq!(attributes["gen_ai.cost.total_cost"].as_f64(), Some(0.0), "{call}");
        assert!(attributes.get("gen_ai.response.finish_reasons").is_some(), "{call}");
    }
    let summary = &answer["trace"]["summary"];
    assert_eq!(summary["model_calls"], 2, "{summary}");
    assert!(summary["input_tokens"].as_u64() > Some(0) && summary["output_tokens"].as_u64() > Some(0), "{summary}");
    assert_eq!(summary["cost"].as_f64(), Some(0.0), "{summary}");

    up.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}

#[test]
fn without_traces_the_proxy_prints_no_spans_and_no_opentelemetry_error() {
    let port = free_port();
    let fixture = Fixture::new(&proxy_stack(port));
    // Were the callback's console exporter on, it would print within 200 ms, and at the latest
    // when the proxy stops (the SDK flushes its batch on exit).
    let mut up = up(&fixture, &["--no-traces"], &[("OTEL_BSP_SCHEDULE_DELAY", "200")]);
    let answer = complete(port, &json!({"model": "offline", "messages": [{"role": "user", "content": "Hello"}]}));
    assert!(answer.contains("[offline model]"), "{answer}");
    up.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());

    let output = format!("{}\n{}", up.stdout.text(), up.stderr.text());
    assert!(output.contains("POST /v1/chat/completions"), "the proxy's log is not in the output:\n{output}");
    for needle in ["\"trace_id\"", "\"span_id\"", "Received Proxy Server Request", "opentelemetry", "OpenTelemetry"] {
        assert!(!output.contains(needle), "`{needle}` in the output of `up --no-traces`:\n{output}");
    }
}

#[test]
fn a_bare_model_without_its_key_runs_offline_and_traced() {
    let port = free_port();
    let stack = format!(
        "[services.litellm]\nkind = \"litellm\"\nvenv = \"{}\"\nmodel = \"deepseek/deepseek-chat\"\nport = {port}\n",
        shared_venv().display()
    );
    let fixture = Fixture::new(&stack);
    let mut up = up(&fixture, &[], &[]);
    complete(port, &json!({"model": "offline", "messages": [{"role": "user", "content": "Hello"}]}));

    let answer = wait_for_model_calls(&fixture, 1);
    let spans = answer["trace"]["spans"].as_array().unwrap();
    let call = model_calls(spans)[0];
    assert_eq!(call["service"], "litellm", "{call}");
    assert!(call["attributes"]["gen_ai.usage.output_tokens"].as_f64() > Some(0.0), "{call}");
    assert_eq!(call["attributes"]["gen_ai.cost.total_cost"].as_f64(), Some(0.0), "{call}");
    let ids: Vec<&str> = spans.iter().filter_map(|s| s["span_id"].as_str()).collect();
    assert!(
        spans
            .iter()
            .filter(|s| s["parent_id"].as_str().is_none_or(|p| !ids.contains(&p)))
            .all(|s| s["parent_id"] == PARENT),
        "{answer}"
    );
    assert!(!answer.to_string().contains(MASTER_KEY), "{answer}");

    up.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}
