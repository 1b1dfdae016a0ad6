#![allow(clippy::unwrap_used)]
//! `agui-dev chat` against a fixture AG-UI server (`tests/fixtures/agui-server/serve.py`, a real
//! process on a real port): a valid run with a tool call and state, a run that breaks a rule
//! (exit 1, the rule id and the event's index, the trace redacted), and the REPL under a
//! pseudo-terminal keeping the thread's messages across turns until `/reset`.

mod common;

use std::process::{Command, Stdio};

use common::pty::{CTRL_D, Tty};
use common::{Captured, Fixture, WAIT, free_port, repo_root};

const SECRET: &str = "sk-fixture-secret-0123456789";

/// A stack whose AG-UI service is the fixture server on `port` (agui-dev does not start it:
/// `chat` only reads the plan for the URL). The service's env holds a secret for the trace test.
fn stack(port: u16) -> String {
    format!(
        "[services.agent]\nkind = \"agui\"\ncommand = \"true\"\nport = {port}\nenv = {{ OPENAI_API_KEY = \"{SECRET}\" }}\n"
    )
}

/// Starts the fixture server in `mode`; the fixture's guard kills it (it carries the marker).
fn serve(fixture: &Fixture, port: u16, mode: &str) -> std::process::Child {
    let script = repo_root().join("tests/fixtures/agui-server/serve.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([&port.to_string(), mode, SECRET])
        .env("AGUI_TEST_MARKER", &fixture.marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Captured::start(child.stdout.take().unwrap()).wait_for_within("listening", WAIT);
    child
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_valid_run_streams_text_tool_calls_and_state() {
    let port = free_port();
    let fixture = Fixture::new(&stack(port));
    let server = serve(&fixture, port, "good");
    let (code, stdout, stderr) = fixture.run(&["-v", "chat", "-m", "hello"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stdout, "fixture answer: messages=1\n", "stderr:\n{stderr}");
    assert!(stderr.contains("tool `lookup` (call-1)\n  {\n    \"query\": \"weather\"\n  }"), "{stderr}");
    assert!(stderr.contains("result of `lookup`:\n  {\n    \"sunny\": true\n  }"), "{stderr}");
    // -v shows the state after the delta was applied.
    assert!(stderr.contains(r#"state: {"items":["weather"],"turns":1}"#), "{stderr}");
    stop(server);
}

#[test]
fn a_run_that_breaks_a_rule_exits_1_naming_it_and_the_trace_is_redacted() {
    let port = free_port();
    let fixture = Fixture::new(&stack(port));
    let server = serve(&fixture, port, "bad");
    let trace = fixture.file("trace.jsonl");
    let (code, stdout, stderr) = fixture.run(&["chat", "-m", "hello", "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("error: the run broke rule `agui.text-content-open` at event 2"), "{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "a secret was printed:\n{stdout}\n{stderr}");
    let trace = std::fs::read_to_string(&trace).unwrap();
    assert_eq!(trace.lines().count(), 5, "every event is in the trace:\n{trace}");
    assert!(trace.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{trace}");
    assert!(!trace.contains(SECRET), "the trace holds the secret:\n{trace}");
    assert!(trace.contains("[redacted:OPENAI_API_KEY]"), "{trace}");
    // --json: the events on stdout, the same verdict.
    let (code, stdout, _) = fixture.run(&["chat", "-m", "hello", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    stop(server);
}

#[test]
fn no_agui_service_is_a_usage_error_with_a_hint() {
    let fixture = Fixture::new("[services.web]\ncommand = \"true\"\nport = 9\n");
    let (code, _, stderr) = fixture.run(&["chat", "-m", "hello"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no AG-UI service") && stderr.contains("hint: "), "{stderr}");
}

#[test]
fn the_repl_keeps_the_thread_across_turns_until_reset() {
    let port = free_port();
    let fixture = Fixture::new(&stack(port));
    let server = serve(&fixture, port, "good");
    let mut tty = Tty::spawn(&fixture, &["chat"], &[("NO_COLOR", "1")]);
    let screen = tty.screen.clone();
    let mut type_line = |line: &str| tty.type_keys(line.as_bytes());
    let count = |text: &str, needle: &str| text.matches(needle).count();
    screen.wait_for_within("you> ", WAIT);
    type_line("first\r");
    screen.wait_for_within("fixture answer: messages=1", WAIT);
    // The second request carries the first turn: user, assistant with the tool call, the tool
    // result, the assistant's text, and the new user message.
    type_line("second\r");
    screen.wait_for_within("fixture answer: messages=5", WAIT);
    type_line("/state\r");
    screen.wait_for_within("\"weather\"", WAIT);
    type_line("/reset\r");
    screen.wait_for_within("conversation reset", WAIT);
    type_line("third\r");
    screen.wait_until("a third answer after the reset", |t| count(t, "fixture answer: messages=1") == 2);
    tty.type_keys(CTRL_D);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    stop(server);
}
