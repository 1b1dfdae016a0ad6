//! A web page in Debian's Chromium against the real offline stack (LiteLLM, the MCP and AG-UI
//! templates, the dev console). From a foreign origin, from a sandboxed frame and in the
//! DNS-rebinding shape (a made-up name Chromium resolves to 127.0.0.1), every request is refused or
//! unreadable; from `http://localhost:<port>`, as a frontend dev server, the agent runs through
//! CORS. tests/browser/edges.mjs drives the browser and checks what the page could read; this test
//! reads the servers' logs for what the page could not see: that no agent run, completion or MCP
//! session started for the attacker.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, WAIT, http};
use nix::sys::signal::Signal;
use serde_json::Value;

/// What uvicorn's access log writes for a completion LiteLLM served.
const COMPLETION_SERVED: &str = "\"POST /v1/chat/completions HTTP/1.1\" 200";
/// What the MCP template logs when a 2025-era client's `initialize` opened a session.
const SESSION_OPENED: &str = "session opened ";

fn count(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().matches(needle).count()
}

/// Waits (bounded) until a log file holds `needle`; returns the file's text.
fn wait_for_line(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "no `{needle}` in {}:\n{text}", log.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn no_foreign_page_can_drive_the_stack_and_a_loopback_frontend_can() {
    let chromium = common::browser::chromium();
    let driver = common::browser::driver("edges.mjs");
    let (proxy, mcp, agui, console) =
        (common::free_port(), common::free_port(), common::free_port(), common::free_port());
    let fixture = Fixture::new(&(common::real_stack(proxy, mcp, agui) + &format!("\n[console]\nport = {console}\n")));
    let mut up = fixture.spawn_command(fixture.offline_command(&["up", "--console"]));
    up.stderr.wait_for_within("all 3 services are ready", Duration::from_mins(15));
    let logs = fixture.path().join(".agui-dev/logs");
    let (agui_log, litellm_log, mcp_log) = (logs.join("agui.log"), logs.join("litellm.log"), logs.join("mcp.log"));
    let (completions_before, sessions_before) =
        (count(&litellm_log, COMPLETION_SERVED), count(&mcp_log, SESSION_OPENED));

    let screenshots = common::repo_root().join("target/edges-screenshots");
    let nonce = fixture.marker.clone();
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let output = Command::new("node")
        .arg(&driver)
        .args(["--agui", &url(agui), "--mcp", &format!("{}/mcp", url(mcp)), "--console", &url(console)])
        .args(["--litellm", &url(proxy), "--nonce", &nonce, "--shots"])
        .arg(&screenshots)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{lines}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser steps failed:\n{lines}");
    let steps: Vec<Value> =
        lines.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let step = |name: &str| steps.iter().find(|s| s["step"] == name).unwrap_or_else(|| panic!("no step `{name}`"));

    // The page: every attempt refused or unreadable (the script checks each status), and no
    // attempt read a single AG-UI event.
    let attacks: Vec<&Value> = steps
        .iter()
        .filter(|s| s["step"].as_str().is_some_and(|n| n.starts_with("foreign-") || n.starts_with("rebind-")))
        .collect();
    assert_eq!(attacks.len(), 19, "{attacks:#?}");
    for attack in &attacks {
        assert_eq!(attack["ok"], true, "{attack}");
        assert!(attack["outcome"] == "blocked" || attack["status"].as_u64().is_some_and(|s| s >= 400), "{attack}");
        assert!(attack.get("events").is_none(), "{attack}");
    }
    assert!(step("attacker-page")["origin"].as_str().unwrap().starts_with("http://rebind.agui-dev.test:"));
    // A rebound page reaches LiteLLM (it checks no `Host`); the master key is what refuses it.
    assert_eq!(step("rebind-litellm-completion")["status"], 401);
    let frontend = step("frontend-agent-run");
    assert_eq!(frontend["ok"], true, "{frontend}");
    let types: Vec<&str> = frontend["types"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!((types.first(), types.last()), (Some(&"RUN_STARTED"), Some(&"RUN_FINISHED")), "{frontend}");
    assert!(frontend["text"].as_str().unwrap().contains("[offline model]"), "{frontend}");
    assert_eq!(step("frontend-mcp-tool-call")["ok"], true);

    // The servers saw the attacker's name, and refused it (not only the browser).
    for log in [&agui_log, &mcp_log] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.contains("rebind.agui-dev.test"), "{} names no refused origin or Host:\n{text}", log.display());
    }

    // The AG-UI server: the frontend's run and no other (it logs each run when it ends, and the
    // frontend's came last).
    let frontend_run = format!("run frontend-{nonce} ");
    let text = wait_for_line(&agui_log, &frontend_run);
    let runs: Vec<&str> = text.lines().filter(|l| l.contains("agui-server run ")).collect();
    assert_eq!(runs.len(), 1, "runs other than the frontend's:\n{}", runs.join("\n"));
    assert!(runs[0].contains(&frontend_run) && runs[0].contains("outcome=finished"), "{}", runs[0]);
    assert!(!text.contains("attacker-"), "{text}");
    let rounds: usize =
        runs[0].split_whitespace().find_map(|w| w.strip_prefix("rounds=")).and_then(|n| n.parse().ok()).unwrap();

    // LiteLLM: the frontend run's completions and no other. A request of this test's own, after
    // the page is done, marks the end of what the page caused in the access log.
    let barrier = format!("/health/readiness?edges-done={nonce}");
    assert_eq!(http(proxy, "GET", &barrier, &[], "").0, 200);
    wait_for_line(&litellm_log, &barrier);
    assert_eq!(count(&litellm_log, COMPLETION_SERVED) - completions_before, rounds);

    // The MCP server: no session for the page; the only new one is this test's own.
    let accept = ("Accept", "application/json, text/event-stream");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"edges-test","version":"0"}}}"#;
    let (status, headers, body) = http(mcp, "POST", "/mcp", &[accept, ("Content-Type", "application/json")], init);
    assert_eq!(status, 200, "{body}");
    let session = headers.iter().find(|(k, _)| k == "mcp-session-id").map(|(_, v)| v.clone()).unwrap();
    wait_for_line(&mcp_log, &format!("{SESSION_OPENED}{session}"));
    assert_eq!(count(&mcp_log, SESSION_OPENED) - sessions_before, 1, "{}", std::fs::read_to_string(&mcp_log).unwrap());

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}
