#![allow(clippy::unwrap_used)]
//! `agui-dev chat -m` against the real stack of `templates/` under `agui-dev up`, offline: the
//! offline model's answer, and the offline tool-calling model's MCP tool call with its result.

mod common;

use std::process::Stdio;

use common::{Fixture, free_port, real_stack};
use nix::sys::signal::Signal;

/// Runs `chat` with `args` in the fixture: (exit code, stdout, stderr).
fn chat(fixture: &Fixture, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["chat"];
    all.extend_from_slice(args);
    let output = fixture.offline_command(&all).stdin(Stdio::null()).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn chat_prints_the_offline_models_answer_and_keeps_a_trace() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack(proxy, mcp, agui));
    let mut up = fixture.up_real_stack(None);
    let trace = fixture.file("trace.jsonl");
    let (code, stdout, stderr) = chat(&fixture, &["-m", "Say hello", "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("[offline model]"), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let trace = std::fs::read_to_string(&trace).unwrap();
    let types: Vec<String> = trace
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("RUN_STARTED"), "{trace}");
    assert_eq!(types.last().map(String::as_str), Some("RUN_FINISHED"), "{trace}");
    assert!(types.iter().any(|t| t == "TEXT_MESSAGE_CONTENT"), "{trace}");
    // --json: every event a JSON line on stdout, the same sequence.
    let (code, stdout, stderr) = chat(&fixture, &["-m", "Say hello", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.first().unwrap()["type"], "RUN_STARTED", "{stdout}");
    assert_eq!(lines.last().unwrap()["type"], "RUN_FINISHED", "{stdout}");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn chat_shows_the_offline_tool_models_call_and_result() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack(proxy, mcp, agui));
    let mut up = fixture.up_real_stack(Some("offline-tools"));
    let (code, stdout, stderr) = chat(&fixture, &["-m", "What is 6 times 7? Use a tool."]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("tool `calculate`") && stderr.contains("\"expression\": \"6*7\""),
        "the call, arguments pretty:\n{stderr}"
    );
    assert!(stderr.contains("result of `calculate`:"), "its result is shown:\n{stderr}");
    assert!(stdout.contains("42") || stderr.contains("42"), "stdout:\n{stdout}\nstderr:\n{stderr}");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}
